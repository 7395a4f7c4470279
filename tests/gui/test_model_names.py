"""The main window names the model of an export: in the status bar while it runs, and in the
notification banner when it ends (a replayed worker stream through the real runner)."""

from __future__ import annotations

import json
from pathlib import Path

from pytestqt.qtbot import QtBot

from core.samples import sample
from core.spec import ExportSpec
from gui.main_window import MainWindow
from tests.gui.test_worker_replay import recorded_lines


def test_status_bar_and_banner_name_the_model(qtbot: QtBot, window: MainWindow, tmp_path: Path) -> None:
    detector = next(c for c in window.models.model.items if c.sample == "shapes-yolo11n")
    out = tmp_path / "package"
    job = window.service.create_job(ExportSpec(checkpoint=sample("shapes-yolo11n").checkpoint,
                                               export_format="onnx"), out)
    worker = window.runner.adopt(job)
    window.service.mark_started(job.id, None)
    label = f"“{detector.name}” v{job.version} (onnx)"
    lines = recorded_lines(out)
    progress = next(line for line in lines if json.loads(line).get("type") == "progress")
    worker.handle_line(progress)
    message = window.statusBar().currentMessage()
    assert message.startswith(f"Export {label}: "), message
    for line in lines:
        worker.handle_line(line)
    out.mkdir()
    (out / "model.onnx").write_bytes(b"x")
    with qtbot.waitSignal(window.runner.sig_finished):
        worker.finish(0)
    assert window.notification.text.text().startswith(f"Export {label} completed"), \
        window.notification.text.text()
    assert window.statusBar().currentMessage() == f"Export {label} completed"
