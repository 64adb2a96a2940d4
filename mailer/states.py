"""The one outbox state machine, for replies (mailer/outbox.py, OutboundMessage) and list copies
(mailer/fanout.py, Delivery) alike, and its one retry policy.

    queued --claim--> held by host:pid until its lease ends --accepted--> sent
                        | 4xx (quota, rate, greylisting) --> waiting: the answer kept, due after the backoff
                        | 5xx, or temporary past max_age --> failed: the answer kept
                        | not tried: server unreachable --> as it was, due after the backoff (no attempt counted)
                        | not tried: stopping ----------> as it was, due at once (another process may take it)
    waiting --claim--> held ... (as queued)
    held by a process that is gone (same host) --> free at once; by one elsewhere --> free when the lease ends

Held is not a stored status: a row is held while claimed_by names a process and next_attempt_at, its lease, is
still ahead; beneath it the row stays queued or waiting. Both tables have the same columns for this (status,
attempts, next_attempt_at, claimed_by, last_error, sent_at), so one set of transitions serves both.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session

from base.process import dead_here
from db.models import Delivery, OutboundMessage
from db.session import rowcount
from db.states import DeliveryStatus, OutboundStatus

log = logging.getLogger("pioniers.outbox")


class OutboxState(StrEnum):
    """What a row of either outbox is doing; all but HELD are stored as they are (db/states.py)."""

    QUEUED = "queued"
    HELD = "held"
    WAITING = "waiting"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"  # list copies only: the member left first


# The stored words are the same in both tables, so one set of transitions writes either.
assert {*OutboundStatus, *DeliveryStatus} <= {*OutboxState}

UNSENT = (OutboxState.QUEUED, OutboxState.WAITING)  # claims, counts and "done yet?" look for both

Outbox = type[OutboundMessage] | type[Delivery]


@dataclass(frozen=True)
class RetryPolicy:
    lease: dt.timedelta  # a claim of a process that vanished elsewhere is free after this
    max_age: dt.timedelta  # temporary refusals are given up this long after the message was first due
    first_wait: dt.timedelta  # after the first temporary refusal; doubled with every attempt after it
    longest_wait: dt.timedelta

    def backoff(self, attempts: int) -> dt.timedelta:
        """The wait after `attempts` tried sends (capped exponent: a row never overflows a timedelta)."""
        return min(self.first_wait * 2 ** min(max(attempts - 1, 0), 16), self.longest_wait)

    def gives_up(self, since: dt.datetime, now: dt.datetime) -> bool:
        return now - since >= self.max_age


# Five minutes: a claim of a list (hundreds of copies behind a rate limit) must go out well within it; replies
# hold the same. A process that died on this host frees its claims at once (release_dead_claims), so the lease
# only delays recovery from a worker lost on another host.
POLICY = RetryPolicy(lease=dt.timedelta(minutes=5), max_age=dt.timedelta(days=2),
                     first_wait=dt.timedelta(seconds=30), longest_wait=dt.timedelta(minutes=15))

NOT_TRIED_DOWN = "not tried: connection down"
NOT_TRIED_STOPPING = "not tried: stopping"


def state_of(status: str, claimed_by: str | None, next_attempt_at: dt.datetime, now: dt.datetime) -> OutboxState:
    """A row's state by name, for what people read (the CLI)."""
    if status in UNSENT and claimed_by and next_attempt_at > now:
        return OutboxState.HELD
    return OutboxState(status)


def release_dead_claims(session: Session, model: Outbox, now: dt.datetime) -> int:
    """Rows held by a process of this host that is gone are due again at once; returns how many."""
    unsent = model.status.in_(UNSENT)
    holders = session.scalars(select(model.claimed_by).where(unsent, model.claimed_by.is_not(None)).distinct())
    dead = [h for h in holders if h and dead_here(h)]
    if not dead:
        return 0
    due = rowcount(session, update(model).where(unsent, model.claimed_by.in_(dead))
                   .values(claimed_by=None, next_attempt_at=now))
    log.warning("%s: %d message(s) held by stopped process(es) %s are due again", model.__tablename__, due, dead)
    return due


def due(model: Outbox, now: dt.datetime) -> list[tuple[ColumnElement[bool], ColumnElement[bool]]]:
    """The conditions of the claimable rows, one per unsent status: each is claimed lowest id first by walking
    the status index, which an IN of both statuses could not do without sorting every queued row."""
    return [(model.status == status, model.next_attempt_at <= now) for status in UNSENT]


def hold(worker: str, now: dt.datetime) -> dict[str, Any]:
    return {"claimed_by": worker, "next_attempt_at": now + POLICY.lease}


def sent(model: Outbox, now: Any) -> dict[str, Any]:
    """now: a datetime, or a bound parameter for a statement built once."""
    return {"status": OutboxState.SENT, "sent_at": now, "last_error": "", "claimed_by": None,
            "attempts": model.attempts + 1}


def refused(reply: str, *, temporary: bool, attempts: int, since: dt.datetime, now: dt.datetime) -> dict[str, Any]:
    """A tried row that did not go (attempts counts this try): waiting, or failed with the answer. An error of
    our own while sending counts as a permanent refusal of that row alone."""
    if not temporary:
        return {"status": OutboxState.FAILED, "attempts": attempts, "claimed_by": None, "last_error": reply[:1000]}
    if POLICY.gives_up(since, now):
        return {"status": OutboxState.FAILED, "attempts": attempts, "claimed_by": None,
                "last_error": f"gave up: {reply}"[:1000]}
    return {"status": OutboxState.WAITING, "attempts": attempts, "claimed_by": None, "last_error": reply[:1000],
            "next_attempt_at": now + POLICY.backoff(attempts)}


def not_tried(reason: str, *, attempts: int, now: dt.datetime) -> dict[str, Any]:
    """A held row given back untried: its status stays, it is due at once when its sender stops, else it waits
    out the backoff of the attempts it already had (an unreachable server is not hammered)."""
    wait = dt.timedelta(0) if reason == NOT_TRIED_STOPPING else POLICY.backoff(attempts)
    return {"claimed_by": None, "last_error": reason, "next_attempt_at": now + wait}


@dataclass(frozen=True)
class ProviderLimits:
    """What the provider allows for all our sending together ([limits]); 0 = no limit."""

    per_minute: int = 0
    per_day: int = 0


def provider_room(session: Session, limits: ProviderLimits, now: dt.datetime) -> int | None:
    """How many messages may go now within the provider's limits, replies and list copies counted together;
    None when there are none. What does not fit waits, due, for the window to move on."""
    room: int | None = None
    for limit, window in ((limits.per_minute, dt.timedelta(minutes=1)), (limits.per_day, dt.timedelta(days=1))):
        if limit > 0:
            since = now - window
            sent = sum(session.scalar(select(func.count(model.id)).where(
                model.status == OutboxState.SENT, model.sent_at > since)) or 0 for model in (OutboundMessage, Delivery))
            room = max(limit - sent, 0) if room is None else min(room, max(limit - sent, 0))
    return room
