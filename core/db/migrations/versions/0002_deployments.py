"""deployment_targets, deployment_history, api_keys, usage

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deployment_targets",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("export_job_id", sa.String(32), sa.ForeignKey("export_jobs.id"), nullable=False),
        sa.Column("deployment_type", sa.String(30), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.String(1000)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("tier", sa.String(20)),
        sa.Column("deployment_config", sa.JSON),
        sa.Column("request_count", sa.Integer, nullable=False),
        sa.Column("error_count", sa.Integer, nullable=False),
        sa.Column("last_request_at", sa.DateTime),
        sa.Column("total_inference_time_ms", sa.Float, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("deployed_at", sa.DateTime),
        sa.Column("deactivated_at", sa.DateTime),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_deployment_targets_export_job_id", "deployment_targets", ["export_job_id"])
    op.create_index("ix_deployment_targets_status", "deployment_targets", ["status"])
    op.create_index("ix_deployment_targets_created_at", "deployment_targets", ["created_at"])
    op.create_table(
        "deployment_history",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("deployment_target_id", sa.String(32), sa.ForeignKey("deployment_targets.id"),
                  nullable=False),
        sa.Column("event_type", sa.String(50), nullable=False),
        sa.Column("event_data", sa.JSON),
        sa.Column("status_before", sa.String(20)),
        sa.Column("status_after", sa.String(20)),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_deployment_history_deployment_target_id", "deployment_history",
                    ["deployment_target_id"])
    op.create_index("ix_deployment_history_created_at", "deployment_history", ["created_at"])
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("deployment_target_id", sa.String(32), sa.ForeignKey("deployment_targets.id"),
                  nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("name", sa.String(100)),
        sa.Column("tier", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("revoked_at", sa.DateTime),
        sa.Column("last_used_at", sa.DateTime),
    )
    op.create_index("ix_api_keys_deployment_target_id", "api_keys", ["deployment_target_id"])
    op.create_table(
        "usage",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("deployment_target_id", sa.String(32), sa.ForeignKey("deployment_targets.id"),
                  nullable=False),
        sa.Column("api_key_id", sa.String(32), sa.ForeignKey("api_keys.id")),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("request_count", sa.Integer, nullable=False),
        sa.Column("error_count", sa.Integer, nullable=False),
        sa.Column("total_inference_time_ms", sa.Float, nullable=False),
        sa.Column("last_request_at", sa.DateTime),
    )
    op.create_index("ix_usage_deployment_target_id", "usage", ["deployment_target_id"])
    op.create_index("idx_usage_key_month", "usage", ["deployment_target_id", "api_key_id", "month"],
                    unique=True)


def downgrade() -> None:
    for table in ("usage", "api_keys", "deployment_history", "deployment_targets"):
        op.drop_table(table)
