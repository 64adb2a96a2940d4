"""Registrations in the database: register, cancel, and fill freed places from the waiting list.

Capacity holds under concurrency: the meeting row is locked (PostgreSQL FOR UPDATE; SQLite writers are
serialised by BEGIN IMMEDIATE) before places are counted.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.orm import Session

from base.hashing import address_hashes
from db import lookups, pending
from db.models import Forgotten, Meeting, Person, Registration, table
from db.states import MeetingStatus, RegistrationStatus

_PEOPLE = table(Person)
_REGISTRATIONS = table(Registration)
# person_id by email inside the INSERT: rows for new people need no id read back (db/pending.py)
_INSERT_REGISTRATION = insert(_REGISTRATIONS).values(
    person_id=select(_PEOPLE.c.id).where(_PEOPLE.c.email == bindparam("person_email")).scalar_subquery())


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
    """The stored person (never a pending one: asked again, a person created in this chunk is read back)."""
    email = email.lower()
    lk = lookups.get(session)
    if lk is not None and email in lk.people and email not in lk.pending_people:
        return lk.people[email]
    person = session.scalar(select(Person).where(Person.email == email))  # writes pending rows first
    if lk is not None and email in lk.pending_people:
        lk.pending_people.discard(email)
        lk.people[email] = person  # its registrations are not known here: registration_of queries
    return person


def upsert_person(session: Session, email: str, name: str, organisation: str, now: dt.datetime) -> Person:
    """The stored person, or during an inbox chunk a new one that is still a pending row (not in the session)."""
    person = find_person(session, email)
    if person is None:
        person = Person(email=email.lower(), name=name, organisation=organisation, created_at=now)
        if (lk := lookups.get(session)) is not None:
            # a row, not an ORM object: a burst adds thousands (db/pending.py)
            pending.add(session, _PEOPLE, {"email": person.email, "name": name, "organisation": organisation,
                                           "created_at": now})
            lk.added_pending_person(person)
        else:
            session.add(person)
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
    lk = lookups.get(session)
    if lk is not None and (meeting.id, status) in lk.counts:
        return lk.counts[meeting.id, status]
    n = session.scalar(
        select(func.count(Registration.id)).where(Registration.meeting_id == meeting.id, Registration.status == status)
    ) or 0
    if lk is not None and lk.locked.get(meeting.date) is meeting:  # only a locked meeting's count stays true
        lk.counts[meeting.id, status] = n
    return n


def _counted(session: Session, meeting_id: int, status: str, delta: int) -> None:
    """Keep a counted status up to date: every status change below goes through here."""
    lk = lookups.get(session)
    if lk is not None and (meeting_id, status) in lk.counts:
        lk.counts[meeting_id, status] += delta


def _set_status(session: Session, reg: Registration, status: str) -> None:
    if reg.status != status:
        _counted(session, reg.meeting_id, reg.status, -1)
        _counted(session, reg.meeting_id, status, +1)
    reg.status = status


def waitlist_position(session: Session, reg: Registration) -> int:
    return (session.scalar(
        select(func.count(Registration.id)).where(
            Registration.meeting_id == reg.meeting_id,
            Registration.status == RegistrationStatus.WAITLISTED,
            (Registration.registered_at < reg.registered_at)
            | ((Registration.registered_at == reg.registered_at) & (Registration.id < reg.id)),
        )
    ) or 0) + 1


@dataclass(frozen=True)
class RegisterResult:
    outcome: str  # confirmed | waitlisted | already_confirmed | already_waitlisted
    position: int = 0  # on the waiting list (1 is next), when waitlisted


def register(session: Session, meeting: Meeting, person: Person, now: dt.datetime, note: str = "") -> RegisterResult:
    """Caller must hold the meeting row lock (meeting_on(..., lock=True)). note: a need the host should know
    ("vegetarisch"), kept on the registration; a later one replaces it."""
    reg = registration_of(session, meeting, person)
    if reg is not None and note:
        reg.note = note
    if reg is not None and reg.status in (RegistrationStatus.CONFIRMED, RegistrationStatus.WAITLISTED):
        position = waitlist_position(session, reg) if reg.status == RegistrationStatus.WAITLISTED else 0
        return RegisterResult(f"already_{reg.status}", position)
    full = meeting.capacity is not None and count(session, meeting, RegistrationStatus.CONFIRMED) >= meeting.capacity
    status = RegistrationStatus.WAITLISTED if full else RegistrationStatus.CONFIRMED
    # A new registration is the last in the queue (latest time, highest id): its place is the number waiting.
    waiting = (count(session, meeting, RegistrationStatus.WAITLISTED) + 1
               if status == RegistrationStatus.WAITLISTED else 0)
    lk = lookups.get(session)
    if reg is None:
        _counted(session, meeting.id, status, +1)
        if lk is not None and lk.is_pending(person):
            # a pending row as well, its person_id looked up by email when it is written
            pending.add(session, _INSERT_REGISTRATION, {
                "meeting_id": meeting.id, "person_email": person.email, "status": status, "note": note,
                "registered_at": now, "updated_at": now})
            return RegisterResult(status, waiting)
        reg = Registration(meeting_id=meeting.id, person=person, status=status, note=note,
                           registered_at=now, updated_at=now)
        session.add(reg)
        if lk is not None:
            lk.added_registration(reg, person)
    else:  # registering again after cancelling: back of the queue (its old id may tie-break before others)
        _set_status(session, reg, status)
        reg.registered_at, reg.updated_at, reg.partstat = now, now, "NEEDS-ACTION"
        if status == RegistrationStatus.WAITLISTED:
            session.flush()
            waiting = waitlist_position(session, reg)
    return RegisterResult(status, waiting)


def cancel(session: Session, meeting: Meeting, person: Person, now: dt.datetime) -> str | None:
    """Cancel; returns the status it had (confirmed or waitlisted), or None when there was nothing to cancel."""
    reg = registration_of(session, meeting, person)
    if reg is None or reg.status == RegistrationStatus.CANCELLED:
        return None
    previous = reg.status
    _set_status(session, reg, RegistrationStatus.CANCELLED)
    reg.updated_at = now
    session.flush()
    return previous


def fill_from_waitlist(session: Session, meeting: Meeting, now: dt.datetime) -> list[Registration]:
    """Confirm waiting people, first come first served, while there is room. Caller holds the meeting lock."""
    promoted: list[Registration] = []
    if meeting.status != MeetingStatus.SCHEDULED:
        return promoted
    confirmed = count(session, meeting, RegistrationStatus.CONFIRMED)
    free = None if meeting.capacity is None else meeting.capacity - confirmed
    waiting = session.scalars(
        select(Registration)
        .where(Registration.meeting_id == meeting.id, Registration.status == RegistrationStatus.WAITLISTED)
        .order_by(Registration.registered_at, Registration.id)
    )
    for reg in waiting:
        if free is not None and free <= 0:
            break
        _set_status(session, reg, RegistrationStatus.CONFIRMED)
        reg.updated_at = now
        promoted.append(reg)
        if free is not None:
            free -= 1
    session.flush()
    return promoted


def registered_emails(session: Session, meeting_id: int | None) -> dict[str, str]:
    """{email: confirmed|waitlisted} of the people registered for a meeting: who an announcement of it greets as
    already registered (a meeting has hundreds at most)."""
    if meeting_id is None:
        return {}
    held = (RegistrationStatus.CONFIRMED, RegistrationStatus.WAITLISTED)
    rows = session.execute(select(Person.email, Registration.status).join(Person, Person.id == Registration.person_id)
                           .where(Registration.meeting_id == meeting_id, Registration.status.in_(held)))
    return {email: status for email, status in rows}


def is_forgotten(session: Session, secret: bytes, email: str) -> bool:
    """On the do-not-mail list: under the keyed hash, or the unkeyed one written before it was keyed."""
    return session.scalar(select(Forgotten.address_hash).where(
        Forgotten.address_hash.in_(address_hashes(secret, email))).limit(1)) is not None
