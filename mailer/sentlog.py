"""The sent log: on SQLite, accepted outbox messages are noted in a small append-only file beside the database,
and applied to the outbox in one transaction per batch.

Why: a message must be recorded as sent the moment the server accepts it (a crash then repeats at most the one in
flight), but SQLite has one writer: a mark per message waits behind the inbox's chunk transaction and starves
the sending. A line appended to a file survives a killed process just as a commit with synchronous=NORMAL does.
Every claim applies what is noted first, so nothing noted is ever claimed and sent again. PostgreSQL marks rows
directly (row locks, no single writer) and has no sent log.
"""
from __future__ import annotations

import datetime as dt
import fcntl
import os
from pathlib import Path

from sqlalchemy import Connection, Engine, Update, bindparam, update

from db.models import Delivery, OutboundMessage
from mailer import states


def _apply_to(model: states.Outbox) -> Update:
    """Only rows not yet marked (a row that waited once and then went is marked as well)."""
    return (update(model).where(model.id.in_(bindparam("ids", expanding=True)), model.status.in_(states.UNSENT))
            .values(**states.sent(model, bindparam("now"))))


_APPLY = {OutboundMessage: _apply_to(OutboundMessage), Delivery: _apply_to(Delivery)}


def path_for(engine: Engine) -> Path | None:
    """Beside a file SQLite database (like its -wal and -shm files); None for PostgreSQL or in-memory SQLite."""
    if engine.dialect.name != "sqlite":
        return None
    db = engine.url.database
    return Path(f"{db}-sent") if db and db != ":memory:" and not db.startswith("file:") else None


class SentLog:
    """Row ids of accepted messages, one per line. Writers and the applier take an exclusive flock, so an id
    appended while another process applies is never truncated away unapplied."""

    def __init__(self, path: Path, model: states.Outbox = OutboundMessage) -> None:
        self.path, self.model = path, model
        self._fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)

    def note(self, row_id: int) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            os.write(self._fd, b"%d\n" % row_id)
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def apply(self, conn: Connection, now: dt.datetime) -> int:
        """Mark every noted id sent in one transaction, then empty the log; returns how many were noted."""
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            if os.fstat(self._fd).st_size == 0:
                return 0
            os.lseek(self._fd, 0, os.SEEK_SET)
            data = b""
            while chunk := os.read(self._fd, 1 << 20):
                data += chunk
            ids = sorted({int(line) for line in data.split() if line.isdigit()})
            with conn.begin():  # committed before the log forgets them
                for i in range(0, len(ids), 500):  # SQLite's bound-parameter limit
                    conn.execute(_APPLY[self.model], {"ids": ids[i:i + 500], "now": now})
            os.ftruncate(self._fd, 0)
            return len(ids)
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        os.close(self._fd)


def list_path(engine: Engine, fallback: Path) -> Path:
    """The list copies' log: beside a SQLite database, else the installation's own file (fallback, in var/). On
    PostgreSQL too: copies are marked in batches, and the log keeps a kill from repeating more than the copy in
    flight on each connection, for the next sender on this machine to apply."""
    beside = path_for(engine)
    return Path(f"{beside}-list") if beside is not None else fallback
