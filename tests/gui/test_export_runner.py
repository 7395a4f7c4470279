"""The runner with a real worker process: cancel terminates it and the job says cancelled."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from core.jobs import JobService
from core.samples import sample
from core.spec import ExportSpec
from gui.export_runner import ExportRunner


def test_cancel_terminates_a_running_worker(qtbot: QtBot, tmp_path: Path) -> None:
    service = JobService()
    owner = QWidget()
    qtbot.addWidget(owner)
    runner = ExportRunner(service, owner)
    job = runner.start(ExportSpec(checkpoint=sample("shapes-yolo11n").checkpoint, export_format="onnx"),
                       tmp_path / "out")
    assert runner.is_running(job.id) or service.get(job.id).status == "pending"
    qtbot.waitUntil(lambda: service.get(job.id).status == "running", timeout=10_000)
    worker = runner.workers[job.id]
    assert worker.command == service.command(service.get(job.id))  # the CLI's worker command
    with qtbot.waitSignal(runner.sig_finished, timeout=20_000) as finished:
        assert runner.cancel(job.id)
    done = finished.args[1]
    assert done.status == "cancelled" and done.error_code == "cancelled"
    assert not runner.is_running(job.id) and job.id not in runner.workers
    assert not (tmp_path / "out" / ".staging").exists()
    assert not runner.cancel(job.id)  # nothing left to cancel
