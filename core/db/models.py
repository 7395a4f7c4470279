"""Tables, following the product spec: checkpoints (the desktop's stand-in for a
training job) and export_jobs (with a per-checkpoint version, tag and default)."""

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

    checkpoint: Mapped[Checkpoint] = relationship(back_populates="exports")

    @property
    def duration_s(self) -> float | None:
        if self.started_at and self.completed_at:
            return (self.completed_at - self.started_at).total_seconds()
        return None
