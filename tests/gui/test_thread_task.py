"""The run-in-thread helper: work on a pool thread, answers on the UI thread, errors to the bar."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from PySide6.QtCore import QThread
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from core.errors import BadInput
from gui.main_window import MainWindow
from gui.thread_task import active_tasks, errors, run_in_thread


def on_ui_thread() -> bool:
    app = QApplication.instance()
    assert app is not None
    return QThread.currentThread() is app.thread()


def test_the_result_and_progress_arrive_on_the_ui_thread(qtbot: QtBot) -> None:
    seen: dict[str, object] = {}
    progress: list[tuple[str, bool]] = []

    def work(report: object) -> int:
        seen["worker"] = threading.get_ident()
        seen["worker_is_ui"] = on_ui_thread()
        for step in ("one", "two", "three"):
            report(step)  # type: ignore[operator]
            time.sleep(0.02)
        return 42

    def done(value: int) -> None:
        seen["value"], seen["delivered_on_ui"] = value, on_ui_thread()

    task = run_in_thread(work, what="Counting", on_result=done,
                         on_progress=lambda line: progress.append((line, on_ui_thread())))
    with qtbot.waitSignal(task.sig_finished, timeout=10_000):
        pass
    assert seen["value"] == 42 and seen["delivered_on_ui"] is True
    assert seen["worker"] != threading.main_thread().ident and seen["worker_is_ui"] is False
    assert progress == [("one", True), ("two", True), ("three", True)]
    assert task.done and task.error is None and active_tasks() == 0


def test_a_slipway_error_reaches_the_notification_bar(qtbot: QtBot, window: MainWindow) -> None:
    def fail() -> None:
        raise BadInput("the bucket 'nope' does not exist; create it or choose another in Settings")

    got: list[tuple[str, bool]] = []
    with qtbot.waitSignal(errors().sig_error, timeout=10_000) as routed:
        run_in_thread(fail, what="Uploading", owner=window,
                      on_error=lambda message, _err: got.append((message, on_ui_thread())))
    message = "the bucket 'nope' does not exist; create it or choose another in Settings"
    assert routed.args == [message] and got == [(message, True)]
    assert window.notification.isVisible() and window.notification.text.text() == message


def test_an_unexpected_error_names_the_work_and_logs_its_traceback(
        qtbot: QtBot, window: MainWindow, caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> None:
        table: dict[str, int] = {}
        table["missing"]  # a bug, on purpose

    with caplog.at_level(logging.ERROR, logger="slipway.gui"), \
            qtbot.waitSignal(errors().sig_error, timeout=10_000) as routed:
        run_in_thread(broken, what="Testing the storage connection")
    assert routed.args[0] == ("Testing the storage connection failed unexpectedly: KeyError: 'missing' "
                              "(details in the app log)")
    assert window.notification.text.text() == routed.args[0]
    assert "Traceback" not in routed.args[0]  # the traceback is for the log, not for people
    [record] = [r for r in caplog.records if "Testing the storage connection failed" in r.getMessage()]
    assert "Traceback (most recent call last)" in record.getMessage() and "broken" in record.getMessage()


def test_answers_for_a_deleted_owner_are_dropped(qtbot: QtBot) -> None:
    owner = QWidget()
    gate = threading.Event()
    delivered: list[object] = []
    task = run_in_thread(lambda: gate.wait(5) and "late", what="Slow work", owner=owner,
                         on_result=delivered.append)
    owner.deleteLater()
    qtbot.waitUntil(lambda: not _valid(owner), timeout=5_000)
    gate.set()
    qtbot.waitUntil(lambda: task.done, timeout=10_000)
    assert delivered == [] and task.result == "late"


def _valid(obj: object) -> bool:
    import shiboken6

    return bool(shiboken6.isValid(obj))
