"""Health checks: a task's last health verdict (its HTTP checks' response time travels as
a metering field, see m0003_metrics).

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


def downgrade() -> None:
    with op.batch_alter_table("master_tasks") as table:
        table.drop_column("healthy")
