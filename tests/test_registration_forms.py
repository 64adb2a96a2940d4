"""Registration as people really write it, end to end (real Dovecot in, real SMTP sink out): dates as "18/3",
several meetings in one mail, colleagues signed up by someone else, names as Exchange writes them."""
from __future__ import annotations

import datetime as dt

import vobject
from sqlalchemy import select

from db.models import Person, Registration
from helpers import authenticated, last_sent_to, mail, parts, reply_mail, text_of
from network.exports import attendee_rows


def _registrations(world) -> list[tuple[str, str, dt.date]]:
    with world.app.sm.begin() as s:
        return [(r.person.email, r.status, r.meeting.date)
                for r in s.scalars(select(Registration).order_by(Registration.id))]


def test_exchange_name_is_greeted_and_listed_as_said(world):
    world.meeting("2027-03-18")
    world.deliver(mail(sender='"Vries, Anouk de" <a.devries@utrecht.nl>'))
    world.poll()
    (reply,) = world.replies()
    assert text_of(reply).startswith("Beste Anouk de Vries,")
    invite = vobject.readOne(parts(reply)["text/calendar"][0].get_payload(decode=True).decode("utf-8"))
    assert invite.vevent.attendee.params["CN"] == ["Anouk de Vries"]
    with world.app.sm.begin() as s:
        assert s.scalar(select(Person.name)) == "Anouk de Vries"
    rows = attendee_rows(world.app, dt.date(2027, 3, 18))
    assert rows[0][:3] == ["Anouk de Vries", "Gemeente Utrecht", "a.devries@utrecht.nl"]


def test_short_date_registers_for_the_meeting(world):
    world.meeting("2027-03-18")
    world.meeting("2027-06-17", host="Gemeente Utrecht", location="Stadskantoor Utrecht")
    world.deliver(mail(subject="Pioniersnetwerk 18/3"))
    world.deliver(mail(subject="do 17/6", sender="Els Bakker <els@delft.nl>", body="Ik kom graag.\n"))
    world.poll()
    assert sorted(_registrations(world)) == [("els@delft.nl", "confirmed", dt.date(2027, 6, 17)),
                                              ("jan.jansen@schiedam.nl", "confirmed", dt.date(2027, 3, 18))]
    assert {str(r["Subject"]) for r in world.replies()} == {"Aanmelding bevestigd: Pioniersnetwerk 18 maart 2027",
                                                            "Aanmelding bevestigd: Pioniersnetwerk 17 juni 2027"}


def test_two_meetings_in_one_mail_two_registrations_and_two_confirmations(world):
    world.meeting("2027-06-17", host="Gemeente Utrecht", location="Stadskantoor Utrecht")
    world.meeting("2027-09-16", host="Gemeente Delft", location="Stadskantoor Delft")
    world.deliver(mail(subject="Aanmelding Pioniersnetwerk 17 juni en 16 september 2027",
                       body="Ik kom naar allebei.\n\nGroet,\nJan Jansen\n"))
    world.poll()
    assert _registrations(world) == [("jan.jansen@schiedam.nl", "confirmed", dt.date(2027, 6, 17)),
                                     ("jan.jansen@schiedam.nl", "confirmed", dt.date(2027, 9, 16))]
    first, second = world.replies()
    assert str(first["Subject"]) == "Aanmelding bevestigd: Pioniersnetwerk 17 juni 2027"
    assert str(second["Subject"]) == "Aanmelding bevestigd: Pioniersnetwerk 16 september 2027"
    starts = [vobject.readOne(parts(r)["text/calendar"][0].get_payload(decode=True).decode("utf-8")).vevent
              .dtstart.value.date() for r in (first, second)]
    assert starts == [dt.date(2027, 6, 17), dt.date(2027, 9, 16)]
    assert "Stadskantoor Delft" in text_of(second)
    # The same mail again: each meeting answered once more, nothing registered twice.
    world.deliver(mail(subject="RE: Aanmelding Pioniersnetwerk 17 juni en 16 september 2027"))
    world.poll()
    assert len(_registrations(world)) == 2
    assert [str(r["Subject"]).split(":")[0] for r in world.replies()[2:]] == ["Je was al aangemeld"] * 2


def test_colleague_is_invited_and_registered_only_after_saying_yes(world):
    world.meeting("2027-06-17", host="Gemeente Utrecht", location="Stadskantoor Utrecht")
    anouk = "Anouk de Vries <a.devries@utrecht.nl>"
    world.deliver(mail(subject="Pioniersnetwerk 17 juni 2027", sender=anouk, headers=authenticated(anouk),
                       body="Hallo,\n\nIk meld mezelf en mijn collega Piet Jansen (p.jansen@gemeente.nl) aan.\n\n"
                            "Groet,\nAnouk\n"))
    world.poll()
    assert _registrations(world) == [("a.devries@utrecht.nl", "confirmed", dt.date(2027, 6, 17))]
    invitation = last_sent_to(world, "p.jansen@gemeente.nl")
    assert str(invitation["Subject"]) == "Uitnodiging: Pioniersnetwerk 17 juni 2027"
    text = text_of(invitation)
    assert text.startswith("Beste Piet Jansen,") and "Anouk de Vries heeft je aangemeld" in text
    assert 'Antwoord met "ja"' in text and "text/calendar" not in parts(invitation)
    with world.app.sm.begin() as s:
        assert s.scalar(select(Person.id).where(Person.email == "p.jansen@gemeente.nl")) is None
    # Anouk's mail again: no second invitation.
    world.deliver(mail(subject="Pioniersnetwerk 17 juni 2027", sender=anouk,
                       body="Ik meld mezelf en mijn collega Piet Jansen (p.jansen@gemeente.nl) aan.\n"))
    world.poll()
    assert len([m for m in world.replies() if "p.jansen@gemeente.nl" in str(m["To"])]) == 1
    # Piet says yes: registered through the normal path, with his own confirmation.
    world.deliver(reply_mail(world, "Piet Jansen <p.jansen@gemeente.nl>", "Ja, graag!\n"))
    world.poll()
    assert ("p.jansen@gemeente.nl", "confirmed", dt.date(2027, 6, 17)) in _registrations(world)
    confirmation = last_sent_to(world, "p.jansen@gemeente.nl")
    assert str(confirmation["Subject"]) == "Aanmelding bevestigd: Pioniersnetwerk 17 juni 2027"


def test_colleague_who_says_no_is_not_registered_and_unproven_sender_is_not_named(world):
    world.meeting("2027-06-17")
    world.deliver(mail(subject="Pioniersnetwerk 17 juni 2027", sender="Anouk de Vries <a.devries@utrecht.nl>",
                       body="Ik meld ook mijn collega Piet Jansen (p.jansen@gemeente.nl) aan.\n"))
    world.poll()
    invitation = last_sent_to(world, "p.jansen@gemeente.nl")
    assert "Anouk" not in text_of(invitation) and "Een collega heeft je aangemeld" in text_of(invitation)
    world.deliver(reply_mail(world, "Piet Jansen <p.jansen@gemeente.nl>", "Nee, dank je.\n"))
    world.poll()
    assert _registrations(world) == [("a.devries@utrecht.nl", "confirmed", dt.date(2027, 6, 17))]


def test_no_invitation_to_a_forgotten_colleague(world):
    from network.privacy import forget

    world.meeting("2027-06-17")
    forget(world.app, "p.jansen@gemeente.nl")
    world.deliver(mail(subject="Pioniersnetwerk 17 juni 2027",
                       body="Ik meld ook mijn collega Piet Jansen (p.jansen@gemeente.nl) aan.\n"))
    world.poll()
    assert [str(m["To"]) for m in world.replies()] == ["jan.jansen@schiedam.nl"]
