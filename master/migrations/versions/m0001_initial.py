"""The master's first tables: agents, frameworks, tasks, status history, metering samples.

Revision ID: m0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "m0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "master_agents",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("hostname", sa.String(253), nullable=False),
        sa.Column("endpoint", sa.String(512), nullable=False),
        sa.Column("attributes", sa.JSON, nullable=False),
        sa.Column("total", sa.JSON, nullable=False),
        sa.Column("spare", sa.JSON, nullable=False),
        sa.Column("registered_at", sa.Float, nullable=False),
        sa.Column("last_seen", sa.Float, nullable=False),
        sa.Column("lost", sa.Boolean, nullable=False),
    )
    op.create_table(
        "master_frameworks",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("user", sa.String(256), nullable=False),
        sa.Column("roles", sa.JSON, nullable=False),
        sa.Column("capabilities", sa.JSON, nullable=False),
        sa.Column("info", sa.JSON, nullable=False),
        sa.Column("registered_at", sa.Float, nullable=False),
        sa.Column("suppressed", sa.Boolean, nullable=False),
        sa.Column("removed", sa.Boolean, nullable=False),
    )
    op.create_table(
        "master_tasks",
        sa.Column("id", sa.String(256), primary_key=True),
        sa.Column("framework_id", sa.String(64), nullable=False, index=True),
        sa.Column("agent_id", sa.String(64), nullable=False, index=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("state", sa.String(16), nullable=False, index=True),
        sa.Column("reason", sa.String(64)),
        sa.Column("message", sa.Text),
        sa.Column("resources", sa.JSON, nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("container_id", sa.String(128)),
        sa.Column("exit_code", sa.Integer),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "master_task_statuses",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("task_id", sa.String(256), nullable=False, index=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64)),
        sa.Column("message", sa.Text),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_table(
        "master_metering_samples",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("task_id", sa.String(256), nullable=False, index=True),
        sa.Column("agent_id", sa.String(64), nullable=False),
        sa.Column("t", sa.Float, nullable=False),
        sa.Column("cpus", sa.Float, nullable=False),
        sa.Column("mem", sa.Float, nullable=False),
    )


def downgrade() -> None:
    for table in ("master_metering_samples", "master_task_statuses", "master_tasks",
                  "master_frameworks", "master_agents"):
        op.drop_table(table)
