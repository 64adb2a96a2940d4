"""The tables: meetings, people, registrations, and the inbound/outbound message ledgers."""
from __future__ import annotations

import datetime as dt
from typing import cast

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

# Each status column holds one StrEnum of db/states.py (named in its comment).
from db.states import DeliveryStatus, MeetingStatus, OutboundStatus


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes on every backend (SQLite would otherwise hand back naive ones)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: object) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: object) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.timezone.utc)


class Base(DeclarativeBase):
    pass


def table(model: type[Base]) -> Table:
    """A model's Table for Core statements (typed as one: `__table__` is typed as any FromClause)."""
    return cast(Table, model.__table__)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class Meeting(Base):
    __tablename__ = "meetings"

    id: Mapped[int] = mapped_column(primary_key=True)
    date: Mapped[dt.date] = mapped_column(Date, unique=True)
    start: Mapped[str] = mapped_column(String(5))  # "HH:MM", local time of the network
    end: Mapped[str] = mapped_column(String(5))
    location: Mapped[str] = mapped_column(Text, default="")
    host: Mapped[str] = mapped_column(Text, default="")
    theme: Mapped[str] = mapped_column(Text, default="")
    capacity: Mapped[int | None] = mapped_column(Integer, nullable=True)
    uid: Mapped[str] = mapped_column(String(200), unique=True)  # iCalendar UID, stable for the meeting
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(20), default=MeetingStatus.SCHEDULED)  # db.states.MeetingStatus
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=_utcnow)
    # The host's own contact, who gets the attendee list ([network] host_list_days before); when it went out.
    host_contact: Mapped[str] = mapped_column(String(320), default="", server_default="")
    host_list_sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    registrations: Mapped[list[Registration]] = relationship(back_populates="meeting")


class Person(Base):
    __tablename__ = "people"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # always lower case
    name: Mapped[str] = mapped_column(Text, default="")
    organisation: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=_utcnow)
    # Who is who (network/profiles.py): pioneer | learner | meedenker | '' and one line on their work.
    role: Mapped[str] = mapped_column(String(20), default="", server_default="")
    topic: Mapped[str] = mapped_column(Text, default="", server_default="")
    share_consent: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    consent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    registrations: Mapped[list[Registration]] = relationship(back_populates="person")


class Registration(Base):
    __tablename__ = "registrations"
    __table_args__ = (UniqueConstraint("meeting_id", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(20))  # db.states.RegistrationStatus
    partstat: Mapped[str] = mapped_column(String(20), default="NEEDS-ACTION")  # from calendar replies
    note: Mapped[str] = mapped_column(Text, default="", server_default="")  # a need for the host: "vegetarisch"
    registered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    attended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)  # checked in: they came

    meeting: Mapped[Meeting] = relationship(back_populates="registrations")
    person: Mapped[Person] = relationship(back_populates="registrations")


class InboundMessage(Base):
    """One row per message seen in the inbox, written before it is acted on."""

    __tablename__ = "inbound_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    message_id: Mapped[str] = mapped_column(Text, default="", index=True)
    folder: Mapped[str] = mapped_column(Text, default="")
    uidvalidity: Mapped[int] = mapped_column(Integer, default=0)
    uid: Mapped[str] = mapped_column(String(200), default="")
    sender: Mapped[str] = mapped_column(String(320), default="", index=True)
    subject: Mapped[str] = mapped_column(Text, default="")
    outcome: Mapped[str] = mapped_column(String(30), default="received")  # received | processed | attention
    reason: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    processed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    meeting_id: Mapped[int | None] = mapped_column(
        ForeignKey("meetings.id", ondelete="SET NULL"), nullable=True
    )
    raw: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # An organiser acted on it (`pioniers messages resolve`, or the desk by mail): when, and what they did.
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    resolution: Mapped[str] = mapped_column(Text, default="", server_default="")


class OutboundMessage(Base):
    """The outbox: a row with an idempotency key exists before anything is sent."""

    __tablename__ = "outbound_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)
    recipient: Mapped[str] = mapped_column(String(320), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(Text, default="")
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    auto_reply: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20), default=OutboundStatus.QUEUED, index=True)  # OutboundStatus
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())  # also the lease of a claimed row
    claimed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)  # host:pid of the sending process
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class FolderState(Base):
    """Where the inbox reader is: (UIDVALIDITY, last UID) per folder."""

    __tablename__ = "folder_state"

    folder: Mapped[str] = mapped_column(String(200), primary_key=True)
    uidvalidity: Mapped[int] = mapped_column(Integer, default=0)
    last_uid: Mapped[int] = mapped_column(Integer, default=0)


class ServiceLock(Base):
    """Only one inbox consumer at a time; a stale heartbeat may be taken over."""

    __tablename__ = "service_locks"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    heartbeat_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class Forgotten(Base):
    """Addresses forgotten on request (AVG), kept only as a hash so we never mail them again."""

    __tablename__ = "forgotten"

    address_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    forgotten_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


# --- the mailing list ------------------------------------------------------------------------------


class Member(Base):
    """One address on the network's mailing list. Rows stay after unsubscribing: a 'no' is remembered."""

    __tablename__ = "list_members"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # always lower case
    name: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), index=True)  # db.states.MemberStatus
    source: Mapped[str] = mapped_column(String(20), default="")  # registration | request | organiser | import
    token: Mapped[str] = mapped_column(String(40), unique=True)  # unsubscribe / VERP token, per member
    bounces: Mapped[int] = mapped_column(Integer, default=0)  # permanent failures seen
    last_bounce_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class Announcement(Base):
    """One post to the list: held until an organiser approves it, then fanned out as Delivery rows."""

    __tablename__ = "announcements"

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(20), index=True)  # db.states.AnnouncementStatus
    subject: Mapped[str] = mapped_column(Text, default="")
    posted_by: Mapped[str] = mapped_column(String(320), default="")  # the organiser ('' from the CLI)
    meeting_id: Mapped[int | None] = mapped_column(ForeignKey("meetings.id", ondelete="SET NULL"), nullable=True)
    prepared: Mapped[bytes] = mapped_column(LargeBinary)  # the member message with per-member placeholders
    recipients: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    approved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Delivery(Base):
    """One member's copy of one announcement; written (queued) before anything is sent."""

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("announcement_id", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    announcement_id: Mapped[int] = mapped_column(ForeignKey("announcements.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("list_members.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(20), default=DeliveryStatus.QUEUED)  # db.states.DeliveryStatus
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())  # also the lease of a claimed row
    claimed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)  # host:pid of the sending worker
    last_error: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


Index("ix_deliveries_due", Delivery.status, Delivery.next_attempt_at, Delivery.id)
Index("ix_deliveries_announcement", Delivery.announcement_id, Delivery.status)
# Claims take the lowest queued ids: walking this index avoids sorting every queued row of a 100k list.
Index("ix_deliveries_status_id", Delivery.status, Delivery.id)


class ListToken(Base):
    """Single-use tokens mailed to someone (approve a post, confirm a subscription); stored only as a hash."""

    __tablename__ = "list_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(20))  # approve | confirm
    email: Mapped[str] = mapped_column(String(320), index=True)  # only a reply from this address counts
    announcement_id: Mapped[int | None] = mapped_column(
        ForeignKey("announcements.id", ondelete="CASCADE"), nullable=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


# --- the network: theme polls and statistics (network/polls.py, network/stats.py) ------------------


class Poll(Base):
    """A theme poll for one meeting; members vote by replying to its announcement (nieuws+poll-ID@)."""

    __tablename__ = "polls"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)  # db.states.PollStatus
    subject: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(320), default="")  # the organiser ('' from the CLI)
    closes_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)  # last day votes count
    announcement_id: Mapped[int | None] = mapped_column(
        ForeignKey("announcements.id", ondelete="SET NULL"), nullable=True
    )
    winner_option_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class PollOption(Base):
    __tablename__ = "poll_options"
    __table_args__ = (UniqueConstraint("poll_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    poll_id: Mapped[int] = mapped_column(ForeignKey("polls.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)  # 1, 2, 3 ... as members see them
    text: Mapped[str] = mapped_column(Text)
    final_votes: Mapped[int | None] = mapped_column(Integer, nullable=True)  # kept when the votes are purged


class Vote(Base):
    """One vote per address per poll; a new vote replaces the old one (revision counts the changes)."""

    __tablename__ = "votes"
    __table_args__ = (UniqueConstraint("poll_id", "email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    poll_id: Mapped[int] = mapped_column(ForeignKey("polls.id", ondelete="CASCADE"))
    option_id: Mapped[int] = mapped_column(ForeignKey("poll_options.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320), index=True)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class Proposal(Base):
    """A theme a member proposed in reply to a poll ("voorstel: ..."); the organisers see it."""

    __tablename__ = "proposals"

    id: Mapped[int] = mapped_column(primary_key=True)
    poll_id: Mapped[int] = mapped_column(ForeignKey("polls.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320), index=True)
    name: Mapped[str] = mapped_column(Text, default="")
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class MeetingSummary(Base):
    """A meeting's figures without personal data, written before its registrations are purged."""

    __tablename__ = "meeting_summaries"

    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), primary_key=True)
    registrations: Mapped[int] = mapped_column(Integer, default=0)
    attended: Mapped[int] = mapped_column(Integer, default=0)  # checked in where recorded, else confirmed
    roles: Mapped[str] = mapped_column(Text, default="{}")  # JSON {role: attendees}; "(checked in)": 1 if so
    organisations: Mapped[str] = mapped_column(Text, default="{}")  # JSON {organisation: attendees}
    archived_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


# The reply limit counts the last hour's automatic replies once per chunk: without it, a scan of the outbox.
Index("ix_outbound_auto_created", OutboundMessage.auto_reply, OutboundMessage.created_at)
