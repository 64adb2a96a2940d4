"""The outbox: rows first, sending after commit; its states and retry policy are mailer/states.py's."""
from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage

from sqlalchemy import Connection, Engine, bindparam, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from base.process import holder_id
from db import lookups, pending, registry
from db.models import OutboundMessage, table
from db.states import OutboundStatus
from mailer import sentlog, states
from mailer.states import POLICY, OutboxState
from mailer.transport import LIMIT_SAID, SendError, Transport

log = logging.getLogger("pioniers.outbox")

_TABLE = table(OutboundMessage)
BATCH = 200
MAX_CLAIM = 5000  # rows leased at once at most


def queue(session: Session, *, key: str, recipient: str, kind: str, message: EmailMessage | bytes,
          now: dt.datetime, secret: bytes, auto_reply: bool = False, subject: str = "", checked: bool = False) -> bool:
    """Add a message to the outbox unless one with this key exists (checked: the caller just looked). True when added."""
    if not checked and session.scalar(select(OutboundMessage.id).where(OutboundMessage.key == key)) is not None:
        return False
    if not auto_reply and registry.is_forgotten(session, secret, recipient):
        return False  # forgotten on request: only their own new mail is ever answered
    if isinstance(message, EmailMessage):
        subject = subject or str(message.get("Subject", ""))
        message = message.as_bytes()
    if (lk := lookups.get(session)) is not None:
        lk.keys[key] = True
    pending.add(session, _TABLE, {  # written with the session's next query or commit (db/pending.py)
        "key": key, "recipient": recipient, "kind": kind, "subject": subject[:500], "raw": message,
        "auto_reply": auto_reply, "status": OutboundStatus.QUEUED, "attempts": 0, "next_attempt_at": now,
        "last_error": "", "created_at": now})
    return True


def auto_replies_since(session: Session, since: dt.datetime, recipient: str | None = None) -> int:
    query = select(func.count(OutboundMessage.id)).where(
        OutboundMessage.auto_reply.is_(True), OutboundMessage.created_at >= since
    )
    if recipient is not None:
        query = query.where(OutboundMessage.recipient == recipient)
    return session.scalar(query) or 0


def sent_since(session: Session, kind: str, recipient: str, since: dt.datetime) -> int:
    """How many letters of this kind (a template's name) went to an address since then: refusals once a day."""
    return session.scalar(select(func.count(OutboundMessage.id)).where(
        OutboundMessage.kind == kind, OutboundMessage.recipient == recipient,
        OutboundMessage.created_at >= since)) or 0


def auto_replies_per_address(session: Session, since: dt.datetime, recipients: set[str]) -> dict[str, int]:
    """auto_replies_since for many recipients at once (those with none are left out)."""
    query = select(OutboundMessage.recipient, func.count(OutboundMessage.id)).where(
        OutboundMessage.auto_reply.is_(True), OutboundMessage.created_at >= since,
        OutboundMessage.recipient.in_(recipients)).group_by(OutboundMessage.recipient)
    return {recipient: n for recipient, n in session.execute(query)}


@dataclass
class DeliveryStats:
    sent: int = 0
    retry: int = 0
    failed: int = 0
    paused: str = ""  # why the rest waits: a limit reached (what is due then goes the next time)

    def add(self, other: DeliveryStats) -> None:
        self.sent, self.retry, self.failed = self.sent + other.sent, self.retry + other.retry, self.failed + other.failed
        self.paused = self.paused or other.paused

    def count(self, state: OutboxState) -> None:
        """retry: every state but sent and failed (waiting, or queued again untried)."""
        if state == OutboxState.SENT:
            self.sent += 1
        elif state == OutboxState.FAILED:
            self.failed += 1
        else:
            self.retry += 1


def _claim(session: Session, worker: str, now: dt.datetime, limit: int,
           auto_room: int | None = None) -> list[tuple[int, str, dt.datetime]]:
    """Hold up to `limit` due rows for `worker`: (id, recipient, created_at). The bodies are read a slice at a
    time. auto_room: how many automatic replies may still go out this hour (None: no pace); the others wait, due."""
    queries = []
    for condition in states.due(OutboundMessage, now):
        base = (select(OutboundMessage.id, OutboundMessage.recipient, OutboundMessage.created_at)
                .where(*condition).order_by(OutboundMessage.id))
        queries += [base.limit(limit)] if auto_room is None else [
            base.where(OutboundMessage.auto_reply.is_(False)).limit(limit),
            base.where(OutboundMessage.auto_reply.is_(True)).limit(min(limit, max(auto_room, 0)))]
    rows: list[tuple[int, str, dt.datetime]] = []
    for query in queries:
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)  # several workers share the outbox
        rows += [(r.id, r.recipient, r.created_at) for r in session.execute(query)]
    rows = sorted(rows)[:limit]
    ids = [r[0] for r in rows]
    for i in range(0, len(ids), 500):  # SQLite's bound-parameter limit
        session.execute(update(OutboundMessage).where(OutboundMessage.id.in_(ids[i:i + 500]))
                        .values(**states.hold(worker, now)))
    return rows


def _auto_room(session: Session, now: dt.datetime, per_hour: int) -> int | None:
    """Automatic replies that may still be sent in the hour up to now ([limits] replies_per_hour): a flood of
    replies is paced, never dropped. None when there is no limit."""
    if per_hour <= 0:
        return None
    sent = session.scalar(select(func.count(OutboundMessage.id)).where(
        OutboundMessage.auto_reply.is_(True), OutboundMessage.status == OutboundStatus.SENT,
        OutboundMessage.sent_at >= now - dt.timedelta(hours=1))) or 0
    return max(per_hour - sent, 0)


def _bodies(conn: Connection, ids: list[int]) -> dict[int, bytes]:
    with conn.begin():
        return {i: raw for i, raw in conn.execute(
            select(OutboundMessage.id, OutboundMessage.raw).where(OutboundMessage.id.in_(ids)))}


# Built once (bound parameters): constructing the statement per message cost as much as executing it.
_MARK_SENT = (update(OutboundMessage).where(OutboundMessage.id == bindparam("row_id"))
              .values(**states.sent(OutboundMessage, bindparam("now"))))


def _mark_sent(conn: Connection, row_id: int, now: dt.datetime) -> None:
    """One accepted message marked at once (Core, on a held connection: cheap), so a crash repeats at most the
    message in flight."""
    with conn.begin():
        conn.execute(_MARK_SENT, {"row_id": row_id, "now": now})


def _settle(sm: sessionmaker[Session], row_id: int, reply: str, now: dt.datetime, *, created: dt.datetime,
            temporary: bool | None) -> OutboxState:
    """Record a refusal (temporary: the server's kind of answer) or a row given back untried (None); returns the
    row's state after it (mailer/states.py decides: waiting, failed, or as it was)."""
    with sm.begin() as session:
        row = session.get(OutboundMessage, row_id)
        attempts = row.attempts if row is not None else 0
        values = (states.not_tried(reply, attempts=attempts, now=now) if temporary is None else
                  states.refused(reply, temporary=temporary, attempts=attempts + 1, since=created, now=now))
        if row is not None:  # None: forgotten (AVG) meanwhile
            for column, value in values.items():
                setattr(row, column, value)
    state = OutboxState(values.get("status", OutboxState.QUEUED))
    if state == OutboxState.FAILED:
        log.warning("outbox: message %s failed permanently: %s", row_id, reply)  # the row names the recipient
    return state


def _claim_size(sent: int, seconds: float) -> int:
    """Rows leased at once: what this sender manages in a tenth of the lease (fewer claims, so on SQLite fewer
    waits for the one writer), at least BATCH, so a slow server never outlives its lease."""
    if sent == 0 or seconds <= 0:
        return BATCH
    return max(BATCH, min(MAX_CLAIM, int(sent / seconds * POLICY.lease.total_seconds() / 10)))


@contextlib.contextmanager
def _sending_connection(engine: Engine) -> Iterator[Connection]:
    """The connection that reads bodies and marks sends while a batch goes out."""
    with engine.connect() as conn:
        if conn.dialect.name != "postgresql":
            yield conn.execution_options(sqlite_reader=True)  # reads the bodies without the write lock
            return
        # The mark is one UPDATE, atomic on its own: autocommit makes it one round trip, not three (BEGIN,
        # UPDATE, COMMIT). Without waiting for the WAL flush, too: once execute returns the mark survives this
        # process being killed, as SQLite's sent log does; only a crash of the database server itself could lose
        # its last fraction of a second (an fsync per message capped sending at the disk's fsync rate).
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.exec_driver_sql("SET synchronous_commit TO off")
        conn.commit()  # ends SQLAlchemy's implicit transaction (autocommit: nothing to commit)
        try:
            yield conn
        finally:
            if not conn.invalidated:
                conn.exec_driver_sql("RESET synchronous_commit")  # back to the pool as it came
                conn.commit()


def _apply_sent_log(engine: Engine, log_: sentlog.SentLog | None, now: dt.datetime) -> None:
    if log_ is not None:
        with engine.connect() as writer:
            log_.apply(writer, now)


def deliver_due(sm: sessionmaker[Session], transport: Transport, sender: str,
                now: Callable[[], dt.datetime], batch: int = BATCH, replies_per_hour: int = 0,
                provider: states.ProviderLimits = states.ProviderLimits(),
                progress: Callable[[DeliveryStats], None] | None = None) -> DeliveryStats:
    """Send every due message, automatic replies at most replies_per_hour in any hour (0: no pace); returns what
    happened. Never raises for SMTP trouble. progress(stats so far) after each message (a command's bar)."""
    stats = DeliveryStats()
    engine = sm.kw["bind"]
    path = sentlog.path_for(engine)
    log_ = sentlog.SentLog(path) if path else None
    limit, started, worker, released = batch, time.monotonic(), holder_id(), False
    try:
        with _sending_connection(engine) as conn:
            while True:
                _apply_sent_log(engine, log_, now())  # what is noted is never claimed again
                with sm.begin() as session:
                    room = _auto_room(session, now(), replies_per_hour)
                    allowed = states.provider_room(session, provider, now())
                    if allowed == 0:
                        stats.paused = "the provider's limit ([limits] messages_per_minute, recipients_per_day)"
                        log.info("outbox: %s reached; the rest waits for it", stats.paused)
                        return stats
                    limit = limit if allowed is None else min(limit, allowed)
                    claimed = _claim(session, worker, now(), limit, room)
                    if not claimed and not released:
                        # Drained: rows a killed sender held go now too. Looked for here, where few rows are left,
                        # not before every claim of a burst (on SQLite claimed_by is read past each row's body).
                        released = True
                        if states.release_dead_claims(session, OutboundMessage, now()):
                            claimed = _claim(session, worker, now(), limit, room)
                if not claimed:
                    return stats
                down = _send_claimed(sm, conn, transport, sender, now, claimed, stats, log_, progress)
                if down:
                    log.warning("outbox: %s; %d message(s) stay queued and will be retried", down, stats.retry)
                    stats.paused = down if down.startswith(LIMIT_SAID) else ""
                    return stats
                limit = _claim_size(stats.sent, time.monotonic() - started)
    finally:
        _apply_sent_log(engine, log_, now())  # nothing noted outlives this call when it can help it
        if log_ is not None:
            log_.close()


def _send_claimed(sm: sessionmaker[Session], conn: Connection, transport: Transport, sender: str,
                  now: Callable[[], dt.datetime], claimed: list[tuple[int, str, dt.datetime]],
                  stats: DeliveryStats, log_: sentlog.SentLog | None,
                  progress: Callable[[DeliveryStats], None] | None = None) -> str:
    """Send leased rows a slice at a time; returns why the connection is down, or ''."""
    down = ""
    for i in range(0, len(claimed), BATCH):
        part = claimed[i:i + BATCH]
        bodies = _bodies(conn, [row_id for row_id, _, _ in part]) if not down else {}
        for row_id, rcpt, created in part:
            if down or row_id not in bodies:  # down: retried later; missing: forgotten (AVG) meanwhile
                if down:
                    _settle(sm, row_id, states.NOT_TRIED_DOWN, now(), created=created, temporary=None)
                    stats.retry += 1
                continue
            try:
                transport.send(sender, rcpt, bodies[row_id])
            except SendError as exc:
                state = _settle(sm, row_id, exc.reply, now(), created=created, temporary=exc.temporary)
                if exc.connection:
                    down = exc.reply
            except Exception as exc:  # noqa: BLE001 - one message's failure is that message's outcome
                log.exception("outbox: message %s could not be sent", row_id)
                transport.abort()  # what the connection was in the middle of is unknown
                state = _settle(sm, row_id, f"could not be sent: {type(exc).__name__}: {exc}", now(),
                                created=created, temporary=False)
            else:
                state = OutboxState.SENT
                if log_ is not None:
                    log_.note(row_id)
                else:
                    _mark_sent(conn, row_id, now())
            stats.count(state)
            if progress is not None:
                progress(stats)
    return down

