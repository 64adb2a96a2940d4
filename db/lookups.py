"""Per-chunk lookups: the inbox runner loads, with one query each, what handlers would otherwise ask per message.

While a chunk of messages is handled (one transaction), `session.info[KEY]` holds people, list members, their
registrations, existing reply keys and forgotten addresses of the chunk's senders. The lookup functions in
db/registry.py, db/members.py and mailer/letters.py answer from it when it knows the answer and query otherwise;
whatever they create is added. Any rollback drops it (runner), so it never outlives what the session holds.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import Forgotten, Meeting, Member, OutboundMessage, Person, Registration

KEY = "pioniers.lookups"


@dataclass
class Lookups:
    people: dict[str, Person | None] = field(default_factory=dict)  # email -> person (None: known absent)
    members: dict[str, Member | None] = field(default_factory=dict)
    # person (the object: a new one has no id before the flush) -> meeting id -> registration
    registrations: dict[Person, dict[int, Registration]] = field(default_factory=dict)
    keys: dict[str, bool] = field(default_factory=dict)  # outbox key -> exists
    forgotten: dict[str, bool] = field(default_factory=dict)  # address hash -> exists
    locked: dict[dt.date, Meeting] = field(default_factory=dict)  # meetings locked (FOR UPDATE) in this transaction
    # (meeting id, status) -> registrations: counted once under the meeting's lock, then kept up to date by
    # db/registry.py (a count per message, over a waiting list that grows with the burst, was quadratic)
    counts: dict[tuple[int, str], int] = field(default_factory=dict)

    def registration(self, meeting_id: int, person: Person) -> tuple[bool, Registration | None]:
        regs = self.registrations.get(person)
        if regs is None:
            return False, None
        return True, regs.get(meeting_id)

    # people created in this chunk as pending rows (db/pending.py): find_person reads them back from the database
    pending_people: set[str] = field(default_factory=set)

    def added_pending_person(self, person: Person) -> None:
        self.people[person.email] = person
        self.pending_people.add(person.email)
        self.registrations[person] = {}  # a new person has none yet

    def is_pending(self, person: Person) -> bool:
        return person.id is None and person.email in self.pending_people

    def added_registration(self, reg: Registration, person: Person) -> None:
        if person in self.registrations:
            self.registrations[person][reg.meeting_id] = reg


def get(session: Session) -> Lookups | None:
    return session.info.get(KEY)


def drop(session: Session) -> None:
    session.info.pop(KEY, None)


def load(session: Session, emails: Iterable[str], keys: Iterable[str], hashes: Iterable[str]) -> Lookups:
    emails, keys, hashes = set(emails), set(keys), set(hashes)
    lk = Lookups(people=dict.fromkeys(emails), members=dict.fromkeys(emails), keys=dict.fromkeys(keys, False),
                 forgotten=dict.fromkeys(hashes, False))
    if emails:
        by_id: dict[int, Person] = {}
        for person in session.scalars(select(Person).where(Person.email.in_(emails))):
            lk.people[person.email] = person
            lk.registrations[person] = {}
            by_id[person.id] = person
        if by_id:
            for reg in session.scalars(select(Registration).where(Registration.person_id.in_(set(by_id)))):
                lk.registrations[by_id[reg.person_id]][reg.meeting_id] = reg
        for member in session.scalars(select(Member).where(Member.email.in_(emails))):
            lk.members[member.email] = member
    if keys:
        for key in session.scalars(select(OutboundMessage.key).where(OutboundMessage.key.in_(keys))):
            lk.keys[key] = True
    if hashes:
        for h in session.scalars(select(Forgotten.address_hash).where(Forgotten.address_hash.in_(hashes))):
            lk.forgotten[h] = True
    session.info[KEY] = lk
    return lk
