"""The migrations build exactly the schema the models describe, on both databases, and are safe to rerun."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from db.migrate import upgrade
from db.models import Base
from db.session import make_engine


def test_migrations_match_the_models(db_url):
    engine = make_engine(db_url)
    upgrade(engine)
    upgrade(engine)  # `pioniers init` twice
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    engine.dispose()
