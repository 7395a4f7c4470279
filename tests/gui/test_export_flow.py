"""End to end: the sample detector → the wizard → a real ONNX export in a QProcess → a completed row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtWidgets import QWizard
from pytestqt.qtbot import QtBot

from gui.app import MainWindow
from gui.models.history_model import COLUMNS


@pytest.mark.slow
def test_wizard_runs_a_real_onnx_export_to_a_completed_row(qtbot: QtBot, window: MainWindow) -> None:
    detector = next(c for c in window.models.model.items if c.sample == "shapes-yolo11n")
    window.models.select(detector.id)
    wizard = window.open_wizard(detector)
    wizard.format_page.choose("onnx")
    wizard.next()
    wizard.next()
    assert wizard.currentPage() is wizard.review_page and wizard.spec is not None
    spec_json = wizard.review_page.json.toPlainText()
    progress: list[float] = []
    window.runner.sig_event.connect(
        lambda _id, e: progress.append(e["percent"]) if e["type"] == "progress" else None)
    with qtbot.waitSignal(window.runner.sig_started, timeout=10_000) as started:
        wizard.done(QWizard.DialogCode.Accepted)
    job_id = started.args[0]
    assert window.stack.currentWidget() is window.history
    assert window.history.model.row_of(job_id) == 0
    with qtbot.waitSignal(window.runner.sig_finished, timeout=240_000) as finished:
        pass
    job = finished.args[1]
    assert job.status == "completed", job.error_message
    assert len(progress) > 5 and progress == sorted(progress)  # live progress was seen
    row = window.history.model.rows[window.history.model.row_of(job_id)]
    assert window.history.model.display(row, COLUMNS.index("Status")) == "completed"
    assert window.history.model.display(row, COLUMNS.index("Parity")) == "passed"
    package = Path(job.package_dir)
    assert (package / "model.onnx").is_file() and (package / "metadata.json").is_file()
    # the worker ran exactly the spec the review page showed
    assert json.loads((package / "metadata.json").read_text())["export"]["export_format"] == "onnx"
    assert json.loads(spec_json)["export_format"] == "onnx"
    assert "completed" in window.notification.text.text()
