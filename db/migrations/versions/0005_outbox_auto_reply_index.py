"""outbound_messages: index for counting the last hour's automatic replies

Revision ID: 0005
Revises: 0004
"""
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_outbound_auto_created", "outbound_messages", ["auto_reply", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_outbound_auto_created", table_name="outbound_messages")
