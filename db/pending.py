"""Rows inserted with Core in batches: they wait in the session and go in with one multi-row INSERT per table
before the session's next query or commit, so nothing in the transaction ever misses one.

For rows nothing reads back as an ORM object in the same transaction (outbox rows, registrants joining the
list, new people and their registrations): a burst adds thousands, and the unit of work's bookkeeping per object
cost more than the INSERT. A row goes into a table, or into an INSERT statement of its own (one that looks up a
foreign key by a natural key, so no id has to be read back).
A rollback drops them with everything else; the inbox runner writes them before each savepoint, so a savepoint
rolled back drops only its own message's rows.
"""
from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Insert, MetaData, Table, event, insert
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction

KEY = "pioniers.pending"
BATCH = 100  # rows per table held at most


def add(session: Session, target: Table | Insert, row: dict[str, Any]) -> None:
    rows = session.info.setdefault(KEY, {}).setdefault(target, [])
    rows.append(row)
    if len(rows) >= BATCH:
        write(session)


def write(session: Session) -> None:
    """INSERT every waiting row now, parent tables before the tables whose foreign keys point at them."""
    pending: dict[Table | Insert, list[dict[str, Any]]] | None = session.info.pop(KEY, None)
    if pending:
        conn = session.connection()
        for target in sorted(pending, key=_rank):
            conn.execute(insert(target) if isinstance(target, Table) else target, pending[target])


def _rank(target: Table | Insert) -> int:
    table = target if isinstance(target, Table) else target.table
    assert isinstance(table, Table)
    return _foreign_key_order(table.metadata)[table]


@functools.cache  # the schema does not change while we run
def _foreign_key_order(metadata: MetaData) -> dict[Table, int]:
    return {table: i for i, table in enumerate(metadata.sorted_tables)}


@event.listens_for(Session, "do_orm_execute")
def _before_query(state: ORMExecuteState) -> None:
    if state.session.info.get(KEY):
        write(state.session)


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    write(session)


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, _previous: SessionTransaction) -> None:
    session.info.pop(KEY, None)
