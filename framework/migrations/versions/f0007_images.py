"""Images: each image template built (or image pulled) into berth's registry, its state
(building, ready, failed), size, build log and why it failed.

Revision ID: f0007_images
Revises: f0006_autoscale
"""

import sqlalchemy as sa
from alembic import op

revision = "f0007_images"
down_revision = "f0006_autoscale"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "framework_images",
        sa.Column("name", sa.String(300), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("reason", sa.String(2000), nullable=True),
        sa.Column("log", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("framework_images")
