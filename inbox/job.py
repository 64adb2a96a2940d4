"""What a handler gets for one message (Job), and the limits on automatic replies that every handler keeps."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from db.app import App
from inbox import decision as d
from inbox.decision import Decision
from inbox.message import Incoming
from inbox.proof import proof
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
    """The one gate for automatic replies: at most [limits] replies_per_address_per_day to one address (a loop
    guard: beyond it a reply is not sent, and the reason says so). The overall replies_per_hour is a pace, kept
    where mail is sent (mailer/outbox.py): a reply over it waits for the next hour, it is never dropped.

    Counted once per chunk from the outbox, then kept up to date in memory (a count per message would be slow).
    """

    def __init__(self, app: App, session: Session) -> None:
        self.app, self.session = app, session
        self.limits = app.cfg.limits
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
        self.per_address[address] += 1
        self._pending.append(address)
        return ""

    def forget_pending(self) -> None:
        """The message's transaction was rolled back: its replies were never queued."""
        for address in self._pending:
            self.per_address[address] -= 1
        self._pending.clear()

    def settle(self) -> None:
        self._pending.clear()


def reply_allowed(job: Job) -> tuple[bool, str]:
    """May this message be answered automatically? Every handler asks here, so every reply counts alike."""
    if not job.decision.may_reply:
        return False, "; no reply sent"
    if job.budget is None:
        job.budget = ReplyBudget(job.app, job.session)
    note = job.budget.take(job.msg.sender)
    return not note, note


def proven(job: Job) -> str:
    """How this message proves its From address ('' when it does not): inbox/proof.py."""
    cfg = job.app.cfg
    # only what proof reads: building the full Context (every meeting) per message would be slow
    ctx = d.Context(network_name=cfg.network.name, own_addresses=frozenset(), own_domain=cfg.domain, meetings=(),
                    today=job.now.date(), authserv_id=cfg.imap.authserv_id or None, secret=cfg.secret)
    return proof(job.msg, ctx)
