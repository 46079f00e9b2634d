"""Scheduled jobs and clients' parameters: tables of their own, beside the submissions.

A scheduled job is a template that never runs itself: its row keeps the job JSON, the
last firing acted on and its runs (child jobs, which are ordinary submissions). A
client's parameters are one row per (namespace, client).

Revision ID: f0005_schedules
Revises: f0004_jisto
"""

import sqlalchemy as sa
from alembic import op

revision = "f0005_schedules"
down_revision = "f0004_jisto"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "framework_schedules",
        sa.Column("name", sa.String(160), primary_key=True),
        sa.Column("namespace", sa.String(63), nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("last_firing", sa.Float, nullable=True),
        sa.Column("runs", sa.JSON, nullable=False),
    )
    op.create_index("ix_framework_schedules_namespace", "framework_schedules",
                    ["namespace"])
    op.create_table(
        "framework_client_parameters",
        sa.Column("namespace", sa.String(63), primary_key=True),
        sa.Column("client", sa.String(128), primary_key=True),
        sa.Column("parameters", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("framework_client_parameters")
    op.drop_index("ix_framework_schedules_namespace", "framework_schedules")
    op.drop_table("framework_schedules")
