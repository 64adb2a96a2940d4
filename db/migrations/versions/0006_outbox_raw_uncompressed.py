"""PostgreSQL: store raw mail uncompressed (STORAGE EXTERNAL)

Mail bodies are mostly base64 and quoted-printable: TOAST's compression gains little on them and costs the
server CPU on every insert of a burst.

Revision ID: 0006
Revises: 0005
"""
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_COLUMNS = [("outbound_messages", "raw"), ("inbound_messages", "raw")]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, column in _COLUMNS:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET STORAGE EXTERNAL")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, column in _COLUMNS:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET STORAGE EXTENDED")
