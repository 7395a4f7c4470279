"""Exports whose worker outlived an earlier run of the app ("Keep running and quit").

At start ``JobService`` settles the jobs whose workers died (their result.json, or failed with
the reason); a job whose worker is still alive stays ``running``. This watcher asks again, off
the UI thread, once a second while such jobs exist, and announces each one as it settles with
its real result.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal

from core.db import ExportJob, JobStatus
from core.jobs import JobService
from gui.export_runner import ExportRunner
from gui.thread_task import run_in_thread

CHECK_INTERVAL_MS = 1000


def _unsettled(status: str, open_ended: bool) -> bool:
    """Running, or cancelled while nobody followed its worker to the end."""
    return status == JobStatus.RUNNING or (status == JobStatus.CANCELLED and open_ended)


class DetachedJobs(QObject):
    """Follows the running jobs this app did not start until they end."""

    sig_settled = Signal(object)
    """list[ExportJob]: detached jobs that ended, as now recorded."""

    def __init__(self, service: JobService, runner: ExportRunner, parent: QObject | None = None,
                 interval_ms: int = CHECK_INTERVAL_MS) -> None:
        super().__init__(parent)
        self.service = service
        self.runner = runner
        self.waiting: list[str] = []
        """Detached jobs still running, as of the last check."""
        self._busy = False
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.check)

    def start(self) -> None:
        """Look once now; keep looking while detached jobs run."""
        self.check()

    def check(self) -> None:
        if self._busy:
            return
        self._busy = True
        ours = set(self.runner.workers)
        run_in_thread(lambda: self._settle(ours), what="Checking exports that ran without the app",
                      on_result=self._checked, on_error=lambda *_: self._failed(), owner=self,
                      notify=False)

    def _settle(self, ours: set[str]) -> tuple[list[ExportJob], list[str]]:
        settled = [self.service.get(job_id) for job_id in self.service.reconcile(exclude=ours)]
        waiting = [job.id for job in self.service.list_jobs()
                   if job.id not in ours and _unsettled(job.status, job.completed_at is None)]
        return settled, waiting

    def _checked(self, answer: tuple[list[ExportJob], list[str]]) -> None:
        self._busy = False
        settled, self.waiting = answer
        if settled:
            self.sig_settled.emit(settled)
        if self.waiting and not self.timer.isActive():
            self.timer.start()
        elif not self.waiting:
            self.timer.stop()

    def cancel(self, job_id: str) -> bool:
        """Stop a detached job's worker (terminate, then kill); it settles as cancelled when the
        worker has ended. False when it is not one of the jobs watched here."""
        if job_id not in self.waiting:
            return False
        self.service.cancel(job_id)
        if not self.timer.isActive():
            self.timer.start()
        return True

    def _failed(self) -> None:
        self._busy = False
        self.timer.stop()
