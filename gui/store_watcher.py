"""Live views of the job store: the app hears every commit, from any process, without polling.

:class:`StoreWatcher` watches the SQLite database and its write-ahead log (``-wal``) with a
``QFileSystemWatcher``: every commit, whether by this app, a CLI export or the endpoint server,
writes the WAL (a checkpoint writes the database file), so a change is announced without the
app reading anything. Bursts are coalesced: ``sig_changed`` comes at most once per
``settle_ms``. The folder is watched too, so a WAL that is removed (the last connection closed)
and made again is picked up.

:class:`LiveRead` ties a view to it: on each change its ``read`` runs on a pool thread
(``gui.thread_task``), one at a time (a change during a read asks for one more), and its
``apply`` gets the answer on the UI thread.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer, Signal

from gui.thread_task import ThreadTask, run_in_thread

SETTLE_MS = 300


class StoreWatcher(QObject):
    """Announces that the job store changed."""

    sig_changed = Signal()
    """Something was committed to the store (coalesced: at most once per ``settle_ms``)."""

    def __init__(self, database: Path, parent: QObject | None = None, settle_ms: int = SETTLE_MS) -> None:
        super().__init__(parent)
        self.files = [Path(database), Path(database).with_name(Path(database).name + "-wal")]
        self.watcher = QFileSystemWatcher(self)
        self.watcher.addPath(str(self.files[0].parent))
        self._watch_files()
        self.watcher.fileChanged.connect(self._changed)
        self.watcher.directoryChanged.connect(self._changed)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(settle_ms)
        self.timer.timeout.connect(self.sig_changed)

    def _watch_files(self) -> None:
        watched = set(self.watcher.files())
        missing = [str(p) for p in self.files if str(p) not in watched and p.exists()]
        if missing:
            self.watcher.addPaths(missing)

    def _changed(self, _path: str) -> None:
        self._watch_files()  # a file that was replaced or made again is watched anew
        if not self.timer.isActive():
            self.timer.start()


class LiveRead(QObject):
    """Re-reads something off the UI thread whenever the store changes, and applies it."""

    def __init__(
        self,
        watcher: StoreWatcher,
        read: Callable[[], Any],
        apply: Callable[[Any], None],
        owner: QObject,
        what: str,
    ) -> None:
        super().__init__(owner)
        self.read, self.apply, self.owner, self.what = read, apply, owner, what
        self.task: ThreadTask | None = None
        self.again = False
        watcher.sig_changed.connect(self.request)

    def request(self) -> None:
        if self.task is not None:
            self.again = True
            return
        self.again = False
        self.task = run_in_thread(
            self.read,
            what=self.what,
            on_result=self._answered,
            on_error=lambda *_: self._answered(None),
            owner=self.owner,
            notify=False,
        )

    def _answered(self, value: Any) -> None:
        self.task = None
        if value is not None:
            self.apply(value)
        if self.again:
            self.request()
