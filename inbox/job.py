"""What a handler gets for one message (Job), and the limits on automatic replies that every handler keeps."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from db.app import App
from inbox.decision import Decision
from inbox.message import Incoming
from mailer.outbox import auto_replies_per_address, auto_replies_since


@dataclass
class Job:
    """Everything a handler needs for one message."""

    app: App
    session: Session
    msg: Incoming
    decision: Decision
    row_id: int  # the message's identity row
    budget: ReplyBudget | None = None

    @property
    def now(self) -> dt.datetime:
        return self.app.now()


class ReplyBudget:
    """How many automatic replies may still go out: per address per day, and overall per hour.

    Counted once per batch from the outbox, then kept up to date in memory (a count per message would be slow).
    """

    def __init__(self, app: App, session: Session) -> None:
        self.app, self.session = app, session
        self.limits = app.cfg.limits
        self.hour = auto_replies_since(session, app.now() - dt.timedelta(hours=1))
        self.per_address: dict[str, int] = {}
        self._pending: list[str] = []

    def preload(self, addresses: Iterable[str]) -> None:
        """Count the day's replies of a whole chunk's senders in one query."""
        wanted = {a for a in addresses if a and a not in self.per_address}
        if wanted:
            self.per_address.update(dict.fromkeys(wanted, 0))
            self.per_address.update(auto_replies_per_address(
                self.session, self.app.now() - dt.timedelta(days=1), wanted))

    def take(self, address: str) -> str:
        """'' when a reply may go (and counts it), else why not."""
        if address not in self.per_address:
            self.per_address[address] = auto_replies_since(
                self.session, self.app.now() - dt.timedelta(days=1), address)
        if self.per_address[address] >= self.limits.replies_per_address_per_day:
            return "; no reply: daily limit for this address reached"
        if self.hour >= self.limits.replies_per_hour:
            return "; no reply: hourly reply limit reached"
        self.per_address[address] += 1
        self.hour += 1
        self._pending.append(address)
        return ""

    def forget_pending(self) -> None:
        """The message's transaction was rolled back: its replies were never queued."""
        for address in self._pending:
            self.per_address[address] -= 1
            self.hour -= 1
        self._pending.clear()

    def settle(self) -> None:
        self._pending.clear()


def reply_allowed(job: Job) -> tuple[bool, str]:
    """The same limits as every automatic reply (ReplyBudget), counted from the outbox: for the list's and the
    network's replies, whose sender need not be a Person."""
    if not job.decision.may_reply:
        return False, "; no reply sent"
    limits, now = job.app.cfg.limits, job.now
    if auto_replies_since(job.session, now - dt.timedelta(days=1), job.msg.sender) >= limits.replies_per_address_per_day:
        return False, "; no reply: daily limit for this address reached"
    if auto_replies_since(job.session, now - dt.timedelta(hours=1)) >= limits.replies_per_hour:
        return False, "; no reply: hourly reply limit reached"
    return True, ""
