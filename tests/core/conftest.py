"""Fixtures for the core tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.db import Database, ExportJob, JobStatus
from core.jobs import JobService
from core.spec import ExportSpec


@pytest.fixture()
def completed_export(tmp_path: Path) -> tuple[Database, str]:
    """A completed export row in a fresh database (no model file: for the deployment records)."""
    db = Database(tmp_path / "slipway.db")
    checkpoint = tmp_path / "model.pt"
    checkpoint.write_bytes(b"not read")
    jobs = JobService(db)
    chk = jobs._add_checkpoint(checkpoint, "timm", "classify", "state_dict", model_name="resnet18")
    spec = ExportSpec.model_validate({"checkpoint": str(checkpoint), "export_format": "onnx",
                                      "framework": "timm", "model_name": "resnet18"})
    job = jobs.create_job(spec, out_dir=tmp_path / "pkg")
    with db.session() as s:
        row = s.get(ExportJob, job.id)
        assert row is not None and row.checkpoint_id == chk.id
        row.status = JobStatus.COMPLETED
    return db, job.id
