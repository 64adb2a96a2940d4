"""Joining, leaving and bounces, end to end through Dovecot and the SMTP sink, on both databases."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import select

from db.models import Member
from helpers import ORGANISER, mail
from list_helpers import add_members, list_copies, member, post, received, reply_to, text_part, token_of
from network.meetings import update_meeting

CORPUS = Path(__file__).parent / "corpus" / "bounces"


def _not_organiser(world, since: int) -> list:
    """What reached others than the organiser (who also hears, a poll later, how a send went)."""
    return [r for r in received(world, since) if r[0] != ORGANISER]


def _send_post(world, subject: str = "Nieuws") -> list[str]:
    """An organiser's post, approved by reply; returns who got a copy."""
    since = len(world.sink.messages)
    world.deliver(post(subject=subject))
    world.poll()
    (preview,) = [m for _, m, _ in received(world, since) if "[#" in str(m["Subject"])]
    since = len(world.sink.messages)
    world.deliver(reply_to(preview, f"Organisatie <{ORGANISER}>"))
    world.poll()
    return sorted(r for r, _, _ in list_copies(world, since))


def test_unsubscribe_by_list_unsubscribe_mailto(world):
    add_members(world, ("anna@utrecht.nl", "Anna"), ("bert@schiedam.nl", "Bert"))
    assert _send_post(world) == ["anna@utrecht.nl", "bert@schiedam.nl"]
    (copy,) = [m for r, m, _ in list_copies(world) if r == "anna@utrecht.nl"]
    mailto = str(copy["List-Unsubscribe"]).strip("<>").removeprefix("mailto:").split("?")[0]
    since = len(world.sink.messages)
    # What a mail client's "unsubscribe" button sends.
    world.deliver(mail(sender="anna@utrecht.nl", to=mailto, subject="unsubscribe", body="This is an unsubscribe request.\n"))
    world.poll()
    (rcpt, confirmation, _), = _not_organiser(world, since)
    assert rcpt == "anna@utrecht.nl" and "uitgeschreven" in str(confirmation["Subject"])
    assert member(world, "anna@utrecht.nl").status == "unsubscribed"
    assert _send_post(world, "Tweede nieuws") == ["bert@schiedam.nl"]


def test_unsubscribe_by_keyword_keeps_meeting_mail(world):
    world.meeting("2027-03-18")
    world.deliver(mail(sender="Jan Jansen <jan@schiedam.nl>"))  # registering subscribes
    world.poll()
    (_, confirmation, _), = received(world)
    assert "nieuwsbrief" in text_part(confirmation) and "uitschrijven" in text_part(confirmation)
    assert member(world, "jan@schiedam.nl").status == "active"
    since = len(world.sink.messages)
    world.deliver(mail(sender="Jan Jansen <jan@schiedam.nl>", subject="Uitschrijven", body="Graag geen nieuwsbrief meer.\n"))
    world.poll()
    # A bare mail proves nothing about its From: the address confirms by reply first.
    (rcpt, ask, _), = _not_organiser(world, since)
    assert rcpt == "jan@schiedam.nl" and "[#" in str(ask["Subject"])
    assert member(world, "jan@schiedam.nl").status == "active"
    since = len(world.sink.messages)
    world.deliver(reply_to(ask, "Jan Jansen <jan@schiedam.nl>", "Ja, klopt.\n"))
    world.poll()
    (rcpt, bye, _), = _not_organiser(world, since)
    assert rcpt == "jan@schiedam.nl" and "uitgeschreven" in str(bye["Subject"])
    assert "bijeenkomst" in text_part(bye)
    assert member(world, "jan@schiedam.nl").status == "unsubscribed"
    add_members(world, ("anna@utrecht.nl", "Anna"))
    assert _send_post(world) == ["anna@utrecht.nl"]
    # Still registered for the meeting: its changes still reach them.
    since = len(world.sink.messages)
    update_meeting(world.app, dt.date(2027, 3, 18), start="13:00")
    world.poll()
    assert [r for r, _, _ in _not_organiser(world, since)] == ["jan@schiedam.nl"]
    # Registering again does not undo their "no".
    world.meeting("2027-06-17")
    world.deliver(mail(sender="Jan Jansen <jan@schiedam.nl>", subject="Pioniersnetwerk 17 juni 2027"))
    world.poll()
    assert member(world, "jan@schiedam.nl").status == "unsubscribed"


def test_subscribe_by_mail_is_double_opt_in(world):
    world.deliver(mail(sender="Els <els@utrecht.nl>", subject="Aanmelden nieuwsbrief", body="Graag!\n"))
    world.deliver(mail(sender="Els <els@utrecht.nl>", subject="aanmelden nieuwsbrief", body="Nog een keer.\n"))
    world.poll()
    (rcpt, confirm, _), = received(world)  # one confirmation request, however often they ask that day
    assert rcpt == "els@utrecht.nl" and "Bevestig" in str(confirm["Subject"])
    token = token_of(confirm)
    assert str(confirm["Reply-To"]) == f"nieuws+confirm-{token}@pioniers.test"
    assert member(world, "els@utrecht.nl").status == "pending"
    add_members(world, ("anna@utrecht.nl", "Anna"))
    assert _send_post(world) == ["anna@utrecht.nl"], "an unconfirmed address is never mailed"
    since = len(world.sink.messages)
    world.deliver(reply_to(confirm, "Els <els@utrecht.nl>", body="Ja\n"))
    world.poll()
    (rcpt, welcome, _), = _not_organiser(world, since)
    assert rcpt == "els@utrecht.nl" and "Welkom" in str(welcome["Subject"])
    assert member(world, "els@utrecht.nl").status == "active"
    assert _send_post(world, "Derde") == ["anna@utrecht.nl", "els@utrecht.nl"]


def _bounce(sample: str, token: str, address: str, old_address: str, old_token: str) -> bytes:
    raw = (CORPUS / sample).read_bytes()
    return raw.replace(old_token.encode(), token.encode()).replace(old_address.encode(), address.encode())


def test_bounces_disable_a_member_and_are_never_answered(world):
    add_members(world, ("piet@gemeente.example", "Piet"), ("anna@utrecht.nl", "Anna"))
    _send_post(world)
    piet = member(world, "piet@gemeente.example")
    since = len(world.sink.messages)
    samples = [("postfix_dsn.eml", "piet.weg@gemeente.example", "0a1b2c3d4e5f60718293a4b5c6"),
               ("exchange_ndr.eml", "k.vertrokken@rijksoverheid.example", "9f8e7d6c5b4a39281706f5e4d3"),
               ("gmail_bounce.eml", "niet.meer.actief@gmail.com", "11223344556677889900aabbcc")]
    # A delay notice is no permanent failure: it counts for nothing.
    world.deliver(_bounce("postfix_delayed.eml", piet.token, piet.email, "traag@gemeente.example",
                          "0a1b2c3d4e5f60718293a4b5c6"))
    world.poll()
    assert member(world, piet.email).bounces == 0
    for i, (sample, old_address, old_token) in enumerate(samples, start=1):
        world.deliver(_bounce(sample, piet.token, piet.email, old_address, old_token))
        world.poll()
        assert member(world, piet.email).bounces == i
    assert member(world, piet.email).status == "disabled"
    assert _not_organiser(world, since) == [], "bounces are never answered"
    assert _send_post(world, "Na de bounces") == ["anna@utrecht.nl"]
    # Without a member's token a report counts for no one, whatever address it names (anyone can write one).
    world.deliver(_bounce("exim_bounce.eml", "", "anna@utrecht.nl", "j.oud@overheid.example", ""))
    world.poll()
    assert member(world, "anna@utrecht.nl").bounces == 0


def test_members_list_shows_disabled(world, capsys):
    from pioniers.cli import main

    add_members(world, ("piet@gemeente.example", "Piet"))
    with world.app.sm.begin() as s:
        s.scalar(select(Member)).status = "disabled"
        s.scalar(select(Member)).bounces = 3
    assert main(["--config", str(world.config_path), "members", "list"]) == 0
    out = capsys.readouterr().out
    assert "piet@gemeente.example" in out and "disabled (3 bounces)" in out
