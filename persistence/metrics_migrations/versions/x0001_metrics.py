"""The metrics store: series, raw points, rollups, and the marks of what was rolled.

Revision ID: x0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "x0001"
down_revision = None
branch_labels = None
depends_on = None

GROUP_TAGS = ("node", "job", "instance", "namespace")


def upgrade() -> None:
    op.create_table(
        "metric_series",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("tags", sa.String(2000), nullable=False),
        *(sa.Column(tag, sa.String(256), nullable=True) for tag in GROUP_TAGS),
        sa.UniqueConstraint("name", "tags", name="uq_metric_series_name_tags"),
    )
    op.create_table(
        "metric_points",
        sa.Column("series_id", sa.Integer, nullable=False),
        sa.Column("t", sa.BigInteger, nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("t", "series_id", name="pk_metric_points"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "metric_rollups",
        sa.Column("series_id", sa.Integer, nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("t", sa.BigInteger, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("sum", sa.Float, nullable=False),
        sa.Column("min", sa.Float, nullable=False),
        sa.Column("max", sa.Float, nullable=False),
        sa.Column("last", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("series_id", "step", "t", name="pk_metric_rollups"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "metric_marks",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in ("metric_marks", "metric_rollups", "metric_points", "metric_series"):
        op.drop_table(table)
