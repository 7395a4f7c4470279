"""Starts export jobs from specs and keeps their workers; the GUI's one place for running exports."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from core.db import ExportJob
from core.jobs import JobService
from core.spec import ExportSpec
from gui.worker_process import WorkerProcess


class ExportRunner(QObject):
    """Creates jobs, runs their workers, and re-announces what they say."""

    sig_started = Signal(str)
    """job_id: a job was created and its worker is starting."""
    sig_event = Signal(str, dict)
    """(job_id, event): a protocol event from a running worker."""
    sig_finished = Signal(str, object)
    """(job_id, ExportJob): a worker ended and its job is recorded."""

    def __init__(self, service: JobService, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.workers: dict[str, WorkerProcess] = {}

    def start(self, spec: ExportSpec, out_dir: Path | None = None,
              cluster_address: str | None = None) -> ExportJob:
        """``cluster_address``: run it on that Ray cluster (checked first: gui.cluster_exports)."""
        job = self.service.create_job(spec, out_dir, cluster_address=cluster_address)
        worker = self.adopt(job)
        worker.start()
        self.sig_started.emit(job.id)
        return job

    def adopt(self, job: ExportJob) -> WorkerProcess:
        """A worker for a created job, wired to this runner (not started)."""
        worker = WorkerProcess(self.service, job, self)
        worker.sig_event.connect(self.sig_event)
        worker.sig_finished.connect(self._on_finished)
        self.workers[job.id] = worker
        return worker

    def cancel(self, job_id: str) -> bool:
        worker = self.workers.get(job_id)
        if worker is None or not worker.running:
            return False
        worker.cancel()
        return True

    def running(self) -> list[str]:
        """The jobs whose workers this app is running now."""
        return [job_id for job_id, worker in self.workers.items() if worker.running]

    def cancel_all(self) -> int:
        """Cancel every running export; each ends with ``sig_finished``. How many were asked."""
        return sum(self.cancel(job_id) for job_id in self.running())

    def release_all(self) -> list[str]:
        """Let every running worker outlive the app (``WorkerProcess.release``): their jobs."""
        released = [job_id for job_id in self.running() if self.workers[job_id].release()]
        for job_id in released:
            self.workers.pop(job_id)
        return released

    def is_running(self, job_id: str) -> bool:
        worker = self.workers.get(job_id)
        return worker is not None and worker.running

    def _on_finished(self, job_id: str, job: ExportJob) -> None:
        worker = self.workers.pop(job_id, None)
        if worker is not None:
            worker.deleteLater()
        self.sig_finished.emit(job_id, job)
