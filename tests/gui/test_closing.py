"""Closing the window while an export runs: the question, "Stay", and "Cancel exports and quit"
with a real worker process. "Keep running and quit" is in test_full_flow.py (a whole export)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from core.jobs import JobService
from core.launch import process_alive
from core.samples import sample
from core.spec import ExportSpec
from gui.closing import CANCEL_AND_QUIT, STAY
from gui.main_window import MainWindow


def test_closing_during_an_export_asks_and_cancel_quits_after_the_worker_ends(
        qtbot: QtBot, window: MainWindow, tmp_path: Path) -> None:
    job = window.runner.start(ExportSpec(checkpoint=sample("shapes-yolo11n").checkpoint,
                                         export_format="onnx"), tmp_path / "out")
    qtbot.waitUntil(lambda: window.service.get(job.id).status == "running", timeout=20_000)
    pid = window.service.get(job.id).process_id

    assert not window.close()  # refused: the question is open instead
    guard = window.quit_guard
    assert guard.question is not None and guard.question.isVisible()
    assert guard.question.text() == "1 export is still running."
    qtbot.mouseClick(guard.button(STAY), Qt.MouseButton.LeftButton)
    assert guard.question is None and window.isVisible() and window.runner.is_running(job.id)

    assert not window.close()
    with qtbot.waitSignal(window.runner.sig_finished, timeout=30_000) as finished:
        qtbot.mouseClick(guard.button(CANCEL_AND_QUIT), Qt.MouseButton.LeftButton)
    assert finished.args[1].status == "cancelled"
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5_000)
    assert window.service.get(job.id).status == "cancelled"
    assert not process_alive(pid)


def test_closing_with_nothing_running_asks_nothing(qtbot: QtBot, window: MainWindow) -> None:
    assert window.close()
    assert window.quit_guard.question is None and not window.isVisible()


def test_an_export_running_without_the_app_shows_running_and_can_be_cancelled(
        qtbot: QtBot, tmp_path: Path) -> None:
    service = JobService()
    job = service.create_job(ExportSpec(checkpoint=sample("shapes-yolo11n").checkpoint,
                                        export_format="onnx"), tmp_path / "out")
    process = service.start(job.id)  # a worker this app did not start (an earlier run, the CLI)
    try:
        window = MainWindow(JobService())
        qtbot.addWidget(window)
        window.show()
        history = window.history
        history.all_models.setChecked(True)
        qtbot.waitUntil(lambda: job.id in window.detached.waiting, timeout=10_000)
        history.select(job.id)
        assert history.model.rows[history.model.row_of(job.id)]["status"] == "running"
        cancel = history.actions_by_name["cancel"]
        assert cancel.isEnabled()
        with qtbot.waitSignal(window.detached.sig_settled, timeout=30_000) as settled:
            cancel.trigger()
        [done] = settled.args[0]
        assert done.id == job.id and done.status == "cancelled" and done.completed_at is not None
        assert history.model.rows[history.model.row_of(job.id)]["status"] == "cancelled"
        assert not (tmp_path / "out" / ".staging").exists()
    finally:
        process.kill()
        process.wait()
