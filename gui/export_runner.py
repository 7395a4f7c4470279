"""Starts export jobs from specs and keeps their workers; the GUI's one place for running exports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from core.db import ExportJob
from core.jobs import JobService
from core.spec import ExportSpec
from gui.job_queue import JobQueue
from gui.worker_process import WorkerProcess


class ExportRunner(QObject):
    """Creates jobs, runs their workers, and re-announces what they say."""

    sig_started = Signal(str)
    """job_id: a job was created; its worker is starting, or it is queued (``queue``)."""
    sig_event = Signal(str, dict)
    """(job_id, event): a protocol event from a running worker."""
    sig_finished = Signal(str, object)
    """(job_id, ExportJob): a worker ended (or a queued job was cancelled) and its job is recorded."""

    def __init__(self, service: JobService, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.workers: dict[str, WorkerProcess] = {}
        self.queue = JobQueue(service, self._launch, self._expire, self)
        self.queue.sig_settled.connect(self.sig_finished)

    def start(self, spec: ExportSpec, out_dir: Path | None = None,
              cluster_address: str | None = None) -> ExportJob:
        """Create the job and start its worker, or queue it while every slot is taken.

        ``cluster_address``: run it on that Ray cluster (checked first: gui.cluster_exports);
        it runs there at once, outside this machine's queue."""
        if cluster_address is not None:
            job = self.service.create_job(spec, out_dir, cluster_address=cluster_address)
            self.adopt(job).start()
        else:
            queued = not self.queue.has_room()
            job = self.service.create_job(spec, out_dir, queued=queued)
            self.queue.add(job.id, queued)
        self.sig_started.emit(job.id)
        return job

    def _launch(self, job_id: str) -> None:
        self.adopt(self.service.get(job_id)).start()

    def _expire(self, job_id: str, error: dict[str, Any]) -> None:
        if (worker := self.workers.get(job_id)) is not None:
            worker.stop(error)

    def adopt(self, job: ExportJob) -> WorkerProcess:
        """A worker for a created job, wired to this runner (not started)."""
        worker = WorkerProcess(self.service, job, self)
        worker.sig_event.connect(self.sig_event)
        worker.sig_finished.connect(self._on_finished)
        self.workers[job.id] = worker
        return worker

    def cancel(self, job_id: str) -> bool:
        if self.queue.cancel(job_id):  # recorded cancelled before it started
            return True
        worker = self.workers.get(job_id)
        if worker is None or not worker.running:
            return False
        worker.cancel()
        return True

    def running(self) -> list[str]:
        """The jobs whose workers this app is running now."""
        return [job_id for job_id, worker in self.workers.items() if worker.running]

    def is_queued(self, job_id: str) -> bool:
        return self.queue.is_queued(job_id)

    def cancel_all(self) -> int:
        """Cancel every export, queued ones first; each ends with ``sig_finished``. How many."""
        return self.queue.cancel_all() + sum(self.cancel(job_id) for job_id in self.running())

    def release_all(self) -> list[str]:
        """Let every running worker outlive the app (``WorkerProcess.release``): their jobs.
        Queued exports cannot run without the app: they are cancelled with that reason."""
        self.queue.cancel_all()
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
        self.queue.done(job_id)  # the next queued export starts
