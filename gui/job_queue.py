"""The app's export queue: at most N exports run at once, each for at most T.

Exports started in the app go through here (``ExportRunner.start``). One that finds every slot
taken is recorded ``queued`` (owned by the app's process, ``JobService.create_job``) and starts,
in order, when a running export ends. A queued export can be cancelled before it starts: it is
recorded cancelled, never left queued. Queued exports run only while the app is open: at a quit
they are cancelled with that reason, and those an app left behind when it crashed are settled
the same way by the next ``JobService`` to start (``JobService.reconcile``; the owner's process
is gone). A running export past the timeout is stopped and recorded failed, the reason naming
the timeout.

The limit and the timeout are the app's preferences (Settings → Jobs). The automatic limit is 1
on a small machine (4 CPU cores or fewer, or less than 16 GiB of memory) and 2 otherwise: every
export runs torch and a converter in its own process, a few GiB and every core at times.
The limit counts the app's own exports; exports run from the CLI are not queued.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from core.errors import SlipwayError
from core.jobs import QUEUED_ORPHANED, JobService
from gui.preferences import Preferences

SMALL_MACHINE_CORES = 4
SMALL_MACHINE_MEMORY = 16 * 1024**3
TIMEOUT_CODE = "timeout"


def memory_bytes() -> int | None:
    """This machine's physical memory, where the OS tells it (None elsewhere)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None


def automatic_limit(cores: int | None = None, memory: int | None = None) -> int:
    """Exports at once when the setting is automatic: 1 on a small machine, else 2."""
    cores = cores if cores is not None else os.cpu_count() or 1
    memory = memory if memory is not None else memory_bytes()
    small = cores <= SMALL_MACHINE_CORES or (memory is not None and memory < SMALL_MACHINE_MEMORY)
    return 1 if small else 2


def timeout_sentence(timeout_s: float) -> str:
    minutes = timeout_s / 60
    span = f"{minutes:g} minute{'s' if minutes != 1 else ''}" if timeout_s >= 60 else f"{timeout_s:g} s"
    return f"stopped by the export timeout: it ran longer than {span} (Settings → Jobs → Timeout per export)"


class JobQueue(QObject):
    """Which of the app's exports run now, which wait, and for how long each may run.

    ``launch(job_id)`` starts a job's worker; ``expire(job_id, error)`` stops a running one
    with that error event. The runner calls :meth:`done` when a worker has ended.
    """

    sig_settled = Signal(str, object)
    """(job_id, ExportJob): a queued export was cancelled before it started."""

    def __init__(
        self,
        service: JobService,
        launch: Callable[[str], None],
        expire: Callable[[str, dict[str, Any]], None],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.service = service
        self.launch, self.expire = launch, expire
        self.waiting: deque[str] = deque()
        self.running: set[str] = set()
        self.timers: dict[str, QTimer] = {}
        self.limit = 1
        self.timeout_s: float | None = None
        self.load_preferences()

    def load_preferences(self) -> None:
        prefs = Preferences.load()
        self.configure(prefs.max_parallel_exports or automatic_limit(), prefs.export_timeout_min * 60 or None)

    def configure(self, limit: int, timeout_s: float | None) -> None:
        """A new limit applies at once (a higher one starts waiting exports); a new timeout to
        exports that start from now on."""
        self.limit, self.timeout_s = max(1, limit), timeout_s
        self._pump()

    # --- what the runner asks -----------------------------------------------------------------

    def has_room(self) -> bool:
        """Whether an export added now starts at once (else it is created ``queued``)."""
        return not self.waiting and len(self.running) < self.limit

    def add(self, job_id: str, queued: bool) -> None:
        """A created job: ``queued`` waits its turn; otherwise it starts now."""
        if queued:
            self.waiting.append(job_id)
        else:
            self._start(job_id)

    def is_queued(self, job_id: str) -> bool:
        return job_id in self.waiting

    def position(self, job_id: str) -> int:
        """1 for the next export to start; 0 when not waiting."""
        return self.waiting.index(job_id) + 1 if job_id in self.waiting else 0

    def done(self, job_id: str) -> None:
        """A worker ended: its slot goes to the next waiting export."""
        self.running.discard(job_id)
        timer = self.timers.pop(job_id, None)
        if timer is not None:
            timer.stop()
            timer.deleteLater()
        self._pump()

    def cancel(self, job_id: str, reason: str | None = None) -> bool:
        """Take a waiting export out of the queue, recorded cancelled; False if not waiting."""
        if job_id not in self.waiting:
            return False
        self.waiting.remove(job_id)
        if reason is None:
            self.service.cancel_queued(job_id)
        else:
            self.service.cancel_queued(job_id, reason)
        self.sig_settled.emit(job_id, self.service.get(job_id))
        return True

    def cancel_all(self, reason: str = QUEUED_ORPHANED) -> int:
        """Cancel every waiting export (the app is quitting); how many."""
        waiting = list(self.waiting)
        return sum(self.cancel(job_id, reason) for job_id in waiting)

    # --- inside ----------------------------------------------------------------------------------

    def _pump(self) -> None:
        while self.waiting and len(self.running) < self.limit:
            job_id = self.waiting.popleft()
            if self.service.dequeue(job_id):
                self._start(job_id)
                continue
            try:  # cancelled meanwhile from elsewhere (the CLI): announce how it ended
                job = self.service.get(job_id)
            except SlipwayError:
                continue  # deleted meanwhile
            self.sig_settled.emit(job_id, job)

    def _start(self, job_id: str) -> None:
        self.running.add(job_id)
        if self.timeout_s:
            timer = QTimer(self)
            timer.setSingleShot(True)
            timer.setInterval(int(self.timeout_s * 1000))
            timer.timeout.connect(lambda: self._expired(job_id))
            timer.start()
            self.timers[job_id] = timer
        self.launch(job_id)

    def _expired(self, job_id: str) -> None:
        if job_id in self.running and job_id in self.timers:
            timeout_s = self.timers[job_id].interval() / 1000
            self.expire(
                job_id, {"type": "error", "code": TIMEOUT_CODE, "message": timeout_sentence(timeout_s)}
            )
