"""A recorded worker stream (a real ONNX export of the sample detector) replayed through
the QProcess adapter's line handler: the job and the history row follow it."""

from __future__ import annotations

import shutil
from pathlib import Path

from pytestqt.qtbot import QtBot

from core.jobs import JobService
from core.samples import sample
from core.spec import ExportSpec
from gui.models.history_model import COLUMNS, PERCENT_ROLE, HistoryModel
from gui.worker_process import WorkerProcess

FIXTURE = Path(__file__).parent / "fixtures" / "onnx_detector_events.jsonl"


def recorded_lines(package_dir: Path) -> list[str]:
    text = FIXTURE.read_text(encoding="utf-8").replace("{PACKAGE_DIR}", str(package_dir))
    return text.splitlines()


def make_job(service: JobService, tmp_path: Path) -> tuple[str, Path]:
    spec = ExportSpec(checkpoint=sample("shapes-yolo11n").checkpoint, export_format="onnx")
    out = tmp_path / "package"
    job = service.create_job(spec, out)
    return job.id, out


def test_replayed_stream_drives_the_history_row(qtbot: QtBot, tmp_path: Path) -> None:
    service = JobService()
    job_id, out = make_job(service, tmp_path)
    job = service.get(job_id)
    worker = WorkerProcess(service, job)
    model = HistoryModel(service)
    model.refresh()
    worker.sig_event.connect(model.apply_event)
    row = model.row_of(job_id)
    assert model.display(model.rows[row], COLUMNS.index("Status")) == "pending"
    seen: list[float] = []
    service.mark_started(job_id, None)
    model.refresh()
    for line in recorded_lines(out):
        event = worker.handle_line(line)
        assert event is not None
        if event["type"] == "progress":
            seen.append(model.data(model.index(row, COLUMNS.index("Progress")), PERCENT_ROLE))
            assert model.display(model.rows[row], COLUMNS.index("Stage")) == event["stage"]
    assert seen == sorted(seen) and seen[-1] == 90.0 and len(seen) > 10
    # the row's progress was live; the database was written (throttled) too
    recorded = service.get(job_id)
    assert recorded.stage == "package" and recorded.progress_percent == 90.0
    out.mkdir()
    (out / "model.onnx").write_bytes(b"x")  # the package folder the result names
    with qtbot.waitSignal(worker.sig_finished, timeout=2000) as finished:
        worker.finish(0)
    done = finished.args[1]
    assert done.status == "completed" and done.model_size_bytes == 10480870
    model.update_job(done)
    values = [model.display(model.rows[row], c) for c in range(len(COLUMNS))]
    assert values[COLUMNS.index("Status")] == "completed"
    assert values[COLUMNS.index("Progress")] == "100%"
    assert values[COLUMNS.index("Parity")] == "passed"
    assert values[COLUMNS.index("Size")] == "10.5 MB"


def test_a_stream_that_ends_in_an_error_fails_the_job(qtbot: QtBot, tmp_path: Path) -> None:
    service = JobService()
    job_id, out = make_job(service, tmp_path)
    worker = WorkerProcess(service, service.get(job_id))
    lines = recorded_lines(out)[:8]  # the worker got into parity, then the gate refused
    lines.append('{"type":"error","code":"validation_failed","message":"parity failed: output0"}')
    lines.append("a stray library print")
    events = [worker.handle_line(line) for line in lines]
    assert events[-1] == {"type": "log", "level": "info", "message": "a stray library print"}
    job = worker.finish(4)
    assert job.status == "failed" and job.error_code == "validation_failed"
    assert "parity failed" in (job.error_message or "")
    shutil.rmtree(out, ignore_errors=True)


def test_a_worker_that_cannot_start_is_recorded_as_failed(qtbot: QtBot, tmp_path: Path) -> None:
    service = JobService()
    job_id, _ = make_job(service, tmp_path)
    worker = WorkerProcess(service, service.get(job_id))
    worker.process.setProgram(str(tmp_path / "no-such-worker"))
    with qtbot.waitSignal(worker.sig_finished, timeout=5000) as finished:
        worker.start()
    assert finished.args[1].status == "failed"
    assert "could not start" in (finished.args[1].error_message or "")
