"""The outbox: rows first, sending after commit, explicit states (queued -> sent | failed)."""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from db.models import OutboundMessage
from mailer.transport import SendError, Transport

log = logging.getLogger("pioniers.outbox")

LEASE = dt.timedelta(minutes=5)  # a claimed row is retried after this if its sender died
MAX_AGE = dt.timedelta(days=2)  # temporary failures are given up after this long
BATCH = 200


def queue(session: Session, *, key: str, recipient: str, kind: str, message: EmailMessage | bytes,
          now: dt.datetime, auto_reply: bool = False, subject: str = "") -> bool:
    """Add a message to the outbox unless one with this key exists. True when added."""
    if session.scalar(select(OutboundMessage.id).where(OutboundMessage.key == key)) is not None:
        return False
    if isinstance(message, EmailMessage):
        subject = subject or str(message.get("Subject", ""))
        message = message.as_bytes()
    session.add(OutboundMessage(
        key=key, recipient=recipient, kind=kind, subject=subject[:500], raw=message,
        auto_reply=auto_reply, status="queued", attempts=0, next_attempt_at=now, created_at=now,
    ))
    session.flush()
    return True


def auto_replies_since(session: Session, since: dt.datetime, recipient: str | None = None) -> int:
    query = select(func.count(OutboundMessage.id)).where(
        OutboundMessage.auto_reply.is_(True), OutboundMessage.created_at >= since
    )
    if recipient is not None:
        query = query.where(OutboundMessage.recipient == recipient)
    return session.scalar(query) or 0


def backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 900))


@dataclass
class DeliveryStats:
    sent: int = 0
    retry: int = 0
    failed: int = 0


def _claim(session: Session, now: dt.datetime, limit: int) -> list[OutboundMessage]:
    query = (
        select(OutboundMessage)
        .where(OutboundMessage.status == "queued", OutboundMessage.next_attempt_at <= now)
        .order_by(OutboundMessage.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)  # several workers share the outbox
    rows = list(session.scalars(query))
    for row in rows:
        row.next_attempt_at = now + LEASE
    return rows


def deliver_due(sm: sessionmaker[Session], transport: Transport, sender: str,
                now: Callable[[], dt.datetime], batch: int = BATCH) -> DeliveryStats:
    """Send every due message; returns what happened. Never raises for SMTP trouble."""
    stats = DeliveryStats()
    while True:
        with sm.begin() as session:
            rows = _claim(session, now(), batch)
            claimed = [(r.id, r.recipient, r.raw, r.attempts, r.created_at) for r in rows]
        if not claimed:
            return stats
        results: dict[int, tuple[str, str]] = {}
        stop = False
        for row_id, rcpt, raw, attempts, created in claimed:
            if stop:
                results[row_id] = ("retry", "not tried: connection down")
                continue
            try:
                transport.send(sender, rcpt, raw)
                results[row_id] = ("sent", "")
            except SendError as exc:
                if exc.temporary and now() - created < MAX_AGE:
                    results[row_id] = ("retry", exc.reply)
                else:
                    results[row_id] = ("failed", exc.reply)
                stop = exc.connection
        with sm.begin() as session:
            for row in session.scalars(select(OutboundMessage).where(OutboundMessage.id.in_(results))):
                outcome, reply = results[row.id]
                if outcome == "sent":
                    row.status, row.sent_at = "sent", now()
                    row.attempts += 1
                    stats.sent += 1
                elif outcome == "failed":
                    row.status, row.last_error = "failed", reply[:1000]
                    row.attempts += 1
                    stats.failed += 1
                    log.warning("outbox: message %s to %s failed permanently: %s", row.id, row.recipient, reply)
                else:
                    if not reply.startswith("not tried"):
                        row.attempts += 1
                    row.last_error = reply[:1000]
                    row.next_attempt_at = now() + backoff(row.attempts)
                    stats.retry += 1
        if stop:
            log.warning("outbox: SMTP unavailable, %d message(s) will be retried", stats.retry)
            return stats
