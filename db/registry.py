"""Registrations in the database: register, cancel, and fill freed places from the waiting list.

Capacity holds under concurrency: the meeting row is locked (PostgreSQL FOR UPDATE; SQLite writers are
serialised by BEGIN IMMEDIATE) before places are counted.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db import lookups
from db.models import Meeting, Person, Registration

CONFIRMED, WAITLISTED, CANCELLED = "confirmed", "waitlisted", "cancelled"


def meeting_on(session: Session, day: dt.date, *, lock: bool = False) -> Meeting | None:
    lk = lookups.get(session)
    if lk is not None and day in lk.locked:  # locked earlier in this transaction: the lock is still held
        return lk.locked[day]
    query = select(Meeting).where(Meeting.date == day)
    if lock:
        query = query.with_for_update()
    meeting = session.scalar(query)
    if lock and lk is not None and meeting is not None:
        lk.locked[day] = meeting
    return meeting


def find_person(session: Session, email: str) -> Person | None:
    lk = lookups.get(session)
    if lk is not None and email.lower() in lk.people:
        person = lk.people[email.lower()]
        if person is not None and person.id is None:
            session.flush()  # created earlier in this chunk: whoever asks again may need its id
        return person
    return session.scalar(select(Person).where(Person.email == email.lower()))


def upsert_person(session: Session, email: str, name: str, organisation: str, now: dt.datetime) -> Person:
    person = find_person(session, email)
    if person is None:
        person = Person(email=email.lower(), name=name, organisation=organisation, created_at=now)
        session.add(person)
        if (lk := lookups.get(session)) is not None:
            lk.added_person(person)  # flushed with the rest of the message (lookups answer for it meanwhile)
        else:
            session.flush()
    else:  # keep what we knew unless the new mail tells us more
        person.name = name or person.name
        person.organisation = organisation or person.organisation
    return person


def registration_of(session: Session, meeting: Meeting, person: Person) -> Registration | None:
    lk = lookups.get(session)
    if lk is not None:
        known, reg = lk.registration(meeting.id, person)
        if known:
            return reg
    return session.scalar(
        select(Registration).where(Registration.meeting_id == meeting.id, Registration.person_id == person.id)
    )


def count(session: Session, meeting: Meeting, status: str) -> int:
    return session.scalar(
        select(func.count(Registration.id)).where(Registration.meeting_id == meeting.id, Registration.status == status)
    ) or 0


def waitlist_position(session: Session, reg: Registration) -> int:
    return (session.scalar(
        select(func.count(Registration.id)).where(
            Registration.meeting_id == reg.meeting_id,
            Registration.status == WAITLISTED,
            (Registration.registered_at < reg.registered_at)
            | ((Registration.registered_at == reg.registered_at) & (Registration.id < reg.id)),
        )
    ) or 0) + 1


@dataclass(frozen=True)
class RegisterResult:
    registration: Registration
    outcome: str  # confirmed | waitlisted | already_confirmed | already_waitlisted


def register(session: Session, meeting: Meeting, person: Person, now: dt.datetime) -> RegisterResult:
    """Caller must hold the meeting row lock (meeting_on(..., lock=True))."""
    reg = registration_of(session, meeting, person)
    if reg is not None and reg.status in (CONFIRMED, WAITLISTED):
        return RegisterResult(reg, f"already_{reg.status}")
    full = meeting.capacity is not None and count(session, meeting, CONFIRMED) >= meeting.capacity
    status = WAITLISTED if full else CONFIRMED
    if reg is None:
        reg = Registration(meeting_id=meeting.id, person=person, status=status,
                           registered_at=now, updated_at=now)
        session.add(reg)
        if (lk := lookups.get(session)) is not None:
            lk.added_registration(reg, person)
    else:  # registering again after cancelling: back of the queue
        reg.status, reg.registered_at, reg.updated_at, reg.partstat = status, now, now, "NEEDS-ACTION"
    if status == WAITLISTED:  # its id and time place it in the queue (waitlist_position); a confirmed one is
        session.flush()  # flushed with the rest of the message's changes
    return RegisterResult(reg, status)


def cancel(session: Session, meeting: Meeting, person: Person, now: dt.datetime) -> str | None:
    """Cancel; returns the status it had (confirmed or waitlisted), or None when there was nothing to cancel."""
    reg = registration_of(session, meeting, person)
    if reg is None or reg.status == CANCELLED:
        return None
    previous = reg.status
    reg.status, reg.updated_at = CANCELLED, now
    session.flush()
    return previous


def fill_from_waitlist(session: Session, meeting: Meeting, now: dt.datetime) -> list[Registration]:
    """Confirm waiting people, first come first served, while there is room. Caller holds the meeting lock."""
    promoted: list[Registration] = []
    if meeting.status != "scheduled":
        return promoted
    free = None if meeting.capacity is None else meeting.capacity - count(session, meeting, CONFIRMED)
    waiting = session.scalars(
        select(Registration)
        .where(Registration.meeting_id == meeting.id, Registration.status == WAITLISTED)
        .order_by(Registration.registered_at, Registration.id)
    )
    for reg in waiting:
        if free is not None and free <= 0:
            break
        reg.status, reg.updated_at = CONFIRMED, now
        promoted.append(reg)
        if free is not None:
            free -= 1
    session.flush()
    return promoted
