"""Registration as people really write it, end to end (real Dovecot in, real SMTP sink out): dates as "18/3",
several meetings in one mail, colleagues signed up by someone else, names as Exchange writes them."""
from __future__ import annotations

import datetime as dt

import vobject
from sqlalchemy import select

from db.models import Person, Registration
from helpers import mail, parts, text_of
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
