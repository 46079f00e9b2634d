"""The Generic service (ConPaaS): a service job's code versions, each archive kept as a
blob beside its name and whether it is the active one, which instance ran init.sh of
which version (never twice, across restarts), and the named volumes attached to its
instances.

Revision ID: f0007_generic
Revises: f0006_autoscale
"""

import sqlalchemy as sa
from alembic import op

revision = "f0008_generic"
down_revision = "f0007_images"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "framework_code_versions",
        sa.Column("job", sa.String(160), primary_key=True),
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("description", sa.String(1000), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("names", sa.JSON, nullable=False),
        sa.Column("archive", sa.LargeBinary, nullable=False),
        sa.Column("tar", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "framework_generic_inits",
        sa.Column("job", sa.String(160), primary_key=True),
        sa.Column("instance", sa.String(200), primary_key=True),
        sa.Column("version", sa.String(40), primary_key=True),
    )
    op.create_table(
        "framework_volumes",
        sa.Column("job", sa.String(160), primary_key=True),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("instance", sa.String(200), nullable=False),
        sa.Column("slot_template", sa.Integer, nullable=False),
        sa.Column("slot_index", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("framework_volumes")
    op.drop_table("framework_generic_inits")
    op.drop_table("framework_code_versions")
