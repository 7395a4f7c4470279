"""The main window: a real Qt window over the library (offscreen), every page reachable."""

from __future__ import annotations

from pathlib import Path

from pytestqt.qtbot import QtBot

from core.jobs import JobService
from core.samples import samples
from gui.app import MainWindow, ensure_samples
from gui.main_window import PAGES


def test_main_window_lists_the_sample_models_and_every_page(qtbot: QtBot, window: MainWindow,
                                                           tmp_path: Path) -> None:
    assert window.windowTitle().startswith("Slipway")
    names = [c.name for c in window.models.model.items]
    assert sorted(names) == sorted(s.title for s in samples())
    assert [window.nav.item(i).text() for i in range(window.nav.count())] == list(PAGES)
    for name in PAGES:
        window.show_page(name)
        assert window.stack.currentWidget() is window.pages[name]
    # part 2's views are the real ones, not the placeholder
    assert type(window.inference).__name__ == "InferenceView"
    assert type(window.deployments).__name__ == "DeploymentsView"
    window.show_page("Models")
    shot = tmp_path / "main.png"
    assert window.grab().save(str(shot))
    assert shot.stat().st_size > 5_000


def test_samples_are_imported_once(qtbot: QtBot) -> None:
    service = JobService()
    ensure_samples(service)
    ensure_samples(service)
    assert len(service.checkpoints()) == len(samples())


def test_parity_column_never_shows_a_gate_that_did_not_run_as_passed() -> None:
    from gui.app import parity_label

    coreml = {"status": "not_run", "reason": "needs macOS: Core ML models run only on macOS and iOS",
              "passed": None, "structure_passed": True}
    assert parity_label(coreml) == "not run (needs macOS)"
    assert parity_label({"passed": True}) == "passed"
    assert parity_label({"passed": False}) == "failed"
    assert parity_label({}) == ""


def test_wizard_opens_with_the_saved_export_defaults(qtbot: QtBot) -> None:
    from gui.preferences import Preferences

    Preferences(default_format="torchscript", default_opset=13).save()
    service = JobService()
    ensure_samples(service)
    window = MainWindow(service)
    qtbot.addWidget(window)
    detector = next(c for c in service.checkpoints() if c.sample == "shapes-yolo11n")
    wizard = window.open_wizard(detector)
    assert wizard.format_page.chosen == "torchscript"
    wizard.format_page.choose("onnx")
    wizard.next()
    assert wizard.spec is not None and wizard.spec.export_config.model_dump()["opset_version"] == 13
    wizard.reject()


def test_a_failed_export_is_announced_without_a_terminal(qtbot: QtBot, window: MainWindow,
                                                        tmp_path: Path) -> None:
    from core.samples import sample
    from core.spec import ExportSpec

    service = window.service
    detector = next(c for c in service.checkpoints() if c.sample == "shapes-yolo11n")
    window.models.select(detector.id)
    other = next(c for c in service.checkpoints() if c.sample != "shapes-yolo11n")
    job = service.create_job(ExportSpec(checkpoint=sample("shapes-yolo11n").checkpoint,
                                        export_format="onnx"), tmp_path / "out")
    worker = window.runner.adopt(job)
    service.mark_started(job.id, None)
    worker.handle_line('{"type":"progress","percent":61.2,"stage":"parity","message":"image 1/16"}')
    assert "61%" in window.statusBar().currentMessage()
    worker.handle_line('{"type":"error","code":"validation_failed","message":"parity failed: output0"}')
    worker.finish(4)
    assert window.notification.isVisible()
    assert "failed: parity failed: output0" in window.notification.text.text()
    row = window.history.model.rows[window.history.model.row_of(job.id)]
    assert row["status"] == "failed"
    # the history can list every model's exports, not only the selected one's
    window.models.select(other.id)
    assert window.history.model.row_of(job.id) == -1
    window.history.all_models.setChecked(True)
    assert window.history.model.row_of(job.id) >= 0


def test_the_dark_theme_reaches_widgets_with_style_sheets(qtbot: QtBot) -> None:
    from PySide6.QtWidgets import QApplication

    from gui.theme import apply_theme

    service = JobService()
    window = MainWindow(service)
    qtbot.addWidget(window)
    window.show()
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    try:
        apply_theme(app, "dark")
        qtbot.wait(10)
        assert window.nav.palette().base().color().lightness() < 80  # styled, yet dark
        assert window.grab().toImage().pixelColor(5, 700).lightness() < 80
    finally:
        apply_theme(app, "light")
    assert window.nav.palette().base().color().lightness() > 200
