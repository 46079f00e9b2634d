"""Metering samples carry more numbers: a task's current limits and any other numeric
field, by name; rows with an empty task_id are the node's own measurements.

Revision ID: m0003_metrics
Revises: m0002_health
"""

import sqlalchemy as sa
from alembic import op

revision = "m0003_metrics"
down_revision = "m0002_health"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("master_metering_samples") as batch:
        batch.add_column(sa.Column("fields", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("master_metering_samples") as batch:
        batch.drop_column("fields")
