"""Rows inserted with Core in batches: they wait in the session and go in with one multi-row INSERT per table
before the session's next query or commit, so nothing in the transaction ever misses one.

For rows nothing reads back as an ORM object in the same transaction (outbox rows, registrants joining the
list): a burst adds thousands, and the unit of work's bookkeeping per object cost more than the INSERT.
A rollback drops them with everything else; the inbox runner writes them before each savepoint, so a savepoint
rolled back drops only its own message's rows.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import Table, event, insert
from sqlalchemy.orm import Session

KEY = "pioniers.pending"
BATCH = 100  # rows per table held at most


def add(session: Session, table: Table, row: dict[str, Any]) -> None:
    rows = session.info.setdefault(KEY, {}).setdefault(table, [])
    rows.append(row)
    if len(rows) >= BATCH:
        write(session)


def write(session: Session) -> None:
    """INSERT every waiting row now (tables in the order they were first added to)."""
    pending: dict[Table, list[dict[str, Any]]] | None = session.info.pop(KEY, None)
    if pending:
        conn = session.connection()
        for table, rows in pending.items():
            conn.execute(insert(table), rows)


@event.listens_for(Session, "do_orm_execute")
def _before_query(state) -> None:  # type: ignore[no-untyped-def]
    if state.session.info.get(KEY):
        write(state.session)


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    write(session)


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, _previous) -> None:  # type: ignore[no-untyped-def]
    session.info.pop(KEY, None)
