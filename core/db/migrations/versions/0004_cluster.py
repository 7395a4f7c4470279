"""cluster: where an export ran (the Ray Jobs API address and the node)

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("export_jobs") as batch:
        batch.add_column(sa.Column("cluster_address", sa.String(300), nullable=True))
        batch.add_column(sa.Column("executed_on", sa.String(300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("export_jobs") as batch:
        batch.drop_column("executed_on")
        batch.drop_column("cluster_address")
