"""Idempotency keys of submissions: a retried POST answers with the task it created.

Revision ID: f0002_idempotency
Revises: f0001
"""

import sqlalchemy as sa
from alembic import op

revision = "f0002_idempotency"
down_revision = "f0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "framework_idempotency",
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("task_id", sa.String(200), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_framework_idempotency_created_at", "framework_idempotency",
                    ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_framework_idempotency_created_at", "framework_idempotency")
    op.drop_table("framework_idempotency")
