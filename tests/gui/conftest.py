"""Fixtures for the GUI tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytestqt.qtbot import QtBot

from core.jobs import JobService
from gui.app import ensure_samples
from gui.main_window import MainWindow
from gui.thread_task import active_tasks


@pytest.fixture(autouse=True)
def no_thread_task_left_running(qtbot: QtBot) -> Iterator[None]:
    """A test must not leave work running on a pool thread (it would answer into the next test)."""
    yield
    qtbot.waitUntil(lambda: active_tasks() == 0, timeout=30_000)


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
