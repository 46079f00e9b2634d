"""Jisto's jobs: a job exists (with a UUID, a name and its tasks) before it runs.

Revision ID: f0004_jisto
Revises: f0003_jobs
"""

import sqlalchemy as sa
from alembic import op

revision = "f0004_jisto"
down_revision = "f0003_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "framework_jisto_jobs",
        sa.Column("uuid", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("namespace", sa.String(63), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("options", sa.JSON, nullable=True),
        sa.Column("op", sa.String(16), nullable=True),
    )
    op.create_table(
        "framework_jisto_tasks",
        sa.Column("uuid", sa.String(36), primary_key=True),
        sa.Column("job_uuid", sa.String(36),
                  sa.ForeignKey("framework_jisto_jobs.uuid", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("image", sa.String(512), nullable=False),
        sa.Column("env", sa.JSON, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("name", sa.String(255), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("framework_jisto_tasks")
    op.drop_table("framework_jisto_jobs")
