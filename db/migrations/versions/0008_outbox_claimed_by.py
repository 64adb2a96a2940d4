"""outbound_messages: claimed_by, so a reply is held by a named process as a list delivery is

A claim names its holder (host:pid); when that process is gone its claims are free at once instead of after the
lease (mailer/states.py).

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("outbound_messages", sa.Column("claimed_by", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbound_messages") as batch:  # SQLite drops a column only by copying the table
        batch.drop_column("claimed_by")
