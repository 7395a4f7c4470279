"""Desktop habits on the real main window: the menu bar and About, keyboard shortcuts, the window,
page and splitters restored on restart, and the last folders used in file dialogs remembered.

Remembered state goes to the test's own data directory (SLIPWAY_HOME), never the user's settings.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox, QSplitter
from pytestqt.qtbot import QtBot

from core.jobs import JobService
from core.samples import samples
from gui.main_window import PAGES, MainWindow
from gui.window_state import STATE_FILE
from gui.wizard.export_wizard import ExportWizard
from tests.gui.test_deployments_view import completed_export

ROOT = Path(__file__).resolve().parents[2]


def open_window(qtbot: QtBot) -> MainWindow:
    window = MainWindow(JobService())
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    return window


def test_the_menu_bar_and_about_show_the_versions_of_the_app_and_runtimes(qtbot: QtBot,
                                                                          window: MainWindow) -> None:
    titles = [action.text().replace("&", "") for action in window.menuBar().actions()]
    assert titles == ["File", "Edit", "View", "Help"]
    box = window.show_about()
    qtbot.addWidget(box)
    assert box.isVisible()
    text = box.text()
    assert f"onnxruntime</td><td>{metadata.version('onnxruntime')}" in text
    assert f"PySide6</td><td>{metadata.version('PySide6')}" in text
    assert f"Slipway {metadata.version('slipway-studio')}" in text
    box.close()


def test_about_never_imports_torch_or_tensorflow() -> None:
    code = ("import sys; from gui.menus import about_text; text = about_text(); "
            "print(sorted(m for m in ('torch', 'tensorflow') if m in sys.modules)); "
            "print('torch</td>' in text)")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env,
                         timeout=120, check=True).stdout.split()
    assert out == ["[]", "True"]


def test_shortcuts_run_the_existing_actions(qtbot: QtBot, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    service = JobService()
    job_id = completed_export(service, tmp_path)
    window = open_window(qtbot)
    assert window.models.model.rowCount() >= 1
    # find: Ctrl+F goes to the Models page and into the filter, which hides what does not match
    window.show_page("Settings")
    qtbot.keyClick(window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert window.current_page() == "Models" and window.models.find_field.hasFocus()
    qtbot.keyClicks(window.models.find_field, "no such model")
    assert all(window.models.list.isRowHidden(r) for r in range(window.models.model.rowCount()))
    window.models.find_field.clear()
    window.models.select(window.models.model.items[0].id)
    wanted = window.models.model.items[-1]
    window.models.find_field.setText(wanted.name)  # the selected model is filtered out: the match is shown
    current = window.models.current()
    assert current is not None and current.id == wanted.id
    window.models.find_field.clear()
    assert not any(window.models.list.isRowHidden(r) for r in range(window.models.model.rowCount()))
    # export: Ctrl+E opens the wizard for the selected model
    window.models.select(window.models.model.items[0].id)
    qtbot.keyClick(window, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    wizards = window.findChildren(ExportWizard)
    assert len(wizards) == 1 and wizards[0].isVisible()
    wizards[0].reject()
    # delete: the Delete key asks the Exports page's own delete question about the selected export
    questions: list[str] = []
    monkeypatch.setattr(window.history, "confirm", lambda q, *_: questions.append(q) or False)
    window.show_page("Exports")
    window.history.all_models.setChecked(True)
    window.history.select(job_id)
    window.history.table.setFocus()
    qtbot.keyClick(window.history.table, Qt.Key.Key_Delete)
    assert len(questions) == 1 and "cannot be undone" in questions[0]
    assert service.get(job_id) is not None  # answered no: nothing deleted
    window.show_page("Capabilities")
    window.menu_actions["delete"].trigger()
    assert len(questions) == 1 and "Nothing to delete" in window.statusBar().currentMessage()
    # open: Ctrl+O is the Models page's "Add checkpoint…"
    opened: list[str] = []
    monkeypatch.setattr(QFileDialog, "getOpenFileNames",
                        lambda *args: (opened.append(args[1]) or [], ""))
    qtbot.keyClick(window, Qt.Key.Key_O, Qt.KeyboardModifier.ControlModifier)
    assert opened == ["Add checkpoints"] and window.current_page() == "Models"
    # pages: Ctrl+N is the Nth page of the navigation
    qtbot.keyClick(window, Qt.Key.Key_4, Qt.KeyboardModifier.ControlModifier)
    assert window.current_page() == PAGES[3]


def test_window_page_and_splitters_come_back_after_a_restart(qtbot: QtBot, slipway_home: Path,
                                                             tmp_path: Path) -> None:
    first = open_window(qtbot)
    first.resize(780, 520)  # inside the offscreen screen (800×600), not the first-run 1280×800
    first.show_page("Deployments")  # built now: the window may grow to the page's minimum width
    size = first.size()
    assert (size.width(), size.height()) != (1280, 800)
    splitter = first.history.findChildren(QSplitter)[0]
    default = splitter.sizes()
    splitter.setSizes([60, 400])
    sizes = splitter.sizes()
    first.close()
    assert (slipway_home / STATE_FILE).exists()  # the test's data directory, not the user's settings
    assert not (Path(os.environ["HOME"]) / ".config" / "Slipway").exists()

    second = open_window(qtbot)
    assert second.size() == size
    assert second.current_page() == "Deployments"
    assert second.stack.currentWidget() is second.deployments
    assert second.history.findChildren(QSplitter)[0].sizes() == sizes != default


def test_file_dialogs_start_in_the_last_folder_used(qtbot: QtBot, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "my checkpoints"
    folder.mkdir()
    checkpoint = folder / "detector.pt"
    shutil.copy(next(s for s in samples() if s.checkpoint.suffix == ".pt").checkpoint, checkpoint)
    starts: list[str] = []

    def dialog(_parent: object, _title: str, start: str, _filters: str) -> tuple[list[str], str]:
        starts.append(start)
        return ([str(checkpoint)] if len(starts) == 1 else []), ""

    monkeypatch.setattr(QFileDialog, "getOpenFileNames", dialog)
    monkeypatch.setattr(QMessageBox, "warning", lambda *args: pytest.fail(f"unexpected warning {args}"))
    window = open_window(qtbot)
    window.models.choose_file()
    assert any(c.path == str(checkpoint) for c in window.models.model.items)
    window.models.choose_file()
    assert starts == ["", str(folder)]
    window.close()
    again = open_window(qtbot)  # remembered across a restart
    again.add_checkpoint()
    assert starts[-1] == str(folder)
