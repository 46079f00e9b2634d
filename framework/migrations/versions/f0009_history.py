"""The framework's recorded history, for `berth sim --replay-from`: each task instance's
submission, start and end times, end state and host, the spec of each submission (or
job template) once; the agents it was offered
(with the largest offer of each, its capacity as berth saw it) and the agents it lost.
Kept apart from the instance table, which holds only the latest state and is trimmed
with its jobs; pruned after a retention period (framework/history.py).

Revision ID: f0009_history
Revises: f0008_generic
"""

import sqlalchemy as sa
from alembic import op

revision = "f0009_history"
down_revision = "f0008_generic"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "framework_history",
        sa.Column("task_id", sa.String(200), primary_key=True),
        sa.Column("submission_id", sa.String(160), nullable=False),
        sa.Column("slot", sa.String(32), nullable=True),
        sa.Column("submitted_at", sa.Float, nullable=False, index=True),
        sa.Column("started_at", sa.Float, nullable=True),
        sa.Column("ended_at", sa.Float, nullable=True, index=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("agent_id", sa.String(128), nullable=True),
        sa.Column("hostname", sa.String(253), nullable=True),
        sa.Column("spec_key", sa.String(200), nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "framework_history_specs",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False, index=True),
    )
    op.create_table(
        "framework_agents_seen",
        sa.Column("agent_id", sa.String(128), primary_key=True),
        sa.Column("hostname", sa.String(253), nullable=False),
        sa.Column("cpus", sa.Float, nullable=False),
        sa.Column("mem", sa.Float, nullable=False),
        sa.Column("disk", sa.Float, nullable=False),
        sa.Column("attributes", sa.JSON, nullable=False),
        sa.Column("first_seen", sa.Float, nullable=False),
        sa.Column("last_seen", sa.Float, nullable=False, index=True),
    )
    op.create_table(
        "framework_agent_losses",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("agent_id", sa.String(128), nullable=False),
        sa.Column("hostname", sa.String(253), nullable=True),
        sa.Column("at", sa.Float, nullable=False, index=True),
    )


def downgrade() -> None:
    op.drop_table("framework_agent_losses")
    op.drop_table("framework_agents_seen")
    op.drop_table("framework_history_specs")
    op.drop_table("framework_history")
