# Shared fixtures. The lead will add database fixtures to this file later.
#
# Real servers, never mocks and never skipped (see tests/servers.py):
#   dovecot   session-wide private Dovecot (IMAP, plaintext, 127.0.0.1, free port)
#   mailbox   a fresh, empty account on it for this test: .host .port .user .password,
#             .append(raw, folder) .messages(folder) .folders() .connect()
#   smtp_sink an aiosmtpd sink recording every message (.messages, .wait_for(n), .fail_with)
from __future__ import annotations

import os

import pytest
from hypothesis import settings

# CI runs the property tests with fixed seeds so a run is repeatable; locally they explore new inputs each time.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

try:
    from servers import Dovecot, Mailbox, SmtpSink
except ImportError:  # tests/ turned into a package
    from tests.servers import Dovecot, Mailbox, SmtpSink


@pytest.fixture(scope="session")
def dovecot(tmp_path_factory) -> Dovecot:
    with Dovecot(tmp_path_factory.mktemp("dovecot")) as server:
        yield server


@pytest.fixture
def mailbox(dovecot: Dovecot) -> Mailbox:
    dovecot.start()  # no-op when running; revives it if an earlier test stopped it
    return dovecot.new_mailbox()


@pytest.fixture
def smtp_sink() -> SmtpSink:
    with SmtpSink() as sink:
        yield sink


# --- database and application fixtures -------------------------------------------------------------
# Every test that takes `db_url` runs twice: on SQLite and on PostgreSQL (127.0.0.1:5432, database test).
import uuid  # noqa: E402

from sqlalchemy import create_engine, text  # noqa: E402

PG_BASE = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'pioniers.db'}"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_BASE)
    with admin.begin() as conn:  # fails loudly when PostgreSQL is not running: never a skip
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    yield f"{PG_BASE}?options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture
def world(tmp_path, db_url, mailbox, smtp_sink):
    """A configured, migrated pioniers App on the real Dovecot mailbox and SMTP sink, with a settable clock."""
    try:
        from helpers import World
    except ImportError:
        from tests.helpers import World
    w = World.create(tmp_path, db_url, mailbox, smtp_sink)
    yield w
    w.close()
