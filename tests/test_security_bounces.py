"""Forged bounces disable no one: a report counts only through a member's VERP token, for that member."""
from __future__ import annotations

from pathlib import Path

from list_helpers import add_members, member
from sqlalchemy import select

from db.models import InboundMessage

CORPUS = Path(__file__).parent / "corpus" / "bounces"


def _forged(to: str, victim: str) -> bytes:
    """A perfectly ordinary-looking DSN, written by anyone, naming the victim as the failed recipient."""
    raw = (CORPUS / "exim_bounce.eml").read_bytes()
    return (raw.replace(b"j.oud@overheid.example", victim.encode())
            .replace(b"To: bounces@pioniers.test", f"To: {to}".encode())
            .replace(b"Delivered-To: bounces@pioniers.test", f"Delivered-To: {to}".encode()))


def test_forged_bounces_to_any_of_our_addresses_disable_no_one(world):
    add_members(world, ("jan@schiedam.nl", "Jan"))
    jan = member(world, "jan@schiedam.nl")
    targets = ["aanmelden@pioniers.test", "nieuws@pioniers.test", "bounces@pioniers.test",
               "bounces+00000000000000000000000000@pioniers.test",  # a guessed token
               "bounces+unsubscribe-" + jan.token + "@pioniers.test"]  # a token in the wrong place
    for to in targets * 3:
        world.deliver(_forged(to, jan.email).replace(b"Message-Id: <E1tABCD", f"Message-Id: <{len(to)}{to[:3]}".encode()))
        world.poll()
    after = member(world, jan.email)
    assert (after.status, after.bounces) == ("active", 0)
    with world.app.sm.begin() as s:
        reasons = [r.reason for r in s.scalars(select(InboundMessage))]
    assert reasons and all("disabled" not in r for r in reasons)
    assert world.sink.messages == [], "bounces are never answered"


def test_a_bounce_through_the_member_token_counts_for_that_member_only(world):
    add_members(world, ("jan@schiedam.nl", "Jan"), ("piet@utrecht.nl", "Piet"))
    jan = member(world, "jan@schiedam.nl")
    # The report names Piet, but came back to Jan's VERP address: it is Jan's copy that bounced.
    world.deliver(_forged(f"bounces+{jan.token}@pioniers.test", "piet@utrecht.nl"))
    world.poll()
    assert member(world, "jan@schiedam.nl").bounces == 1
    assert member(world, "piet@utrecht.nl").bounces == 0


def test_a_registration_in_someones_name_neither_resubscribes_nor_skips_their_confirmation(world):
    """Anyone can register in someone's name: it never undoes a 'no' about the list, nor answers its
    confirmation request for them."""
    from helpers import authenticated, mail
    from list_helpers import POST

    world.meeting()
    add_members(world, ("weg@utrecht.nl", "Weg"))
    # a proven unsubscribe (our server's DMARC pass): it acts at once
    world.deliver(mail(sender="weg@utrecht.nl", to=POST, subject="uitschrijven", body="Graag uitschrijven.\n",
                       headers=authenticated("weg@utrecht.nl")))
    world.deliver(mail(sender="nog@utrecht.nl", to=POST, subject="aanmelden nieuwsbrief", body="Graag.\n"))
    world.poll()
    assert member(world, "weg@utrecht.nl").status == "unsubscribed"
    assert member(world, "nog@utrecht.nl").status == "pending"
    for address in ("weg@utrecht.nl", "nog@utrecht.nl"):
        world.deliver(mail(sender=address))  # a registration, from whoever
    world.poll()
    assert member(world, "weg@utrecht.nl").status == "unsubscribed"
    assert member(world, "nog@utrecht.nl").status == "pending"
