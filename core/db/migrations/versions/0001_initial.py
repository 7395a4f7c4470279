"""checkpoints and export_jobs

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "checkpoints",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("path", sa.String(1000), nullable=False, unique=True),
        sa.Column("framework", sa.String(50), nullable=False),
        sa.Column("task", sa.String(50)),
        sa.Column("model_name", sa.String(255)),
        sa.Column("kind", sa.String(50), nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("sample", sa.String(100)),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "export_jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("checkpoint_id", sa.String(32), sa.ForeignKey("checkpoints.id"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("version_tag", sa.String(100)),
        sa.Column("is_default", sa.Boolean, nullable=False),
        sa.Column("trace_id", sa.String(32), nullable=False),
        sa.Column("process_id", sa.Integer),
        sa.Column("export_format", sa.String(30), nullable=False),
        sa.Column("framework", sa.String(50), nullable=False),
        sa.Column("task_type", sa.String(50)),
        sa.Column("checkpoint_path", sa.String(1000), nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("export_config", sa.JSON),
        sa.Column("optimization_config", sa.JSON),
        sa.Column("validation_config", sa.JSON),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("progress_percent", sa.Float, nullable=False),
        sa.Column("stage", sa.String(30)),
        sa.Column("package_dir", sa.String(1000), nullable=False),
        sa.Column("owns_package_dir", sa.Boolean, nullable=False),
        sa.Column("log_path", sa.String(1000)),
        sa.Column("exported_model_path", sa.String(1000)),
        sa.Column("export_package_path", sa.String(1000)),
        sa.Column("model_size_bytes", sa.BigInteger),
        sa.Column("optimization_stats", sa.JSON),
        sa.Column("validation_metrics", sa.JSON),
        sa.Column("parity", sa.JSON),
        sa.Column("timings", sa.JSON),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("started_at", sa.DateTime),
        sa.Column("completed_at", sa.DateTime),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("error_code", sa.String(30)),
        sa.Column("error_message", sa.String(4000)),
    )
    op.create_index("ix_export_jobs_checkpoint_id", "export_jobs", ["checkpoint_id"])
    op.create_index("ix_export_jobs_status", "export_jobs", ["status"])
    op.create_index("ix_export_jobs_trace_id", "export_jobs", ["trace_id"])
    op.create_index("ix_export_jobs_created_at", "export_jobs", ["created_at"])
    op.create_index("idx_checkpoint_version", "export_jobs", ["checkpoint_id", "version"], unique=True)
    op.create_index("idx_checkpoint_default", "export_jobs", ["checkpoint_id", "is_default"])


def downgrade() -> None:
    op.drop_table("export_jobs")
    op.drop_table("checkpoints")
