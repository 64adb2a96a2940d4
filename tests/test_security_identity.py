"""The From header alone proves nothing: a cancellation acts only with proof (our server's DMARC pass, or a reply
to a letter we sent to that very address); otherwise the address is asked to confirm by reply."""
from __future__ import annotations

from sqlalchemy import select

from db.models import Registration
from helpers import AUTHSERV, last_sent_to, mail, reply_mail

VICTIM, ATTACKER, OTHER = "jan@schiedam.nl", "boef@elders.nl", "piet@delft.nl"
CANCEL = "Afmelden Pioniersnetwerk 18 maart 2027"


def statuses(world) -> dict[str, str]:
    with world.app.sm.begin() as s:
        return {r.person.email: r.status for r in s.scalars(select(Registration))}


def _full_meeting(world) -> None:
    world.meeting(capacity=1)
    world.deliver(mail(sender=VICTIM))
    world.poll()
    world.deliver(mail(sender=ATTACKER))
    world.poll()
    assert statuses(world) == {VICTIM: "confirmed", ATTACKER: "waitlisted"}


def _sent_to(world, address: str, since: int) -> list:
    return [m for m in world.replies()[since:] if address in str(m["To"])]


def test_forged_cancel_asks_the_victim_and_frees_no_seat(world):
    _full_meeting(world)
    before = len(world.replies())
    world.deliver(mail(sender=VICTIM, subject=CANCEL, body="Ik kan niet.\n"))
    world.deliver(mail(sender=VICTIM, subject=CANCEL, body="Echt niet.\n"))  # a second forgery: no second mail
    world.poll()
    assert statuses(world) == {VICTIM: "confirmed", ATTACKER: "waitlisted"}
    asked = _sent_to(world, VICTIM, before)
    assert len(asked) == 1 and "bevestigen" in asked[0]["Subject"]
    assert _sent_to(world, ATTACKER, before) == []
    # The victim really wants to cancel: a reply "ja" to that mail cancels, and the waiting one moves up.
    world.deliver(reply_mail(world, VICTIM, "Ja\n"))
    world.poll()
    assert statuses(world) == {VICTIM: "cancelled", ATTACKER: "confirmed"}


def test_no_in_reply_to_the_confirm_request_keeps_the_seat(world):
    _full_meeting(world)
    world.deliver(mail(sender=VICTIM, subject=CANCEL))
    world.poll()
    world.deliver(reply_mail(world, VICTIM, "Nee, ik kom gewoon.\n"))
    world.poll()
    assert statuses(world) == {VICTIM: "confirmed", ATTACKER: "waitlisted"}


def test_toch_niet_in_reply_to_the_confirmation_cancels_at_once(world):
    _full_meeting(world)
    confirmation = [m for m in world.replies() if VICTIM in str(m["To"])][0]
    world.deliver(mail(sender=VICTIM, subject="RE: " + str(confirmation["Subject"]), body="Ik kan toch niet komen, sorry.\n",
                       headers={"In-Reply-To": str(confirmation["Message-ID"])}))
    world.poll()
    assert statuses(world) == {VICTIM: "cancelled", ATTACKER: "confirmed"}


def test_a_reference_to_mail_sent_to_someone_else_or_a_guessed_one_is_no_proof(world):
    _full_meeting(world)
    to_attacker = last_sent_to(world, ATTACKER)["Message-ID"]
    mine = str(last_sent_to(world, VICTIM)["Message-ID"])
    rand, _, rest = mine.strip("<>").partition(".")
    guessed = f"<{rand}.{'0' * 20}@pioniers.test>"
    for ref in (str(to_attacker), guessed, "<1234@pioniers.test>"):
        world.deliver(mail(sender=VICTIM, subject=CANCEL, body="Ik kan niet komen.\n",
                           headers={"In-Reply-To": ref, "References": ref}))
    world.poll()
    assert statuses(world) == {VICTIM: "confirmed", ATTACKER: "waitlisted"}


def test_our_servers_dmarc_pass_acts_at_once_another_servers_does_not(world):
    _full_meeting(world)
    world.deliver(mail(sender=VICTIM, subject=CANCEL, headers={
        "Authentication-Results": "mx.elders.nl; dmarc=pass header.from=schiedam.nl"}))
    world.poll()
    assert statuses(world) == {VICTIM: "confirmed", ATTACKER: "waitlisted"}
    world.deliver(mail(sender=VICTIM, subject=CANCEL, headers={
        "Authentication-Results": f"{AUTHSERV}; dmarc=pass header.from=elders.nl"}))  # another domain's pass
    world.poll()
    assert statuses(world) == {VICTIM: "confirmed", ATTACKER: "waitlisted"}
    world.deliver(mail(sender=VICTIM, subject=CANCEL, headers={
        "Authentication-Results": f"{AUTHSERV}; dmarc=pass header.from=schiedam.nl"}))
    world.poll()
    assert statuses(world) == {VICTIM: "cancelled", ATTACKER: "confirmed"}


def test_forged_uitschrijven_keeps_the_member_until_they_confirm(world):
    from list_helpers import member, received, reply_to
    world.meeting("2027-03-18")
    world.deliver(mail(sender=f"Jan <{VICTIM}>"))  # registering subscribes
    world.poll()
    since = len(world.sink.messages)
    world.deliver(mail(sender=f"Jan <{VICTIM}>", subject="Uitschrijven", body="Geen nieuwsbrief meer.\n"))
    world.deliver(mail(sender=f"Jan <{VICTIM}>", subject="Uitschrijven", body="Echt niet meer.\n"))
    world.poll()
    assert member(world, VICTIM).status == "active"
    (rcpt, ask, _), = received(world, since)  # one request, to the member's own address
    assert rcpt == VICTIM and "[#" in str(ask["Subject"])
    # The forger cannot answer it: the token must come back from the member's address.
    world.deliver(reply_to(ask, ATTACKER, "Ja\n"))
    world.poll()
    assert member(world, VICTIM).status == "active"
    world.deliver(reply_to(ask, f"Jan <{VICTIM}>", "Nee, ik blijf.\n"))
    world.poll()
    assert member(world, VICTIM).status == "active"


def test_uitschrijven_with_our_servers_dmarc_pass_acts_at_once(world):
    from list_helpers import member
    world.meeting("2027-03-18")
    world.deliver(mail(sender=f"Jan <{VICTIM}>"))
    world.poll()
    world.deliver(mail(sender=f"Jan <{VICTIM}>", subject="Uitschrijven", headers={
        "Authentication-Results": f"{AUTHSERV}; dmarc=pass header.from=schiedam.nl"}))
    world.poll()
    assert member(world, VICTIM).status == "unsubscribed"


def _profile(world, address: str) -> tuple:
    from db.models import Person
    with world.app.sm.begin() as s:
        p = s.scalar(select(Person).where(Person.email == address))
        return (p.role, p.topic, p.share_consent) if p is not None else None


def test_forged_consent_with_onderwerp_puts_nothing_on_the_list(world):
    world.meeting()
    world.deliver(mail(sender=VICTIM))
    world.poll()
    plain = _profile(world, VICTIM)
    before = len(world.replies())
    forged = "rol: pionier\nonderwerp: iets lasterlijks\nja, deel mijn gegevens\n"
    world.deliver(mail(sender=VICTIM, subject="Pioniersnetwerk 18 maart 2027", body=forged))
    world.poll()
    assert _profile(world, VICTIM) == plain
    (asked,) = _sent_to(world, VICTIM, before)
    assert "Klopt dit" in asked["Subject"]
    # A stranger registering in someone's name with a profile: registered (open to anyone), profile not.
    world.deliver(mail(sender=OTHER, body="Graag.\n" + forged))
    world.poll()
    assert statuses(world)[OTHER] == "confirmed"
    assert _profile(world, OTHER)[1] == "" and not _profile(world, OTHER)[2]
    # The real person replies to our mail with the lines: taken over.
    world.deliver(reply_mail(world, VICTIM, "rol: pionier\nonderwerp: open data\nja, deel mijn gegevens\n"))
    world.poll()
    assert _profile(world, VICTIM) == ("pioneer", "open data", True)


def test_a_forged_registration_does_not_undo_a_forget(world):
    from db.models import Forgotten, OutboundMessage, Person
    from network.privacy import forget
    world.meeting()
    world.deliver(mail(sender=VICTIM))
    world.poll()
    forget(world.app, VICTIM)
    before = len(world.replies())
    world.deliver(mail(sender=f"Jan <{VICTIM}>"))
    world.deliver(mail(sender=f"Jan <{VICTIM}>", body="Nogmaals graag.\n"))
    world.poll()
    with world.app.sm.begin() as s:
        assert s.scalar(select(Person).where(Person.email == VICTIM)) is None
        assert s.scalars(select(Forgotten)).all()
        assert all(VICTIM not in (m.key or "") for m in s.scalars(select(OutboundMessage)))
    (asked,) = _sent_to(world, VICTIM, before)
    assert "bevestigen" in asked["Subject"]
    world.deliver(reply_mail(world, VICTIM, "Nee\n"))
    world.poll()
    with world.app.sm.begin() as s:
        assert s.scalar(select(Person).where(Person.email == VICTIM)) is None
    world.deliver(reply_mail(world, VICTIM, "Ja, ik kom graag.\n", subject="RE: " + str(asked["Subject"])))
    world.poll()
    assert statuses(world) == {VICTIM: "confirmed"}
    with world.app.sm.begin() as s:
        assert not s.scalars(select(Forgotten)).all()


def test_marked_message_ids_name_their_recipient_only():
    from mailer.msgid import make_msgid, sent_to
    secret = b"k" * 64
    mid = make_msgid(secret, "pioniers.test", "Jan@Schiedam.nl")
    assert sent_to(secret, "pioniers.test", mid, "jan@schiedam.nl")
    assert not sent_to(secret, "pioniers.test", mid, "piet@delft.nl")
    assert not sent_to(secret, "pioniers.test", mid.replace("pioniers.test", "elders.nl"), "jan@schiedam.nl")
    assert not sent_to(b"x" * 64, "pioniers.test", mid, "jan@schiedam.nl")  # another installation's
