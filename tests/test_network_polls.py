"""Choosing the theme together, end to end: real Dovecot in, real SMTP sink out, on SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from sqlalchemy import select

from db import registry
from db.models import InboundMessage, Meeting, Poll, Proposal, Registration, Vote
from helpers import ORGANISER, mail
from list_helpers import add_members, list_copies, post, received, reply_to, text_part
from network import polls
from network.meetings import UserError
from pioniers import cli, cli_network
from test_wording import problems_nl

SUBJECT = "Thema's Pioniersnetwerk 16 september 2027"
POLL_TEXT = ("Beste leden,\n\nWaar gaat de bijeenkomst in Zwolle over? Kies mee:\n\n"
             "1. Open data in de wijk\n2. Algoritmes in de uitvoering\n3. Samenwerken met de provincie\n\n"
             "Stemmen kan tot en met 1 maart 2027.\n\nGroet,\nDe organisatie\n")
MEMBERS = [("anna@utrecht.nl", "Anna de Vries"), ("bert@schiedam.nl", "Bert"), ("carla@rijk.example", "Carla"),
           ("dirk@zwolle.nl", "Dirk"), ("eva@delft.nl", "Eva")]


def _to(world, address: str, since: int = 0):
    return [m for r, m, _ in received(world, since) if r == address]


def _open_poll_by_mail(world):
    world.meeting("2027-09-16", host="Gemeente Zwolle", location="Stadhuis Zwolle", theme="Open data")
    add_members(world, *MEMBERS)
    world.deliver(post(subject=SUBJECT, text=POLL_TEXT, html=None, pdf=None))
    world.poll()
    (preview,) = [m for m in _to(world, ORGANISER) if "[#" in str(m["Subject"])]
    # the theme set by hand: the organiser reads, before saying yes, that the poll's winner replaces it
    assert ('Let op: de bijeenkomst van donderdag 16 september 2027 heeft al een thema, "Open data"; de winnaar '
            "van deze stemming komt daarvoor in de plaats.") in " ".join(text_part(preview).split())
    world.deliver(reply_to(preview, f"Organisatie <{ORGANISER}>", body="ja\n"))
    world.poll()
    copies = {r: m for r, m, _ in list_copies(world)}
    assert set(copies) == {a for a, _ in MEMBERS}
    return copies


def test_poll_by_mail_votes_by_reply_proposal_result_and_updated_invite(world):
    # Two people registered before the poll: they get the updated invite when the theme is chosen.
    world.meeting("2027-06-17")
    world.deliver(mail(subject="Pioniersnetwerk 16 september 2027", sender="Bert <bert@schiedam.nl>"))
    copies = _open_poll_by_mail(world)
    world.deliver(mail(subject="Pioniersnetwerk 16 september 2027", sender="Eva <eva@delft.nl>"))
    world.poll()
    anna = copies["anna@utrecht.nl"]
    with world.app.sm.begin() as s:
        poll = s.scalar(select(Poll))
        assert poll.status == "open" and poll.closes_on == dt.date(2027, 3, 1)
    assert str(anna["Reply-To"]) == f"nieuws+poll-{poll.id}@pioniers.test"
    assert SUBJECT in str(anna["Subject"])
    text = text_part(anna)
    assert "2. Algoritmes in de uitvoering" in text and 'bijvoorbeeld "2" of "thema 2"' in text
    assert "maandag 1 maart 2027" in text

    start = len(world.sink.messages)
    first_anna = reply_to(anna, "Anna de Vries <anna@utrecht.nl>", body="2\n")
    world.deliver(first_anna)
    world.deliver(first_anna)  # delivered twice: one vote, one acknowledgement
    world.deliver(reply_to(copies["bert@schiedam.nl"], "Bert <bert@schiedam.nl>", body="Hoi,\n\nthema 2\n"))
    world.deliver(reply_to(copies["carla@rijk.example"], "Carla <carla@rijk.example>",
                           body="Samenwerken met de provincie\n"))
    world.deliver(reply_to(copies["dirk@zwolle.nl"], "Dirk <dirk@zwolle.nl>",
                           body="voorstel: Digitale inclusie in de wijk\n\nMet vriendelijke groet,\nDirk\n"))
    # Eva answers the registration address (her client dropped Reply-To), Outlook style: counted by the subject.
    world.deliver(mail(subject="Antw: " + str(copies["eva@delft.nl"]["Subject"]), sender="Eva <eva@delft.nl>",
                       body="1\n\nVan: Pioniersnetwerk Open Overheid\nVerzonden: maandag 1 februari 2027\n"
                            "Onderwerp: " + SUBJECT + "\n\n2. Algoritmes in de uitvoering\n"))
    world.deliver(mail(subject="RE: " + SUBJECT, to=f"nieuws+poll-{poll.id}@pioniers.test",
                       sender="Onbekend <x@evil.example>", body="1\n"))
    world.poll()
    # Anna says the same again (no second acknowledgement), Eva changes her mind (acknowledged).
    world.deliver(reply_to(anna, "Anna de Vries <anna@utrecht.nl>", body="thema 2\n"))
    world.deliver(reply_to(copies["eva@delft.nl"], "Eva <eva@delft.nl>", body="Toch liever:\nthema 2\n"))
    # Dirk registers with a plain mail: a registration, not a vote.
    world.deliver(mail(subject="Pioniersnetwerk 16 september 2027", sender="Dirk <dirk@zwolle.nl>",
                       body="Graag meld ik me aan.\n"))
    world.poll()

    with world.app.sm.begin() as s:
        votes = {v.email: v for v in s.scalars(select(Vote))}
        assert set(votes) == {"anna@utrecht.nl", "bert@schiedam.nl", "carla@rijk.example", "eva@delft.nl"}
        t = polls.tally(s, poll)
        assert [(r.position, r.votes) for r in t.rows] == [(1, 0), (2, 3), (3, 1)]
        assert votes["eva@delft.nl"].revision == 2
        assert [p.text for p in s.scalars(select(Proposal))] == ["Digitale inclusie in de wijk"]
        regs = {r.person.email: r.status for r in s.scalars(select(Registration))}
        assert regs == {"bert@schiedam.nl": "confirmed", "eva@delft.nl": "confirmed", "dirk@zwolle.nl": "confirmed"}
        reasons = list(s.scalars(select(InboundMessage.reason)))
    assert any("x@evil.example is no member" in r for r in reasons)
    acks = Counter(r for r, m, _ in received(world, start) if "je antwoord op de stemming" in str(m["Subject"])
                   and str(m["Subject"]).startswith("Ontvangen"))
    assert acks == Counter({"anna@utrecht.nl": 1, "bert@schiedam.nl": 1, "carla@rijk.example": 1,
                            "dirk@zwolle.nl": 1, "eva@delft.nl": 2})
    (changed,) = [m for m in _to(world, "eva@delft.nl", start) if "gewijzigd" in text_part(m)]
    assert str(changed["Reply-To"]) == f"nieuws+poll-{poll.id}@pioniers.test"  # replying again is voting again
    (carla,) = _to(world, "carla@rijk.example", start)
    assert 'thema 3, "Samenwerken met de provincie"' in text_part(carla)
    (refused,) = _to(world, "x@evil.example", start)
    assert "Niet geteld" in str(refused["Subject"])
    # The proposal is surfaced to the organiser at once.
    (proposal,) = [m for m in _to(world, ORGANISER, start) if "Themavoorstel" in str(m["Subject"])]
    assert "Digitale inclusie in de wijk" in text_part(proposal) and "dirk@zwolle.nl" in text_part(proposal)

    # The organiser asks for the tally by mail.
    before = len(world.sink.messages)
    world.deliver(mail(subject="Uitslag " + SUBJECT, to="nieuws@pioniers.test", sender=f"Organisatie <{ORGANISER}>",
                       body="Hoe staat het ervoor?\n"))
    world.poll()
    (tally,) = _to(world, ORGANISER, before)
    assert "Tussenstand" in str(tally["Subject"])
    body = text_part(tally)
    assert "2. Algoritmes in de uitvoering: 3 stemmen" in body and "Digitale inclusie in de wijk" in body

    # The closing date passes: the service closes the poll, sets the theme and sends the updated invite.
    world.clock.now = dt.datetime(2027, 3, 2, 8, 0, tzinfo=dt.timezone.utc)
    before = len(world.sink.messages)
    world.poll()
    with world.app.sm.begin() as s:
        meeting = s.scalar(select(Meeting).where(Meeting.date == dt.date(2027, 9, 16)))
        assert meeting.theme == "Algoritmes in de uitvoering" and meeting.sequence == 1
        assert s.get(Poll, poll.id).status == "closed"
    updates = {r: m for r, m, _ in received(world, before) if str(m["Subject"]).startswith("Gewijzigd")}
    assert set(updates) == {"bert@schiedam.nl", "eva@delft.nl", "dirk@zwolle.nl"}
    update = updates["bert@schiedam.nl"]
    assert "Het thema is nu Algoritmes in de uitvoering in plaats van Open data." in text_part(update)
    (ics,) = [p for p in update.walk() if p.get_content_type() == "text/calendar"]
    invite = ics.get_content() if isinstance(ics.get_content(), str) else ics.get_content().decode()
    assert "METHOD:REQUEST" in invite and "SEQUENCE:1" in invite and "Algoritmes in de uitvoering" in invite
    (closed,) = _to(world, ORGANISER, before)
    assert "Thema gekozen" in str(closed["Subject"]) and '"Algoritmes in de uitvoering"' in text_part(closed)
    # Once closed, nothing is sent again, and a late vote is answered but not counted.
    world.deliver(reply_to(copies["carla@rijk.example"], "Carla <carla@rijk.example>", body="1\n"))
    world.poll()
    (late,) = _to(world, "carla@rijk.example", before)
    assert "gesloten" in text_part(late) and "Algoritmes in de uitvoering" in text_part(late)
    assert len([1 for r, m, _ in received(world, before) if str(m["Subject"]).startswith("Gewijzigd")]) == 3


def test_unclear_reply_and_poll_post_problems(world):
    copies = _open_poll_by_mail(world)
    start = len(world.sink.messages)
    world.deliver(reply_to(copies["anna@utrecht.nl"], "Anna <anna@utrecht.nl>", body="Leuk initiatief!\n"))
    world.deliver(reply_to(copies["bert@schiedam.nl"], "Bert <bert@schiedam.nl>", body="7\n"))
    # A second poll for the same meeting is refused with one line to the organiser; nothing goes out.
    world.deliver(post(subject=SUBJECT, text=POLL_TEXT, html=None, pdf=None))
    world.poll()
    (unclear,) = _to(world, "anna@utrecht.nl", start)
    assert "geen keuze lezen" in text_part(unclear) and "1. Open data in de wijk" in text_part(unclear)
    (seven,) = _to(world, "bert@schiedam.nl", start)
    assert "Er is geen thema 7" in text_part(seven)
    (refused,) = [m for m in _to(world, ORGANISER, start) if not str(m["Subject"]).startswith("Verstuurd:")]
    assert "Stemming niet geopend" in str(refused["Subject"])
    assert "er loopt al een stemming over het thema van de bijeenkomst" in text_part(refused)
    assert not problems_nl(text_part(refused))
    with world.app.sm.begin() as s:
        assert s.scalar(select(Vote.id)) is None


def test_themes_commands(world, monkeypatch, capsys):
    world.meeting("2027-09-16", theme="")
    add_members(world, *MEMBERS[:3])
    with world.app.sm.begin() as s:  # someone already registered gets the theme as an update
        meeting = registry.meeting_on(s, dt.date(2027, 9, 16))
        person = registry.upsert_person(s, "anna@utrecht.nl", "Anna", "Gemeente Utrecht", world.app.now())
        registry.register(s, meeting, person, world.app.now())
    monkeypatch.setattr(cli_network, "_app", lambda args: world.app)
    monkeypatch.setattr(cli, "_app", lambda args: world.app)
    cfg = str(world.config_path)
    assert cli.main(["--config", cfg, "themes", "open", "2027-09-16", "--option", "Open data",
                     "--option", "Algoritmes", "--closes", "2027-08-01", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "Thema's Pioniersnetwerk 16 september 2027" in out and "theme poll #1" in out
    copies = {r: m for r, m, _ in list_copies(world)}
    assert set(copies) == {a for a, _ in MEMBERS[:3]}
    assert "1. Open data" in text_part(copies["bert@schiedam.nl"])
    world.deliver(reply_to(copies["bert@schiedam.nl"], "Bert <bert@schiedam.nl>", body="algoritmes\n"))
    world.deliver(reply_to(copies["carla@rijk.example"], "Carla <carla@rijk.example>", body="Voorstel: Inkoop\n"))
    world.poll()
    assert cli.main(["--config", cfg, "themes", "results", "2027-09-16"]) == 0
    out = capsys.readouterr().out
    assert "1 vote(s)" in out and "Algoritmes" in out and "Inkoop" in out and "carla@rijk.example" in out
    assert cli.main(["--config", cfg, "themes", "open", "2027-09-16", "--option", "A", "--option", "B"]) == 2
    assert "already a theme poll" in capsys.readouterr().err
    assert cli.main(["--config", cfg, "themes", "close", "2027-09-16"]) == 0
    out = capsys.readouterr().out
    assert "theme set: Algoritmes" in out and "1 message(s) queued; sent 2" in out  # and the organiser's
    assert [m for r, m, _ in received(world) if r == "anna@utrecht.nl" and "Gewijzigd" in str(m["Subject"])]
    assert cli.main(["--config", cfg, "themes", "close", "2027-09-16"]) == 2
    assert "already closed" in capsys.readouterr().err
    assert cli.main(["--config", cfg, "themes", "results", "2099-01-01"]) == 2
    assert cli.main(["--config", cfg, "themes", "open", "2027-09-16", "--option", "A"]) == 2


@pytest.mark.parametrize("options,closes,problem", [
    (["Alleen"], None, "2 to 20 options"),
    (["A", "a"], None, "the same"),
    (["A", "B"], "2027-09-20", "day before the meeting"),
    (["A", "B"], "2027-01-01", "between today"),
])
def test_poll_checks(world, options, closes, problem):
    world.meeting("2027-09-16")
    with world.app.sm.begin() as s:
        meeting = registry.meeting_on(s, dt.date(2027, 9, 16))
        with pytest.raises(polls.PollRefused, match=problem) as refused:
            polls.create_poll(s, world.app, meeting, options,
                                dt.date.fromisoformat(closes) if closes else None, created_by="")
        assert not problems_nl(refused.value.said("nl")), refused.value.dutch  # what the organiser's mail says
        assert s.scalar(select(Poll.id)) is None  # nothing written before the checks


def test_proposals_never_flood_the_organisers(world):
    copies = _open_poll_by_mail(world)
    start = len(world.sink.messages)
    dirk = copies["dirk@zwolle.nl"]
    for i in range(8):  # one member, eight different proposals
        world.deliver(reply_to(dirk, "Dirk <dirk@zwolle.nl>", body=f"voorstel: Onderwerp nummer {i}\n"))
    world.poll()
    mailed = [m for m in _to(world, ORGANISER, start) if "Themavoorstel" in str(m["Subject"])]
    assert len(mailed) == 3
    with world.app.sm.begin() as s:
        assert len(list(s.scalars(select(Proposal)))) == 8  # all kept, for `themes results`
        reasons = [r.reason for r in s.scalars(select(InboundMessage)) if "proposal #" in r.reason]
    assert sum("not mailed to the organisers" in r for r in reasons) == 5


def test_a_poll_for_a_meeting_whose_theme_is_chosen_warns_and_asks(world, monkeypatch, capsys):
    world.meeting("2027-09-16", theme="Open data")
    add_members(world, *MEMBERS[:2])
    monkeypatch.setattr(cli_network, "_app", lambda args: world.app)
    cfg = str(world.config_path)
    asked: list[str] = []
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda question: asked.append(question) or "n")
    assert cli.main(["--config", cfg, "themes", "open", "2027-09-16", "--option", "A", "--option", "B"]) == 0
    out = capsys.readouterr().out
    assert "warning: the meeting on 2027-09-16 already has a theme, 'Open data'" in out
    assert asked == ["Send this poll to 2 members anyway? [y/N] "] and "not sent; no poll opened" in out
    assert list_copies(world) == []
    assert cli.main(["--config", cfg, "themes", "open", "2027-09-16", "--option", "A", "--option", "B",
                     "--yes"]) == 0
    assert "already has a theme" in capsys.readouterr().out and len(list_copies(world)) == 2
