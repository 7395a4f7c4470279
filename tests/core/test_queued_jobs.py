"""Queued exports in the store: owned by the app that queued them, never left queued."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import update

from core.db import ExportJob, JobStatus
from core.errors import BadInput
from core.jobs import QUEUED_ORPHANED, JobService
from core.samples import sample
from core.spec import ExportSpec


def queued_job(service: JobService) -> ExportJob:
    return service.create_job(
        ExportSpec(
            checkpoint=sample("digits-timm").checkpoint,
            model_name="mobilenetv3_small_050",
            export_format="onnx",
        ),
        queued=True,
    )


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_queued_job_outlives_other_starts_while_its_app_lives_and_is_settled_after() -> None:
    service = JobService()
    job = queued_job(service)
    assert job.status == JobStatus.QUEUED and job.started_at is None
    JobService(service.db)  # a CLI starting meanwhile leaves the app's queue alone
    assert service.get(job.id).status == JobStatus.QUEUED
    with service.db.session() as s:  # the app that queued it is gone (it crashed)
        s.execute(update(ExportJob).where(ExportJob.id == job.id).values(process_id=dead_pid()))
    JobService(service.db)
    settled = service.get(job.id)
    assert settled.status == JobStatus.CANCELLED and settled.error_message == QUEUED_ORPHANED
    assert settled.completed_at is not None and settled.started_at is None


def test_cancel_settles_a_queued_job_without_signalling_its_app() -> None:
    service = JobService()
    job = queued_job(service)
    with pytest.raises(BadInput, match="still queued; cancel it first"):
        service.delete(job.id)
    service.cancel(job.id)  # `slipway jobs cancel`: the owner is this very process, left alive
    cancelled = service.get(job.id)
    assert cancelled.status == JobStatus.CANCELLED and "before it started" in cancelled.error_message
    assert not service.dequeue(job.id)  # the app's queue then finds it gone and starts nothing
    assert not service.cancel_queued(job.id)


def test_dequeue_takes_a_queued_job_once() -> None:
    service = JobService()
    job = queued_job(service)
    assert service.dequeue(job.id)
    assert service.get(job.id).status == JobStatus.PENDING
    assert not service.dequeue(job.id) and not service.cancel_queued(job.id)
