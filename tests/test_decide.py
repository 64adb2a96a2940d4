"""The decide step, pure: realistic messages in, decisions out. No servers, no database."""
from __future__ import annotations

import datetime as dt

import pytest

from helpers import REG, mail
from inbox import decision as d
from inbox.decide import decide
from inbox.message import parse_message

TODAY = dt.date(2018, 8, 1)
MEETINGS = [
    d.MeetingInfo(dt.date(2018, 6, 12), "uid-jun"),
    d.MeetingInfo(dt.date(2018, 9, 18), "uid-sep"),
    d.MeetingInfo(dt.date(2019, 3, 18), "uid-mrt"),
]


def ctx(today: dt.date = TODAY) -> d.Context:
    return d.Context("Pioniersnetwerk", frozenset({REG}), "pioniers.test", MEETINGS, today)


def decide_raw(raw: bytes, today: dt.date = TODAY) -> d.Decision:
    return decide(parse_message(raw), ctx(today))


@pytest.mark.parametrize("subject", [
    "Pioniersnetwerk 18 september 2018",
    "Aanmelding Pioniersnetwerk 18 september 2018",
    "pioniersnetwerk 18 SEPTEMBER 2018",
    "Pioniersnetwerk 18 sept. 2018",
    "Pioniersnetwerk 18 sept 2018",
    "Pioniersnetwerk 18 sep",
    "Pioniersnetwerk 18-9-2018",
    "Pioniersnetwerk 18-09-2018",
    "Pioniersnetwerk 18/09/2018",
    "Pioniersnetwerk 2018-09-18",
    "Pioniersnetwerk dinsdag 18 september",
    "Pioniersnetwerk 18 september",
    "RE: Pioniersnetwerk 18 september 2018",
    "Antw: Pioniersnetwerk 18 september 2018",
    "FW: Pioniersnetwerk 18 september 2018",
    "Doorst: Pioniersnetwerk 18 september 2018",
    "Aanmelding o.v.v. Pioniersnetwerk 18 september 2018",
    "=?utf-8?q?Aanmelding_Pioniersnetwerk_18_september_2018_=E2=9C=93?=",
    "=?iso-8859-1?q?Pioniersnetwerk_18_september_2018_-_caf=E9?=",
])
def test_subject_formats_register_for_the_meeting(subject):
    decision = decide_raw(mail(subject=subject))
    assert (decision.action, decision.meeting_date) == (d.REGISTER, dt.date(2018, 9, 18)), decision.reason


def test_dutch_abbreviated_month_with_year():
    decision = decide_raw(mail(subject="Pioniersnetwerk 18 mrt 2019"))
    assert (decision.action, decision.meeting_date) == (d.REGISTER, dt.date(2019, 3, 18))


def test_date_in_body_when_subject_is_empty_of_it():
    raw = mail(subject="Aanmelding", body="Hallo,\n\nIk wil me aanmelden voor Pioniersnetwerk 18 september 2018.\n")
    assert decide_raw(raw).meeting_date == dt.date(2018, 9, 18)


def test_html_only_outlook_mail():
    html = ("<html><head><style>p{margin:0}</style></head><body><div class=WordSection1>"
            "<p class=MsoNormal>Graag aanmelden voor het Pioniersnetwerk&nbsp;18&nbsp;september&nbsp;2018.</p>"
            "<p class=MsoNormal>Gemeente Schiedam</p></div></body></html>")
    raw = mail(subject="Aanmelding", body=None, html=html)
    decision = decide_raw(raw)
    assert (decision.action, decision.meeting_date) == (d.REGISTER, dt.date(2018, 9, 18))


def test_quoted_text_never_decides():
    body = ("Bedankt!\n\nVan: Pioniersnetwerk <aanmelden@pioniers.test>\nVerzonden: maandag 3 september 2018 10:12\n"
            "Aan: Jan\nOnderwerp: Pioniersnetwerk 18 september 2018\n\nMeld je aan voor Pioniersnetwerk 18 september 2018\n")
    decision = decide_raw(mail(subject="Vraag", body=body))
    assert decision.action == d.PERSON  # a person reads it and the sender is told so (was ATTENTION, unanswered)


def test_gmail_quote_never_decides():
    body = ("Top, dank je.\n\nOp ma 3 sep. 2018 om 10:12 schreef Pioniersnetwerk <aanmelden@pioniers.test>:\n"
            "> Pioniersnetwerk 18 september 2018\n")
    assert decide_raw(mail(subject="dank", body=body)).action == d.PERSON


def test_unknown_and_past_dates():
    assert decide_raw(mail(subject="Pioniersnetwerk 19 september 2018")).action == d.UNKNOWN_DATE
    past = decide_raw(mail(subject="Pioniersnetwerk 12 juni 2018"))
    assert (past.action, past.meeting_date) == (d.PAST_MEETING, dt.date(2018, 6, 12))


def test_no_year_picks_the_next_meeting_on_that_day():
    decision = decide_raw(mail(subject="Pioniersnetwerk 18 maart"))
    assert decision.meeting_date == dt.date(2019, 3, 18)


def test_cancellation_phrasings():
    for subject, body in [
        ("Afmelden Pioniersnetwerk 18 september 2018", "Groet"),
        ("Afmelding Pioniersnetwerk 18 september 2018", ""),
        ("RE: Aanmelding bevestigd: Pioniersnetwerk 18 september 2018", "Ik moet helaas afzeggen.\n"),
        ("RE: Aanmelding bevestigd: Pioniersnetwerk 18 september 2018", "Ik kan toch niet komen, sorry.\n"),
        ("RE: Aanmelding bevestigd: Pioniersnetwerk 18 september 2018", "Ik ben helaas verhinderd.\n"),
        ("RE: Registration confirmed: Pioniersnetwerk 18 september 2018", "cancel\n"),
        ("Pioniersnetwerk 18 september 2018", "Ik zal er helaas niet bij zijn.\n"),
        ("Pioniersnetwerk 18 september 2018", "Graag wil ik mijn aanmelding intrekken.\n"),
        ("Pioniersnetwerk 18 september 2018", "Hierbij annuleer ik mijn aanmelding.\n"),
        ("Pioniersnetwerk 18 september 2018", "Helaas kan ik niet aanwezig zijn.\n"),
    ]:
        decision = decide_raw(mail(subject=subject, body=body))
        assert decision.action == d.CANCEL, (subject, body, decision)


def test_niet_alone_is_no_cancellation():
    for body in ["Ik weet niet of er parkeerplaats is, maar ik kom graag.\n",
                 "Ik ben niet zeker of ik op tijd kan komen, maar meld me aan.\n",
                 "Mijn collega kan niet, ik kom wel.\n",
                 "Niet vergeten: ik neem een collega mee.\n"]:
        decision = decide_raw(mail(subject="Pioniersnetwerk 18 september 2018", body=body))
        assert decision.action == d.REGISTER, body


def test_cancel_without_date_goes_to_a_person_when_several_meetings_are_open():
    decision = decide_raw(mail(subject="RE: bevestiging", body="Ik kan toch niet komen.\n"))
    assert decision.action == d.PERSON


def test_machine_mail_is_never_answered():
    raw = mail(subject="Automatisch antwoord: Pioniersnetwerk 18 september 2018",
               headers={"Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All"})
    decision = decide_raw(raw)
    assert decision.action == d.IGNORE and not decision.may_reply


def test_x_auto_response_suppress_alone_registers_without_reply():
    decision = decide_raw(mail(headers={"X-Auto-Response-Suppress": "All"}, subject="Pioniersnetwerk 18 sep 2018"))
    assert decision.action == d.REGISTER and not decision.may_reply


def test_calendar_reply_is_recognised():
    ics = ("BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\nUID:uid-sep\r\nSEQUENCE:0\r\n"
           "ATTENDEE;PARTSTAT=ACCEPTED;CN=Jan:mailto:jan.jansen@schiedam.nl\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"] = "Jan <jan.jansen@schiedam.nl>"
    msg["To"] = REG
    msg["Subject"] = "Geaccepteerd: Pioniersnetwerk Open Overheid"
    msg.set_content("Jan heeft geaccepteerd.")
    msg.add_alternative(ics, subtype="calendar", params={"method": "REPLY"})
    decision = decide_raw(msg.as_bytes())
    assert (decision.action, decision.partstat, decision.may_reply) == (d.CALENDAR_REPLY, "ACCEPTED", False)


def test_no_sender_goes_to_attention():
    assert decide_raw(b"Subject: Pioniersnetwerk 18 september 2018\r\n\r\nhoi\r\n").action == d.ATTENTION


def test_sign_up_for_the_exact_date_without_the_network_name():
    decision = decide_raw(mail(subject="Aanmelding bijeenkomst 18 september 2018"))
    assert (decision.action, decision.meeting_date) == (d.REGISTER, dt.date(2018, 9, 18))
    cancel = decide_raw(mail(subject="Afmelden 18-9-2018"))
    assert (cancel.action, cancel.meeting_date) == (d.CANCEL, dt.date(2018, 9, 18))
    # A date that is no meeting, or no sign-up word: a person looks at it, and the sender is told so.
    assert decide_raw(mail(subject="Aanmelding 19 september 2018")).action == d.PERSON
    assert decide_raw(mail(subject="Vergadering 18 september 2018", body="Agenda volgt.\n")).action == d.PERSON
