"""The framework's first tables: submissions, task instances, meta.

Revision ID: f0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "f0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "framework_submissions",
        sa.Column("id", sa.String(160), primary_key=True),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("wanted", sa.Boolean, nullable=False),
    )
    op.create_table(
        "framework_instances",
        sa.Column("task_id", sa.String(200), primary_key=True),
        sa.Column("submission_id", sa.String(160), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(2000), nullable=True),
        sa.Column("agent_id", sa.String(128), nullable=True),
        sa.Column("hostname", sa.String(253), nullable=True),
        sa.Column("container_id", sa.String(128), nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("by_usage", sa.Boolean, nullable=False),
        sa.Column("killed", sa.Boolean, nullable=False),
        sa.Column("launched_spec", sa.JSON, nullable=True),
    )
    op.create_index("ix_framework_instances_submission_id", "framework_instances",
                    ["submission_id"])
    op.create_table(
        "framework_meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(256), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("framework_meta")
    op.drop_index("ix_framework_instances_submission_id", "framework_instances")
    op.drop_table("framework_instances")
    op.drop_table("framework_submissions")
