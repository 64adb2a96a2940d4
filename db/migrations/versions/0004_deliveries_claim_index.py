"""deliveries: index for claiming the lowest queued ids

Revision ID: 0004
Revises: 0003
"""
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_deliveries_status_id", "deliveries", ["status", "id"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_status_id", table_name="deliveries")
