"""Every status a row can have, one StrEnum per table, so a status is a name the type checker knows, not a string.

The values are what is stored (String(20) columns), so data and SQL are unchanged; a member compares and hashes
as its string. The outbox's life (queued, held by a process, waiting, sent, failed) and its one retry policy are
in mailer/states.py; here are only the stored words.
"""
from __future__ import annotations

from enum import StrEnum


class MeetingStatus(StrEnum):
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"


class RegistrationStatus(StrEnum):
    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"


class OutboundStatus(StrEnum):
    """A reply in the outbox (OutboundMessage)."""

    QUEUED = "queued"  # not tried yet, or not tried because the server was unreachable
    WAITING = "waiting"  # the server refused for now (4xx: quota, rate, greylisting): due again later
    SENT = "sent"
    FAILED = "failed"  # refused for good (5xx), or temporarily for too long; the answer is in last_error


class DeliveryStatus(StrEnum):
    """One member's copy of an announcement: the outbox's states, and skipped."""

    QUEUED = "queued"
    WAITING = "waiting"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"  # the member left before their copy went out


class MemberStatus(StrEnum):
    PENDING = "pending"  # asked to join, not confirmed yet
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    DISABLED = "disabled"  # too many permanent bounces


class AnnouncementStatus(StrEnum):
    HELD = "held"  # waiting for an organiser's approval
    SENDING = "sending"
    SENT = "sent"
    DISCARDED = "discarded"


class PollStatus(StrEnum):
    OPEN = "open"
    CLOSING = "closing"  # no vote counts any more; the result is being sent (a crash here is finished next run)
    CLOSED = "closed"
    DISCARDED = "discarded"
