"""The spine's main window: a real Qt window over the library (offscreen)."""

from __future__ import annotations

from pathlib import Path

from pytestqt.qtbot import QtBot

from core.jobs import JobService
from core.samples import samples
from gui.app import MainWindow, ensure_samples


def test_main_window_lists_the_sample_models(qtbot: QtBot, tmp_path: Path) -> None:
    service = JobService()
    ensure_samples(service)
    window = MainWindow(service)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    assert window.windowTitle().startswith("Slipway")
    names = [window.models.item(i).text().splitlines()[0] for i in range(window.models.count())]
    assert sorted(names) == sorted(s.title for s in samples())
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
