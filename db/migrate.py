"""Create or upgrade the schema with Alembic (safe to run any number of times)."""
from __future__ import annotations

import logging
from pathlib import Path

# Alembic's INFO lines (each plugin as it is imported, each step) are for developers: `pioniers init` prints one.
logging.getLogger("alembic").setLevel(logging.WARNING)

from alembic import command  # noqa: E402 - after quieting its logger, which logs while being imported
from alembic.config import Config as AlembicConfig  # noqa: E402
from alembic.runtime.migration import MigrationContext  # noqa: E402
from alembic.script import ScriptDirectory  # noqa: E402
from sqlalchemy import Engine  # noqa: E402

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def current_revision(engine: Engine) -> str | None:
    """The schema's revision in the database; None for an empty database."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str:
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert head is not None  # the migrations ship with the code
    return head


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Bring the schema to the newest revision: (before, after)."""
    before = current_revision(engine)
    command.upgrade(alembic_config(engine), "head")
    return before, head_revision()
