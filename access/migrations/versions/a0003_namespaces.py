"""Namespaces with quotas (cpus, mem, running instances, jobs) and a credit balance.

Revision ID: a0003
Revises: a0002
"""

import sqlalchemy as sa
from alembic import op

revision = "a0003"
down_revision = "a0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "access_namespaces",
        sa.Column("name", sa.String(63), primary_key=True),
        sa.Column("cpus", sa.Float, nullable=True),
        sa.Column("mem", sa.Float, nullable=True),
        sa.Column("instances", sa.Integer, nullable=True),
        sa.Column("jobs", sa.Integer, nullable=True),
        sa.Column("credits", sa.Float, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("access_namespaces")
