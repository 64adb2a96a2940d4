"""Theme polls and who is who, decided: realistic replies in, decisions out. Pure; no servers, no database."""
from __future__ import annotations

import datetime as dt

import pytest

from helpers import ORGANISER, REG, mail
from inbox import decision as d
from inbox import network_rules as nr
from inbox.decide import decide as decide_incoming
from inbox.message import parse_message

TODAY = dt.date(2027, 8, 1)
MEETINGS = [d.MeetingInfo(dt.date(2027, 6, 17), "uid-jun"), d.MeetingInfo(dt.date(2027, 9, 16), "uid-sep"),
            d.MeetingInfo(dt.date(2027, 12, 9), "uid-dec")]
POLL = "nieuws+poll-7@pioniers.test"
SUBJECT = "Thema's Pioniersnetwerk 16 september 2027"


def ctx() -> d.Context:
    return d.Context("Pioniersnetwerk", frozenset({REG, "nieuws@pioniers.test", "bounces@pioniers.test"}),
                     "pioniers.test", MEETINGS, TODAY, post_address="nieuws@pioniers.test",
                     bounce_address="bounces@pioniers.test", organisers=frozenset({ORGANISER}))


def decide(raw: bytes) -> d.Decision:
    return decide_incoming(parse_message(raw), ctx())


def outlook_reply(body: str, subject: str = "RE: " + SUBJECT, to: str = POLL, sender: str = "Anna <anna@utrecht.nl>"):
    quoted = ("\n\nVan: Pioniersnetwerk Open Overheid <aanmelden@pioniers.test>\nVerzonden: maandag 2 augustus 2027"
              " 10:00\nAan: anna@utrecht.nl\nOnderwerp: " + SUBJECT + "\n\nWelk thema kiezen we samen?\n"
              "1. Open data in de wijk\n2. Algoritmes in de uitvoering\nStemmen? Beantwoord deze mail met het nummer"
              ' van je keuze, bijvoorbeeld "2" of "thema 2". Antwoord "ja, deel mijn gegevens".\n')
    return mail(subject=subject, body=body + quoted, to=to, sender=sender,
                headers={"In-Reply-To": "<poll.7@pioniers.test>"})


@pytest.mark.parametrize("body,number", [
    ("2", 2), ("2.", 2), ("thema 2", 2), ("Thema 2!", 2), ("Optie 3", 3), ("ik stem op 2", 2), ("Ik kies 1", 1),
    ("Hoi,\n\nthema 2 graag\n\nGroet, Anna", 2), ("**2**", 2), ("Hallo!\nIk stem voor thema 3, leuk idee.", 3),
    ("vote for 1", 1), ("#2", 2),
    # in people's own words: the last choice counts, Dutch number words
    ("Wat mij betreft nummer 2", 2), ("2\nToch liever 3", 3), ("Twee", 2), ("Mijn stem: 3", 3), ("drie!", 3),
    ("Liever 1", 1),
])
def test_vote_forms_are_read_from_own_text_only(body, number):
    msg = parse_message(outlook_reply(body))
    assert nr.parse_ballot(msg.own_text).number == number
    assert decide(outlook_reply(body)).action == nr.POLL_REPLY


def test_quoted_poll_text_is_never_a_vote_or_consent():
    msg = parse_message(outlook_reply("Ik kom graag naar de bijeenkomst."))
    assert nr.parse_ballot(msg.own_text).number is None
    assert nr.parse_profile(msg.own_text).empty
    # Quoted without any marker (a client that just pastes): our instruction lines still do not count.
    pasted = 'Leuk!\nStemmen? Beantwoord deze mail met het nummer van je keuze, bijvoorbeeld "2" of "thema 2".'
    assert nr.parse_ballot(pasted).number is None
    assert nr.parse_profile('Doe je mee? Antwoord "ja, deel mijn gegevens".').consent is None


def test_proposals_and_option_words():
    ballot = nr.parse_ballot("Voorstel: Samenwerken met de provincie\n\nGroet,\nAnna\nanna@utrecht.nl")
    assert ballot.proposal == "Samenwerken met de provincie" and ballot.number is None and ballot.explicit
    ballot = nr.parse_ballot("2\nvoorstel:\nDigitale inclusie anna@utrecht.nl")
    assert ballot.number == 2 and ballot.proposal == "Digitale inclusie"  # no address ever shown to others
    options = [(1, "Open data in de wijk"), (2, "Algoritmes in de uitvoering"), (3, "Open data en privacy")]
    assert nr.match_option(nr.parse_ballot("Algoritmes in de uitvoering").phrases, options) == 2
    assert nr.match_option(nr.parse_ballot("Beste organisatie,\nde wijk!").phrases, options) == 1
    assert nr.match_option(nr.parse_ballot("algoritmes").phrases, options) == 2
    assert nr.match_option(nr.parse_ballot("open data").phrases, options) is None  # two options: unclear
    assert nr.match_option(nr.parse_ballot("Ik kom graag").phrases, options) is None


@pytest.mark.parametrize("subject,body,to,action", [
    # a vote by reply: to the poll's +tag, whatever the subject became
    ("RE: " + SUBJECT, "2", POLL, nr.POLL_REPLY),
    ("Antw: " + SUBJECT, "thema 2", POLL, nr.POLL_REPLY),
    ("Mijn keuze", "Algoritmes in de uitvoering", POLL, nr.POLL_REPLY),
    # sent to the registration address instead: only an explicit vote counts as one
    ("RE: " + SUBJECT, "2", REG, nr.POLL_REPLY),
    ("AW: " + SUBJECT, "voorstel: digitale inclusie", REG, nr.POLL_REPLY),
    ("RE: " + SUBJECT, "Ik meld me aan!", REG, d.REGISTER),
    # plain registrations still register
    ("Pioniersnetwerk 16 september 2027", "2", REG, d.REGISTER),
    ("Pioniersnetwerk 16 september 2027", "Graag meld ik me aan met 2 collega's.", REG, d.REGISTER),
    ("Aanmelding Pioniersnetwerk 16 september 2027", "thema 2 lijkt me leuk", REG, d.REGISTER),
    # leaving the list by replying to the poll
    ("RE: " + SUBJECT, "uitschrijven", POLL, "list_unsubscribe"),
])
def test_votes_are_told_apart_from_registrations(subject, body, to, action):
    assert decide(mail(subject=subject, body=body + "\n", to=to)).action == action


def test_organiser_poll_post_results_and_approval_replies():
    text = ("Beste leden,\n\nKies mee:\n1. Open data in de wijk\n2. Algoritmes in de uitvoering\n"
            "3. Samenwerken met de provincie\n\nStemmen kan tot en met 1 september 2027.\n")
    post = mail(subject=SUBJECT, body=text, to="nieuws@pioniers.test", sender=f"Organisatie <{ORGANISER}>")
    decision = decide(post)
    assert decision.action == nr.POLL_POST and decision.meeting_date == dt.date(2027, 9, 16)
    msg = parse_message(post)
    assert nr.poll_options(msg.own_text) == ["Open data in de wijk", "Algoritmes in de uitvoering",
                                             "Samenwerken met de provincie"]
    assert nr.closing_date(msg.own_text, TODAY) == dt.date(2027, 9, 1)
    # Without a numbered list it is an ordinary post; from someone else a refusal.
    plain = mail(subject=SUBJECT, body="Denk mee!\n", to="nieuws@pioniers.test", sender=f"O <{ORGANISER}>")
    assert decide(plain).action == "list_post"
    other = mail(subject=SUBJECT, body=text, to="nieuws@pioniers.test", sender="Jan <jan@schiedam.nl>")
    assert decide(other).action == "list_refuse"
    # Results on request, by an organiser only.
    ask = mail(subject="Uitslag " + SUBJECT, body="Hoe staat het?\n", to="nieuws@pioniers.test",
               sender=f"Organisatie <{ORGANISER}>")
    assert decide(ask).action == nr.POLL_RESULTS
    assert decide(mail(subject="RE: " + SUBJECT, body="uitslag\n", to=POLL, sender=ORGANISER)).action == \
        nr.POLL_RESULTS
    assert decide(mail(subject="RE: " + SUBJECT, body="2\n", to=POLL, sender=ORGANISER)).action == nr.POLL_REPLY
    # The approval reply for a poll's preview stays the list's business.
    approve = mail(subject=f"RE: [#{'a' * 26}] Ter goedkeuring: {SUBJECT}", body="ja\n",
                   to=f"nieuws+approve-{'a' * 26}@pioniers.test", sender=ORGANISER)
    assert decide(approve).action == "list_token_yes"


@pytest.mark.parametrize("body,role,topic,consent", [
    ("rol: pionier", "pioneer", "", None),
    ("Ik ben lerende.", "learner", "", None),
    ("meedenker", "meedenker", "", None),
    ("Onderwerp: open data in de wijk", "", "open data in de wijk", None),
    ("ja, deel mijn gegevens", "", "", True),
    ("Ja deel mijn gegevens!", "", "", True),
    ("nee, deel mijn gegevens niet", "", "", False),
    ("Rol: Pionier\nonderwerp: algoritmeregister, anna@utrecht.nl\nJa, deel mijn gegevens", "pioneer",
     "algoritmeregister", True),
    ("I am a learner\ntopic: data\nyes, share my details", "learner", "data", True),
    ("Ik kom graag naar het Pioniersnetwerk.", "", "", None),
])
def test_profile_statements(body, role, topic, consent):
    profile = nr.parse_profile(body)
    assert (profile.role, profile.topic, profile.consent) == (role, topic, consent)


def test_profile_replies_and_registrations_that_say_who_someone_is():
    confirmation = "RE: Aanmelding bevestigd: Pioniersnetwerk 16 september 2027"
    decision = decide(mail(subject=confirmation, body="rol: pionier\nja, deel mijn gegevens\n"))
    assert decision.action == nr.PROFILE and isinstance(decision.detail, d.AlsoRegister)  # the handler sees they are registered
    # A registration that says it too registers (and records it).
    decision = decide(mail(subject="Pioniersnetwerk 16 september 2027", body="Ik ben lerende.\n"))
    assert decision.action == nr.PROFILE and decision.meeting_date == dt.date(2027, 9, 16)
    # Without a date: only the profile.
    assert decide(mail(subject="Over mij", body="meedenker\n")).action == nr.PROFILE
    # A cancellation stays a cancellation.
    assert decide(mail(subject=confirmation, body="Ik kan toch niet komen, ik ben pionier\n")).action == d.CANCEL
    assert decide(mail(subject=confirmation, body="Tot dan!\n")).action == d.REGISTER


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_every_network_template_renders_in_both_languages(lang):
    from types import SimpleNamespace

    from mailer.compose import render
    from base.config import NetworkConfig

    net = NetworkConfig("Pioniersnetwerk", "Pioniersnetwerk Open Overheid", REG, (ORGANISER,), language=lang)
    meeting = {"date": dt.date(2027, 9, 16), "when": "16 september 2027, 14.00-17.00 uur", "when_date": "16 sep 2027",
               "location": "Stadhuis", "host": "Gemeente Zwolle", "host_in_text": "de gemeente Zwolle", "theme": "",
               "capacity": None,
               "ref": "Pioniersnetwerk 16 september 2027"}
    options = [SimpleNamespace(position=1, text="Open data"), SimpleNamespace(position=2, text="Algoritmes")]
    common = {"network": net, "name": "Anna", "meeting": meeting, "post_address": "nieuws@pioniers.test"}
    poll = {"options": options, "closes": "1 september 2027", "subject": SUBJECT}
    cases = [
        ("poll_announcement", {**poll, "registration_address": REG, "name": ""}),
        ("poll_reply", {**poll, "problem": "", "option": options[1], "previous": options[0], "proposal": "Inkoop"}),
        ("poll_reply", {**poll, "problem": "unclear", "number": 7}),
        ("poll_reply", {**poll, "problem": "closed", "winner": "Algoritmes"}),
        ("poll_reply", {**poll, "problem": "not_member"}),
        ("poll_reply", {"problem": "no_poll", "meeting": None, "subject": SUBJECT}),
        ("poll_proposal", {**poll, "proposal": "Inkoop", "proposer": "Dirk", "proposer_email": "dirk@zwolle.nl"}),
        ("poll_results", {"rows": [SimpleNamespace(position=1, text="Open data", votes=1)], "voters": 1,
                          "winner": "Open data", "closed": True, "closes": "", "proposals": [{"text": "X", "who": "D"}]}),
        ("poll_refused", {"problem": "two options are the same", "subject": SUBJECT}),
        ("profile_ack", {"role": "pionier", "topic": "open data", "consent": True}),
        ("participant_list", {"days": 3, "participants": [{"name": "Bert", "organisation": "Gemeente Schiedam",
                                                           "role": "lerende", "topic": "data"}]}),
        ("confirmation", {"list_subscribed": True}),
    ]
    for template, context in cases:
        rendered = render(lang, template, **{**common, **context})
        assert rendered.subject and rendered.text.strip() and "</html>" in rendered.html, template


@pytest.mark.parametrize("body,role,topic,consent", [
    ("lerende - ja, deel mijn gegevens", "learner", "", True),
    ("Ik ben pionier, onderwerp: open data.", "pioneer", "open data", None),
    ("meedenker; nee, deel mijn gegevens niet", "meedenker", "", False),
])
def test_profile_in_one_line(body, role, topic, consent):
    profile = nr.parse_profile(body)
    assert (profile.role, profile.topic, profile.consent) == (role, topic, consent)
