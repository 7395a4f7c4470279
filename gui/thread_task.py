"""Work off the UI thread, answers on it: :func:`run_in_thread`.

A function runs on a ``QThreadPool`` thread; its result, its progress lines and its
error are delivered on the UI thread, where Qt widgets may be touched. Errors have
one destination: a :class:`~core.errors.SlipwayError` shows its own message, any
other exception a short line naming the work, its traceback goes to the app's log,
and the message goes to :func:`errors`' ``sig_error`` (the main window shows it in
its notification bar) as well as to the caller's ``on_error``.

Only signals without Python payloads cross threads (the payload waits on the task
object): passing Python objects through queued connections crashed PySide6 at
interpreter exit.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from core.errors import SlipwayError
from gui.log import log

Progress = Callable[[str], None]


class ErrorRelay(QObject):
    """The one place background errors go (the main window connects its notification bar)."""

    sig_error = Signal(str)
    """A message for people: what failed and, where the user can act, what to do."""


_relay: ErrorRelay | None = None
_live: set[ThreadTask] = set()  # tasks whose answer has not been delivered yet


def errors() -> ErrorRelay:
    """The app's error relay (made on first use, on the UI thread)."""
    global _relay
    if _relay is None:
        _relay = ErrorRelay()
    return _relay


def error_message(err: BaseException, what: str) -> str:
    """What the user reads: a Slipway error's own message; otherwise what failed and how."""
    if isinstance(err, SlipwayError):
        return err.message
    return f"{what} failed unexpectedly: {type(err).__name__}: {err} (details in the app log)"


def active_tasks() -> int:
    """Tasks started and not yet answered (tests check none is left running)."""
    return len(_live)


class ThreadTask(QObject):
    """One function run on a pool thread; created by :func:`run_in_thread`."""

    sig_progress = Signal(str)
    """A progress line the work reported, on the UI thread."""
    sig_finished = Signal()
    """The answer (result or error) was delivered, on the UI thread."""
    _sig_succeeded = Signal()  # from the pool thread; the payload is on the task
    _sig_failed = Signal()
    _sig_reported = Signal()

    def __init__(self, fn: Callable[..., Any], what: str, *, on_result: Callable[[Any], None] | None,
                 on_error: Callable[[str, BaseException], None] | None, on_progress: Progress | None,
                 owner: QObject | None, notify: bool) -> None:
        super().__init__()
        self.fn, self.what = fn, what
        self.on_result, self.on_error, self.on_progress = on_result, on_error, on_progress
        self.owner, self.notify = owner, notify
        self.result: Any = None
        self.error: BaseException | None = None
        self.message: str | None = None
        self.done = False
        self.worker_thread: int | None = None
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._sig_succeeded.connect(self._succeeded)
        self._sig_failed.connect(self._failed)
        self._sig_reported.connect(self._reported)
        if on_progress is not None:
            self.sig_progress.connect(on_progress)

    # --- on the pool thread --------------------------------------------------------------------

    def report(self, line: str) -> None:
        """Called by the work (any thread): one progress line for the UI."""
        with self._lock:
            self._lines.append(line)
        self._sig_reported.emit()

    def _run(self) -> None:
        self.worker_thread = threading.get_ident()
        try:
            self.result = self.fn(self.report) if self.on_progress is not None else self.fn()
        except BaseException as err:  # every error is delivered to the UI thread, never dropped
            self.error = err
            if isinstance(err, SlipwayError):  # expected: its message says it all
                log.warning("%s failed: %s", self.what, err.message)
            else:
                log.error("%s failed:\n%s", self.what, traceback.format_exc())
            self._sig_failed.emit()
        else:
            self._sig_succeeded.emit()

    # --- on the UI thread ----------------------------------------------------------------------

    def _owner_gone(self) -> bool:
        return self.owner is not None and not shiboken6.isValid(self.owner)

    def _reported(self) -> None:
        with self._lock:
            lines, self._lines = self._lines, []
        if not self._owner_gone():
            for line in lines:
                self.sig_progress.emit(line)

    def _succeeded(self) -> None:
        self._reported()
        try:
            if self.on_result is not None and not self._owner_gone():
                self.on_result(self.result)
        finally:
            self._end()

    def _failed(self) -> None:
        self._reported()
        assert self.error is not None
        self.message = error_message(self.error, self.what)
        try:
            if self.notify:
                errors().sig_error.emit(self.message)
            if self.on_error is not None and not self._owner_gone():
                self.on_error(self.message, self.error)
        finally:
            self._end()

    def _end(self) -> None:
        self.done = True
        self.sig_finished.emit()
        _live.discard(self)


class _Runnable(QRunnable):
    def __init__(self, task: ThreadTask) -> None:
        super().__init__()
        self.task = task

    def run(self) -> None:
        self.task._run()


def run_in_thread(fn: Callable[..., Any], *, what: str, on_result: Callable[[Any], None] | None = None,
                  on_error: Callable[[str, BaseException], None] | None = None,
                  on_progress: Progress | None = None, owner: QObject | None = None, notify: bool = True,
                  pool: QThreadPool | None = None) -> ThreadTask:
    """Run ``fn()`` on a pool thread; call back on the UI thread.

    ``what``: the work, for messages ("Building the container package"). ``on_result(value)``
    gets the return value. ``on_error(message, exception)`` gets the user's message (the
    traceback is already in the log); with ``notify`` the message also goes to
    ``errors().sig_error``. With ``on_progress``, ``fn`` is called as ``fn(report)`` and each
    ``report(line)`` reaches ``on_progress(line)`` on the UI thread. Callbacks are skipped
    once ``owner`` (a widget) has been deleted. ``pool``: default the global pool.
    """
    errors()  # the relay is made here, on the UI thread, before any worker emits to it
    task = ThreadTask(fn, what, on_result=on_result, on_error=on_error, on_progress=on_progress,
                      owner=owner, notify=notify)
    _live.add(task)
    (pool or QThreadPool.globalInstance()).start(_Runnable(task))
    return task


def wait_for_tasks(timeout_ms: int = 5000) -> bool:
    """Block until the global pool is idle (app exit only; never while the UI is in use)."""
    return bool(QThreadPool.globalInstance().waitForDone(timeout_ms))
