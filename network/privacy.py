"""The AVG: forget a person on request, and remove personal data once it is no longer needed."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from base.errors import PioniersError
from base.hashing import address_hash
from base.mentions import mentions
from db.app import App
from db.models import (
    Announcement,
    Delivery,
    Forgotten,
    InboundMessage,
    ListToken,
    Meeting,
    Member,
    OutboundMessage,
    Person,
    Poll,
    Registration,
)
from db.registry import is_forgotten
from db.session import rowcount
from db.states import MemberStatus, OutboundStatus
from network import hostlist, polls, stats


class ForgetError(PioniersError):
    """forget was given something that is not an email address."""


_ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")


def check_address(text: str) -> str:
    email = text.strip().lower()
    if not _ADDRESS.match(email):
        raise ForgetError(f"{text!r} is not an email address: nothing was forgotten")
    return email


@dataclass
class ForgetReport:
    removed: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        return [f"{what}: {count}" for what, count in self.removed.items()]

    @property
    def found(self) -> bool:
        return any(self.removed.values())


def forget(app: App, email: str) -> ForgetReport:
    """Remove everything about this address from the database, also mail that merely mentions it (an
    organiser's preview carries a member's copy); keep only its keyed hash so we never mail it again."""
    email = check_address(email)
    secret = app.cfg.secret
    report = ForgetReport()
    with app.sm.begin() as session:
        person = session.scalar(select(Person).where(Person.email == email))
        regs = 0
        if person is not None:
            # The hosts' lists they are on hold their name and needs in an attachment no search reads.
            meetings = list(session.scalars(select(Registration.meeting_id).where(Registration.person_id == person.id)))
            report.removed["host lists naming them"] = _drop_host_lists(session, meetings)
            regs = rowcount(session, delete(Registration).where(Registration.person_id == person.id))
            session.delete(person)
        report.removed["person"] = int(person is not None)
        report.removed["registrations"] = regs
        report.removed["incoming messages"] = rowcount(session,
            delete(InboundMessage).where(InboundMessage.sender == email))
        report.removed["outgoing messages"] = rowcount(session,
            delete(OutboundMessage).where(OutboundMessage.recipient == email))
        # Mail from or to others that mentions them: inbound rows stay (never processed twice) without content.
        inbound = [i for i, raw, subject, reason in session.execute(
                       select(InboundMessage.id, InboundMessage.raw, InboundMessage.subject, InboundMessage.reason))
                   if email in f"{subject}\n{reason}".lower() or (raw is not None and mentions(raw, email))]
        report.removed["incoming messages mentioning them"] = len(inbound) and rowcount(session,
            update(InboundMessage).where(InboundMessage.id.in_(inbound))
            .values(raw=None, sender="", subject="", reason=""))
        outbound = [i for i, raw in session.execute(select(OutboundMessage.id, OutboundMessage.raw))
                    if mentions(raw, email)]
        report.removed["outgoing messages mentioning them"] = len(outbound) and rowcount(session,
            delete(OutboundMessage).where(OutboundMessage.id.in_(outbound)))
        report.removed["list deliveries"] = rowcount(session, delete(Delivery).where(Delivery.email == email))
        report.removed["list tokens"] = rowcount(session, delete(ListToken).where(ListToken.email == email))
        report.removed["list membership"] = rowcount(session, delete(Member).where(Member.email == email))
        report.removed.update(polls.forget_address(session, email))
        # An organiser who is forgotten: their posts and polls stay, without who made them.
        report.removed["posts and polls by them"] = (
            rowcount(session, update(Announcement).where(Announcement.posted_by == email).values(posted_by=""))
            + rowcount(session, update(Poll).where(Poll.created_by == email).values(created_by="")))
        if not is_forgotten(session, secret, email):
            session.add(Forgotten(address_hash=address_hash(secret, email), forgotten_at=app.now()))
    _scrub_sqlite(app)
    return report


def _scrub_sqlite(app: App) -> None:
    """Deleted rows stay readable in SQLite's free pages and its WAL file until they are overwritten: rebuild
    the file and empty the WAL so the address is really gone from disk. Best effort: a running service may
    hold the WAL open, then the next checkpoint overwrites it. (PostgreSQL: its autovacuum reclaims the space.)"""
    engine = app.sm.kw["bind"]
    if engine.dialect.name != "sqlite":
        return
    raw = engine.raw_connection()  # the DBAPI connection: it runs in autocommit (db/session.py), as VACUUM needs
    try:
        cursor = raw.cursor()
        cursor.execute("VACUUM")
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        cursor.close()
    finally:
        raw.close()


def _drop_host_lists(session: Session, meeting_ids: list[int]) -> int:
    return sum(rowcount(session, delete(OutboundMessage).where(
        OutboundMessage.key.startswith(hostlist.key_prefix(i), autoescape=True))) for i in meeting_ids)


@dataclass
class PurgeReport:
    registrations: int = 0
    people: int = 0
    raw_messages: int = 0
    outgoing: int = 0


def purge_expired(app: App) -> PurgeReport:
    """Remove attendee data and stored mail retention_days after the meeting (and after receipt)."""
    days = app.cfg.network.retention_days
    cutoff_day = app.today() - dt.timedelta(days=days)
    cutoff = app.now() - dt.timedelta(days=days)
    report = PurgeReport()
    with app.sm.begin() as session:
        old_meetings = select(Meeting.id).where(Meeting.date < cutoff_day)
        stats.archive_meetings(session, old_meetings, app.now())  # the figures stay, without names
        polls.purge_votes(session, old_meetings)
        # A host's list carries the needs (possibly health data) in its attachment: it goes with the
        # registrations, whatever its state or age (a list sent late would outlive them otherwise).
        report.outgoing += _drop_host_lists(session, list(session.scalars(old_meetings)))
        report.registrations = rowcount(session, delete(Registration).where(Registration.meeting_id.in_(old_meetings)))
        # Raw bodies and who-said-what go; the row stays so the message is never processed twice.
        report.raw_messages = rowcount(session,
            update(InboundMessage).where(InboundMessage.received_at < cutoff,
                                         or_(InboundMessage.raw.is_not(None), InboundMessage.sender != ""))
            .values(raw=None, sender="", subject="", reason=""))
        report.outgoing += rowcount(session,
            delete(OutboundMessage).where(OutboundMessage.created_at < cutoff,
                                          OutboundMessage.status.in_((OutboundStatus.SENT, OutboundStatus.FAILED))))
        # A person without registrations goes, unless they are (still) on the mailing list.
        keep = select(Registration.person_id)
        members = select(Member.email).where(
            Member.status.in_((MemberStatus.ACTIVE, MemberStatus.PENDING, MemberStatus.DISABLED)))
        candidates = select(Person.id).where(Person.id.not_in(keep), Person.email.not_in(members),
                                             Person.created_at < cutoff)
        report.people = rowcount(session, delete(Person).where(Person.id.in_(candidates)))
    return report

