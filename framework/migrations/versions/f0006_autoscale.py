"""Autoscaling: every decision of the autoscaler with its inputs and its reason (the last
100 per job kept), and the size of the instances a job adds when its autoscaler resized
its template (ConPaaS's strategy).

Revision ID: f0006_autoscale
Revises: f0005_schedules
"""

import sqlalchemy as sa
from alembic import op

revision = "f0006_autoscale"
down_revision = "f0005_schedules"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "framework_autoscale_decisions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job", sa.String(160), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("current", sa.Integer, nullable=False),
        sa.Column("desired", sa.Integer, nullable=False),
        sa.Column("recommended", sa.Integer, nullable=True),
        sa.Column("reason", sa.String(2000), nullable=False),
        sa.Column("inputs", sa.JSON, nullable=False),
        sa.Column("size", sa.JSON, nullable=True),
    )
    op.create_index("ix_framework_autoscale_decisions_job", "framework_autoscale_decisions",
                    ["job", "id"])
    with op.batch_alter_table("framework_submissions") as table:
        table.add_column(sa.Column("size", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("framework_submissions") as table:
        table.drop_column("size")
    op.drop_index("ix_framework_autoscale_decisions_job", "framework_autoscale_decisions")
    op.drop_table("framework_autoscale_decisions")
