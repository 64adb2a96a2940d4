"""Engine and session factory; SQLite gets the pragmas that make it a safe embedded default."""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Connection, CursorResult, Engine, Executable, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str, base_dir: Path | None = None) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database
        if db and db != ":memory:" and not Path(db).is_absolute() and base_dir is not None:
            db = str(base_dir / db)
            parsed = parsed.set(database=db)
        if db and db != ":memory:":
            Path(db).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(conn: sqlite3.Connection, _record: object) -> None:
            # pysqlite's own transaction handling defers BEGIN; we issue BEGIN IMMEDIATE ourselves
            # so two writers queue on the lock instead of failing with "database is locked".
            conn.isolation_level = None
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            # A burst writes ~10 kB per message (the mail in, the reply out): checkpoints every 40 MB instead of
            # 4 MB are fewer fsyncs, and during a burst the sending process checkpoints meanwhile (background.py).
            cur.execute("PRAGMA wal_autocheckpoint=10000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            # A connection marked sqlite_reader only reads: in WAL mode a plain BEGIN takes no lock at all.
            conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get("sqlite_reader") else "BEGIN IMMEDIATE")

        return engine
    return create_engine(parsed, pool_pre_ping=True)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def rowcount(session: Session, statement: Executable) -> int:
    """Rows an UPDATE or DELETE changed (it gives a CursorResult; Session.execute is typed as returning Result)."""
    return cast(CursorResult[Any], session.execute(statement)).rowcount or 0


def place(url: str, base_dir: Path | None = None) -> str:
    """Where the database lives, as a person looks for it: the SQLite file's folder, or the server."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        db = Path(parsed.database or ".")
        return str((base_dir / db if base_dir is not None and not db.is_absolute() else db).resolve().parent)
    return f"{parsed.host}:{parsed.port or 5432}"


def first_line(exc: Exception) -> str:
    """The driver's own first line of a database error (SQLAlchemy wraps it in more lines)."""
    orig = getattr(exc, "orig", None) or exc
    return (str(orig).strip().splitlines() or [type(orig).__name__])[0][:200]


def explain(exc: Exception, where: str = "") -> str:
    """One line for a database error a person can act on: a full disk (named), an unreachable server, a missing
    schema. where: place() of the database."""
    reason = first_line(exc)
    if any(said in reason for said in ("disk is full", "No space left", "could not extend file", "disk I/O error")):
        # SQLite says "disk I/O error" when its WAL cannot grow on a full disk
        return (f"the disk holding the database is full or cannot be written ({where or 'see [database] url'}): "
                "free space there; the service carries on by itself once there is room, and nothing that was "
                "received is lost")
    if "no such table" in reason or "does not exist" in reason and "relation" in reason:
        return f"the database has no schema yet ({reason}): run 'pioniers init'"
    return f"database problem ({reason}): check [database] url"
