"""Decisions on dates, names and colleagues as people write them (pure: no servers, no database)."""
from __future__ import annotations

import datetime as dt

import pytest

from helpers import REG, mail
from inbox import decision as d
from inbox.colleagues import colleagues_named
from inbox.decide import decide
from inbox.message import parse_message

TODAY = dt.date(2027, 2, 1)
THU_18_MAR, THU_17_JUN, THU_16_SEP = dt.date(2027, 3, 18), dt.date(2027, 6, 17), dt.date(2027, 9, 16)
MEETINGS = [
    d.MeetingInfo(dt.date(2026, 12, 10), "uid-dec"),
    d.MeetingInfo(THU_18_MAR, "uid-mrt"),
    d.MeetingInfo(THU_17_JUN, "uid-jun"),
    d.MeetingInfo(THU_16_SEP, "uid-sep"),
    d.MeetingInfo(dt.date(2027, 11, 4), "uid-nov1"),
    d.MeetingInfo(dt.date(2027, 11, 25), "uid-nov2"),
]


def decide_mail(today: dt.date = TODAY, **kw: str) -> d.Decision:
    ctx = d.Context("Pioniersnetwerk", frozenset({REG}), "pioniers.test", MEETINGS, today)
    return decide(parse_message(mail(**kw)), ctx)


@pytest.mark.parametrize(("subject", "body", "day"), [
    ("Pioniersnetwerk 18/3", "Graag aanmelden.", THU_18_MAR),
    ("Pioniersnetwerk do 17/6", "Ik kom graag.", THU_17_JUN),
    ("Pioniersnetwerk 16-9", "Tot dan.", THU_16_SEP),
    ("Pioniersnetwerk 18.3", "", THU_18_MAR),
    ("Pioniersnetwerk donderdag 18 maart", "", THU_18_MAR),
    ("do 17/6", "Ik kom graag.", THU_17_JUN),  # a subject that is only the date
    ("16-9", "Hierbij mijn aanmelding.", THU_16_SEP),
    ("Bijeenkomst 18.3", "", THU_18_MAR),
    ("Aanmelding 18/3", "", THU_18_MAR),
    ("Aanmelding", "Ik meld me aan voor het Pioniersnetwerk op 17/6.", THU_17_JUN),
    # the name misspelt
    ("Pioniers netwerk 18 maart 2027", "", THU_18_MAR),
    ("Pionersnetwerk 17 juni 2027", "", THU_17_JUN),
    ("PIONIERSNETWERK 17 juni", "", THU_17_JUN),
    ("aanmelding pioniers-netwerk 16 september", "", THU_16_SEP),
    # a month alone that holds one meeting
    ("Aanmelding Pioniersnetwerk maart 2027", "", THU_18_MAR),
    ("Pioniersnetwerk juni", "Graag meld ik me aan.", THU_17_JUN),
    # the weekday written wrongly: the date wins (the confirmation names the meeting's weekday)
    ("Pioniersnetwerk vrijdag 17 juni", "", THU_17_JUN),
    ("Pioniersnetwerk vr 17/6", "", THU_17_JUN),
])
def test_registers_for_the_one_meeting_named(subject: str, body: str, day: dt.date) -> None:
    decision = decide_mail(subject=subject, body=body or "Groet, Jan")
    assert (decision.action, decision.meeting_date) == (d.REGISTER, day), decision.reason


def test_wrong_weekday_is_said_in_the_reason() -> None:
    decision = decide_mail(subject="Pioniersnetwerk vrijdag 17 juni")
    assert "weekday" in decision.reason and "Thursday" in decision.reason


@pytest.mark.parametrize(("subject", "body"), [
    ("Pioniersnetwerk 19/3", "Graag aanmelden."),  # a short form that is no meeting's day: not read as a date
    ("Telefoonnummer", "Mijn nummer is 06-12 34 56 78, Pioniersnetwerk."),
    ("Verslag", "3/4 van de deelnemers van het Pioniersnetwerk was tevreden."),
    ("Vraag over 18/3", "Is er parkeergelegenheid?"),  # more than a date in the subject, no network name
    ("Pioniersnetwerk om 17.06 uur", ""),  # a time
    ("Pioniersnetwerk maart 2027", "Wat is het adres?"),  # a month alone without signing up
])
def test_no_registration(subject: str, body: str) -> None:
    decision = decide_mail(subject=subject, body=body)
    assert decision.action != d.REGISTER, decision.reason


def test_a_month_with_two_meetings_goes_to_a_person() -> None:
    decision = decide_mail(subject="Aanmelding Pioniersnetwerk november 2027")
    assert decision.action == d.PERSON and "holds 2 meetings" in decision.reason, decision.reason


def test_a_wrong_year_is_asked_back_with_the_likely_meeting() -> None:
    decision = decide_mail(subject="Pioniersnetwerk 17 juni 2026")
    assert (decision.action, decision.meeting_date) == (d.ASK_BACK, THU_17_JUN)
    assert decision.reason.startswith("ask back:") and "2026-06-17" in decision.reason
    # a year that names a real past meeting is that meeting, as before
    assert decide_mail(subject="Pioniersnetwerk 10 december 2026").action == d.PAST_MEETING
    # and a date that is no meeting in any year is told so, as before
    assert decide_mail(subject="Pioniersnetwerk 19 maart 2027").action == d.UNKNOWN_DATE


@pytest.mark.parametrize("subject", [
    "Aanmelding Pioniersnetwerk 17 juni en 16 september 2027",
    "Pioniersnetwerk 17/6 en 16/9",
    "Aanmelding 17 juni en 16 september 2027",
    "17/6 en 16/9",
    "Pioniersnetwerk 16 september en 17 juni",  # in date order, whatever the order written
])
def test_several_meetings_in_one_mail(subject: str) -> None:
    decision = decide_mail(subject=subject, body="Ik kom naar allebei.")
    assert (decision.action, decision.meeting_date) == (d.REGISTER, THU_17_JUN), decision.reason
    assert decision.detail == d.AlsoMeetings(dates=(THU_16_SEP,))


def test_several_months_each_with_one_meeting() -> None:
    decision = decide_mail(subject="Aanmelding Pioniersnetwerk maart en juni")
    assert (decision.action, decision.meeting_date) == (d.REGISTER, THU_18_MAR)
    assert decision.detail == d.AlsoMeetings(dates=(THU_17_JUN,))


def test_dates_in_the_quote_never_count() -> None:
    body = ("Ik kom graag.\n\nVan: Pioniersnetwerk <aanmelden@pioniers.test>\nVerzonden: maandag 1 februari 2027\n"
            "Onderwerp: Pioniersnetwerk 16 september 2027\n\n> Pioniersnetwerk 16 september 2027\n")
    decision = decide_mail(subject="Pioniersnetwerk 17 juni 2027", body=body)
    assert decision.meeting_date == THU_17_JUN and decision.detail is None, decision.reason


def test_colleagues_are_carried_to_be_invited() -> None:
    decision = decide_mail(subject="Pioniersnetwerk 17 juni 2027", sender="Anouk de Vries <a.devries@utrecht.nl>",
                           body="Ik meld mezelf en mijn collega Piet Jansen (p.jansen@gemeente.nl) aan.\n")
    assert decision.action == d.REGISTER
    assert decision.detail == d.AlsoMeetings(colleagues=(d.Colleague("p.jansen@gemeente.nl", "Piet Jansen"),))


@pytest.mark.parametrize(("text", "expected"), [
    ("Ik meld mezelf en mijn collega Piet Jansen (p.jansen@gemeente.nl) aan.",
     [("p.jansen@gemeente.nl", "Piet Jansen")]),
    ("Ik meld ook mijn collega Els de Boer (e.deboer@utrecht.nl) aan.", [("e.deboer@utrecht.nl", "Els de Boer")]),
    ("Ik meld mezelf en mijn collega P. de Vries (p.devries@gemeente.nl) aan.",
     [("p.devries@gemeente.nl", "P. de Vries")]),
    ("Ik meld mijn collega's Els (els@utrecht.nl) en Piet Jansen <piet@utrecht.nl> ook aan.",
     [("els@utrecht.nl", "Els"), ("piet@utrecht.nl", "Piet Jansen")]),
    ("Mijn collega p.jansen@gemeente.nl komt ook.", [("p.jansen@gemeente.nl", "")]),
    # at most three
    ("Mijn collega's Piet (piet@x.nl), Jan (jan@x.nl), Els (els@x.nl) en Kees (kees@x.nl) komen ook.",
     [("piet@x.nl", "Piet"), ("jan@x.nl", "Jan"), ("els@x.nl", "Els")]),
    # no colleague signed up
    ("Bel mijn collega als je vragen hebt: p.jansen@gemeente.nl", []),
    ("Ik kom. Mail me: anouk@utrecht.nl", []),
    ("Ik meld mezelf en collega anouk@utrecht.nl aan", []),  # the sender
    ("Ik meld mijn collega aan via aanmelden@pioniers.test", []),  # our own address
    ("Groet,\n\nAnouk\nCollega van p.jansen@gemeente.nl", []),
])
def test_colleagues_named(text: str, expected: list[tuple[str, str]]) -> None:
    found = colleagues_named(text, "anouk@utrecht.nl", frozenset({REG}))
    assert [(c.email, c.name) for c in found] == expected


def test_colleague_search_is_bounded() -> None:
    import time

    hostile = ("collega meld " + "a@b.nl " * 3000 + "collega's " * 3000) * 3
    started = time.perf_counter()
    colleagues_named(hostile, "x@y.nl")
    assert time.perf_counter() - started < 1


def test_hostile_text_is_decided_quickly() -> None:
    import time

    body = ("Pionersnetwerk 17/6 collega's Piet (p@x.nl) meld aan 3/4 van 06-12 34 56 78 om 10.12 uur maart "
            * 200)
    started = time.perf_counter()
    for subject in ("Aanmelding " + "Pioniers netwerk maart " * 300, "17/6 " * 12, "Pioniersnetwerk 17/6"):
        decide_mail(subject=subject, body=body)
    assert time.perf_counter() - started < 2
