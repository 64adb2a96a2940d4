"""The organiser's desk: the host's contact and when the host's list went out, who came, and how a person resolved
a message that waited for them

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

import db.models

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("meetings", sa.Column("host_contact", sa.String(length=320), server_default="", nullable=False))
    op.add_column("meetings", sa.Column("host_list_sent_at", db.models.UTCDateTime(), nullable=True))
    op.add_column("registrations", sa.Column("attended_at", db.models.UTCDateTime(), nullable=True))
    op.add_column("inbound_messages", sa.Column("resolved_at", db.models.UTCDateTime(), nullable=True))
    op.add_column("inbound_messages", sa.Column("resolution", sa.Text(), server_default="", nullable=False))


def downgrade() -> None:
    for table, columns in (("inbound_messages", ("resolution", "resolved_at")), ("registrations", ("attended_at",)),
                           ("meetings", ("host_list_sent_at", "host_contact"))):
        with op.batch_alter_table(table) as batch:  # SQLite drops a column only by copying the table
            for column in columns:
                batch.drop_column(column)
