"""Tables, following the product spec: checkpoints (the desktop's stand-in for a
training job), export_jobs (with a per-checkpoint version, tag and default),
deployment_targets with their history, and the endpoint's api_keys, usage and rate windows."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def new_id() -> str:
    return uuid.uuid4().hex


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON}


class JobStatus(StrEnum):
    PENDING = "pending"
    QUEUED = "queued"  # the app's queue holds it until a slot frees; process_id: the app's pid
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


class Checkpoint(Base):
    __tablename__ = "checkpoints"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    path: Mapped[str] = mapped_column(String(1000), unique=True)
    framework: Mapped[str] = mapped_column(String(50))
    task: Mapped[str | None] = mapped_column(String(50))
    model_name: Mapped[str | None] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(50))
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    sample: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    exports: Mapped[list[ExportJob]] = relationship(back_populates="checkpoint",
                                                    cascade="all, delete-orphan")


class ExportJob(Base):
    __tablename__ = "export_jobs"
    __table_args__ = (
        Index("idx_checkpoint_version", "checkpoint_id", "version", unique=True),
        Index("idx_checkpoint_default", "checkpoint_id", "is_default"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    checkpoint_id: Mapped[str] = mapped_column(ForeignKey("checkpoints.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    version_tag: Mapped[str | None] = mapped_column(String(100))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    trace_id: Mapped[str] = mapped_column(String(32), default=new_id, index=True)
    process_id: Mapped[int | None] = mapped_column(Integer)

    export_format: Mapped[str] = mapped_column(String(30))
    framework: Mapped[str] = mapped_column(String(50))
    task_type: Mapped[str | None] = mapped_column(String(50))
    checkpoint_path: Mapped[str] = mapped_column(String(1000))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    export_config: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    optimization_config: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    validation_config: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    status: Mapped[str] = mapped_column(String(20), default=JobStatus.PENDING, index=True)
    progress_percent: Mapped[float] = mapped_column(Float, default=0.0)
    stage: Mapped[str | None] = mapped_column(String(30))
    package_dir: Mapped[str] = mapped_column(String(1000))
    owns_package_dir: Mapped[bool] = mapped_column(Boolean, default=True)
    log_path: Mapped[str | None] = mapped_column(String(1000))
    exported_model_path: Mapped[str | None] = mapped_column(String(1000))
    export_package_path: Mapped[str | None] = mapped_column(String(1000))
    model_size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    optimization_stats: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    validation_metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    parity: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    timings: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    error_code: Mapped[str | None] = mapped_column(String(30))
    error_message: Mapped[str | None] = mapped_column(String(4000))
    # where it ran: None on this machine; the Ray Jobs API address and the node on a cluster
    cluster_address: Mapped[str | None] = mapped_column(String(300))
    executed_on: Mapped[str | None] = mapped_column(String(300))

    checkpoint: Mapped[Checkpoint] = relationship(back_populates="exports")

    @property
    def duration_s(self) -> float | None:
        if self.started_at and self.completed_at:
            return (self.completed_at - self.started_at).total_seconds()
        return None


class DeploymentType(StrEnum):
    DOWNLOAD = "download"
    EDGE_PACKAGE = "edge_package"
    CONTAINER = "container"
    PLATFORM_ENDPOINT = "platform_endpoint"


class DeploymentStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    INACTIVE = "inactive"
    FAILED = "failed"
    DELETED = "deleted"  # kept, so the timeline keeps its last event; its keys are revoked


class DeploymentTarget(Base):
    """How one export is deployed (the seed's table; usage counters for endpoints)."""

    __tablename__ = "deployment_targets"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    export_job_id: Mapped[str] = mapped_column(ForeignKey("export_jobs.id"), index=True)
    deployment_type: Mapped[str] = mapped_column(String(30))
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(1000))
    status: Mapped[str] = mapped_column(String(20), default=DeploymentStatus.PENDING, index=True)
    tier: Mapped[str | None] = mapped_column(String(20))
    deployment_config: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    request_count: Mapped[int] = mapped_column(Integer, default=0)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    last_request_at: Mapped[datetime | None] = mapped_column(DateTime)
    total_inference_time_ms: Mapped[float] = mapped_column(Float, default=0.0)

    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    deployed_at: Mapped[datetime | None] = mapped_column(DateTime)
    deactivated_at: Mapped[datetime | None] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    history: Mapped[list[DeploymentHistory]] = relationship(
        back_populates="deployment_target", cascade="all, delete-orphan",
        order_by="DeploymentHistory.created_at")
    api_keys: Mapped[list[ApiKey]] = relationship(back_populates="deployment_target",
                                                  cascade="all, delete-orphan")


class DeploymentHistory(Base):
    """One event in a deployment's life: created, activated, deactivated, updated, deleted…"""

    __tablename__ = "deployment_history"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    deployment_target_id: Mapped[str] = mapped_column(ForeignKey("deployment_targets.id"), index=True)
    event_type: Mapped[str] = mapped_column(String(50))
    event_data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    status_before: Mapped[str | None] = mapped_column(String(20))
    status_after: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)

    deployment_target: Mapped[DeploymentTarget] = relationship(back_populates="history")


class ApiKey(Base):
    """An endpoint key: only its SHA-256 is stored; the key itself is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    deployment_target_id: Mapped[str] = mapped_column(ForeignKey("deployment_targets.id"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # the first characters, to tell keys apart
    name: Mapped[str | None] = mapped_column(String(100))
    tier: Mapped[str] = mapped_column(String(20), default="free")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)

    deployment_target: Mapped[DeploymentTarget] = relationship(back_populates="api_keys")


class Usage(Base):
    """Requests per deployment, key and calendar month (quotas are monthly)."""

    __tablename__ = "usage"
    __table_args__ = (Index("idx_usage_key_month", "deployment_target_id", "api_key_id", "month",
                            unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deployment_target_id: Mapped[str] = mapped_column(ForeignKey("deployment_targets.id"), index=True)
    api_key_id: Mapped[str | None] = mapped_column(ForeignKey("api_keys.id"))
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    request_count: Mapped[int] = mapped_column(Integer, default=0)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    total_inference_time_ms: Mapped[float] = mapped_column(Float, default=0.0)
    last_request_at: Mapped[datetime | None] = mapped_column(DateTime)


class RateWindow(Base):
    """A key's recent requests (epoch seconds, the last minute's), so a restarted server keeps
    enforcing the per-minute limit. Written by the endpoint's background writer; no foreign key,
    so deleting a key never waits on this table (stale rows age out)."""

    __tablename__ = "rate_windows"

    api_key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    hits: Mapped[list[float]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
