"""Task farming (ConPaaS's TaskFarming service): one row a farm, its bag, node types,
samples, chosen pool and forecast as one JSON document (framework/farm_store.py).

Revision ID: f0010_farms
Revises: f0009_history
"""

import sqlalchemy as sa
from alembic import op

revision = "f0010_farms"
down_revision = "f0009_history"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "framework_farms",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("namespace", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("doc", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("framework_farms")
