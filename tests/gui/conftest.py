"""Fixtures for the GUI tests."""

from __future__ import annotations

import pytest
from pytestqt.qtbot import QtBot

from core.jobs import JobService
from gui.app import ensure_samples
from gui.main_window import MainWindow


@pytest.fixture
def window(qtbot: QtBot) -> MainWindow:
    """The main window over a library holding the bundled samples, shown and exposed."""
    service = JobService()
    ensure_samples(service)
    shown = MainWindow(service)
    qtbot.addWidget(shown)
    shown.show()
    qtbot.waitExposed(shown)
    return shown
