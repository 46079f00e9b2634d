"""Health checks: a task's last health verdict, and the response time of its HTTP checks
beside its metered usage.

Revision ID: m0002_health
Revises: m0001
"""

import sqlalchemy as sa
from alembic import op

revision = "m0002_health"
down_revision = "m0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("master_tasks") as table:
        table.add_column(sa.Column("healthy", sa.Boolean, nullable=True))
    with op.batch_alter_table("master_metering_samples") as table:
        table.add_column(sa.Column("response_time", sa.Float, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("master_metering_samples") as table:
        table.drop_column("response_time")
    with op.batch_alter_table("master_tasks") as table:
        table.drop_column("healthy")
