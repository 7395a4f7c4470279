"""The job service against a replaying stand-in worker (no real export needed)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import core.launch
from core.db import JobStatus
from core.errors import BadInput
from core.jobs import JobService
from core.launch import worker_command
from core.spec import parse_spec

FAKE_WORKER = Path(__file__).resolve().parents[1] / "fixtures" / "fake_worker.py"
RESULT = {"type": "result", "package_dir": "", "model_path": "m.onnx", "model_size_bytes": 10,
          "optimization_stats": {}, "parity": {"passed": True}, "validation_metrics": None,
          "timings": {"load": 0.1}}


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    import torch

    path = tmp_path / "weights.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, path)
    return path


@pytest.fixture
def replay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    script: dict[str, Any] = {"events": [], "exit_code": 0}
    replay_file = tmp_path / "replay.json"

    def command(spec_path: Path, out_dir: Path) -> list[str]:
        replay_file.write_text(json.dumps({"replay": script}))
        return [sys.executable, str(FAKE_WORKER), "--spec", str(replay_file), "--out", str(out_dir)]

    monkeypatch.setattr(core.launch, "worker_command", command)
    return script


def make_job(service: JobService, checkpoint: Path) -> str:
    spec = parse_spec({"checkpoint": str(checkpoint), "export_format": "onnx",
                       "model_name": "resnet18"})
    return service.create_job(spec).id


def test_worker_command_is_the_documented_module(tmp_path: Path) -> None:
    cmd = worker_command(tmp_path / "s.json", tmp_path / "out")
    assert cmd[1:] == ["-m", "exporters", "--spec", str(tmp_path / "s.json"),
                       "--out", str(tmp_path / "out")]


def test_completed_run_records_progress_and_result(checkpoint: Path, replay: dict[str, Any]) -> None:
    replay["events"] = [
        {"type": "progress", "percent": 10.0, "stage": "load", "message": "reading"},
        "not json",
        {"type": "progress", "percent": 60.0, "stage": "parity", "message": "checking"},
        RESULT,
    ]
    service = JobService()
    job_id = make_job(service, checkpoint)
    seen: list[dict[str, Any]] = []
    job = service.run(job_id, on_event=seen.append)
    assert job.status == JobStatus.COMPLETED
    assert job.progress_percent == 100.0
    assert job.parity == {"passed": True}
    assert job.version == 1
    assert [e["type"] for e in seen] == ["progress", "log", "progress", "result"]
    assert seen[1]["message"] == "a library printed this line"
    assert "fake worker done" in Path(job.log_path or "").read_text()


def test_versions_count_per_checkpoint(checkpoint: Path, replay: dict[str, Any]) -> None:
    service = JobService()
    first, second = make_job(service, checkpoint), make_job(service, checkpoint)
    assert (service.get(first).version, service.get(second).version) == (1, 2)
    assert len(service.checkpoints()) == 1


def test_error_event_fails_the_job_with_its_message(checkpoint: Path, replay: dict[str, Any]) -> None:
    replay["events"] = [{"type": "error", "code": "bad_input", "message": "checkpoint is truncated"}]
    replay["exit_code"] = 2
    service = JobService()
    job = service.run(make_job(service, checkpoint))
    assert job.status == JobStatus.FAILED
    assert (job.error_code, job.error_message) == ("bad_input", "checkpoint is truncated")


def test_crash_without_result_names_the_exit_code(checkpoint: Path, replay: dict[str, Any]) -> None:
    replay["events"] = [{"type": "progress", "percent": 5.0, "stage": "load", "message": ""}]
    replay["exit_code"] = 139
    service = JobService()
    job = service.run(make_job(service, checkpoint))
    assert job.status == JobStatus.FAILED
    assert "exit code 139" in (job.error_message or "")


def test_result_json_survives_a_lost_stdout(checkpoint: Path, replay: dict[str, Any]) -> None:
    """The host missed the result line but the worker wrote result.json: completed."""
    service = JobService()
    job_id = make_job(service, checkpoint)
    job = service.get(job_id)
    Path(job.package_dir).mkdir(parents=True)
    (Path(job.package_dir) / "result.json").write_text(json.dumps(RESULT))
    finished = service.finish(job_id, 0, None)
    assert finished.status == JobStatus.COMPLETED


def test_reconcile_settles_jobs_left_running(checkpoint: Path, replay: dict[str, Any]) -> None:
    service = JobService()
    done_id, lost_id = make_job(service, checkpoint), make_job(service, checkpoint)
    dead_pid = 2**22 + 12345  # no such process
    for job_id in (done_id, lost_id):
        service.mark_started(job_id, dead_pid)
    done = service.get(done_id)
    Path(done.package_dir).mkdir(parents=True)
    (Path(done.package_dir) / "result.json").write_text(json.dumps(RESULT))

    JobService(service.db)  # a new app start reconciles

    assert service.get(done_id).status == JobStatus.COMPLETED
    lost = service.get(lost_id)
    assert lost.status == JobStatus.FAILED
    assert "interrupted" in (lost.error_message or "")


def test_cancel_terminates_the_worker(checkpoint: Path, replay: dict[str, Any]) -> None:
    import threading

    replay["events"] = [{"type": "progress", "percent": 1.0, "stage": "load", "message": ""}]
    replay["hang"] = True
    service = JobService()
    job_id = make_job(service, checkpoint)
    result: dict[str, Any] = {}
    runner = threading.Thread(target=lambda: result.update(job=service.run(job_id)))
    runner.start()
    deadline = time.monotonic() + 20
    while service.get(job_id).status != JobStatus.RUNNING and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    service.cancel(job_id)
    runner.join(timeout=20)
    assert not runner.is_alive()
    assert result["job"].status == JobStatus.CANCELLED


def test_default_tag_and_delete(checkpoint: Path, replay: dict[str, Any]) -> None:
    replay["events"] = [RESULT]
    service = JobService()
    a = service.run(make_job(service, checkpoint))
    b = service.run(make_job(service, checkpoint))
    Path(b.package_dir, "model.onnx").write_text("x")
    assert service.set_default(a.id).is_default
    assert service.set_default(b.id).is_default
    assert not service.get(a.id).is_default
    assert service.tag(a.id, "production").version_tag == "production"
    with pytest.raises(BadInput):
        service.tag(a.id, "  ")
    service.delete(b.id)
    assert not Path(b.package_dir).exists()
    assert [j.id for j in service.list_jobs()] == [a.id]
    with pytest.raises(BadInput, match="no export"):
        service.get(b.id)


def test_only_completed_exports_can_be_default(checkpoint: Path, replay: dict[str, Any]) -> None:
    service = JobService()
    job_id = make_job(service, checkpoint)
    with pytest.raises(BadInput, match="pending"):
        service.set_default(job_id)


def test_delete_keeps_a_user_folder_that_holds_other_files(
    checkpoint: Path, replay: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("precious")
    replay["events"] = [{"type": "error", "code": "bad_input", "message": "--out is not empty"}]
    service = JobService()
    spec = parse_spec({"checkpoint": str(checkpoint), "export_format": "onnx"})
    job = service.run(service.create_job(spec, out_dir=out).id)
    service.delete(job.id)
    assert (out / "notes.txt").read_text() == "precious"


def test_a_library_entry_can_be_corrected_and_bad_values_are_named(checkpoint: Path) -> None:
    service = JobService()
    entry = service.import_checkpoint(checkpoint)
    service.update_checkpoint(entry.id, framework="timm", task="classify", model_name=" resnet18 ",
                              name="digits")
    [stored] = service.checkpoints()
    assert (stored.name, stored.framework, stored.task, stored.model_name) == (
        "digits", "timm", "classify", "resnet18")
    with pytest.raises(BadInput, match="framework 'keras'"):
        service.update_checkpoint(entry.id, framework="keras")
    with pytest.raises(BadInput, match="task 'depth'"):
        service.update_checkpoint(entry.id, task="depth")
    with pytest.raises(BadInput, match="no model with id"):
        service.update_checkpoint("0" * 32, task="detect")
    assert service.checkpoints()[0].task == "classify"  # nothing changed by the refused edits
