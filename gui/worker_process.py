"""The export worker as a child of the app: core's job runner, driven from the event loop.

It starts exactly the command the CLI starts (``JobService.command``) as a
:class:`~gui.child_process.ChildProcess` in its own process group, with stderr
appended to the job's log file; each stdout line is a protocol event (free text
becomes a log event), recorded through the same ``JobService`` calls the CLI uses
(``mark_started``, ``record_event``, ``finish``). Cancel records the cancellation and
stops the group: terminate, then kill after the grace period.

A job with a ``cluster_address`` runs its conductor instead (``core.cluster_run``: the
code behind ``slipway export --cluster``), which records the job itself and echoes the
remote worker's events; this object relays them, and on cancel the conductor's SIGTERM
stops the Ray job. Only a conductor that died without recording is settled here.
"""

from __future__ import annotations

import json
import time
from typing import Any, get_args

from PySide6.QtCore import QObject, QProcess, Signal

from core import launch, protocol
from core.db import ExportJob
from core.jobs import PROGRESS_WRITE_INTERVAL_S, JobService
from gui.child_process import DEFAULT_GRACE_MS, ChildProcess, process_environment

__all__ = ["WorkerProcess", "process_environment"]
EVENT_TYPES = get_args(protocol.EventType)
REMOTE_GRACE_MS = 30_000  # a conductor stopping its Ray job waits for Ray to say STOPPED


class WorkerProcess(QObject):
    """One running export worker."""

    sig_event = Signal(str, dict)
    """(job_id, event): every protocol event, as it arrives."""
    sig_finished = Signal(str, object)
    """(job_id, ExportJob): the job as recorded after the worker ended."""

    def __init__(self, service: JobService, job: ExportJob, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.job_id = job.id
        self.remote = bool(job.cluster_address)  # the conductor records; this object relays
        self.command = launch.cluster_run_command(job.id) if self.remote else service.command(job)
        self.final: dict[str, Any] | None = None
        self._last_write = 0.0
        self._last_stage: str | None = None
        self._done = False
        self._verdict: dict[str, Any] | None = None  # set by stop(): how the job ends, whatever follows
        # its own process group, so cancel reaches the converters it starts too
        grace_ms = REMOTE_GRACE_MS if self.remote else DEFAULT_GRACE_MS
        self.child = ChildProcess(self.command, self, stderr_file=launch.JobFiles(job.id).log,
                                  new_session=True, grace_ms=grace_ms)
        self.child.sig_message.connect(self._on_message)
        self.child.sig_text.connect(self.handle_line)
        self.child.sig_started.connect(self._on_started)
        self.child.sig_finished.connect(lambda code, _stopped: self.finish(code))
        self.child.sig_failed_to_start.connect(self._on_failed_to_start)

    @property
    def process(self) -> QProcess:
        """The underlying QProcess (tests point it at a program that does not exist)."""
        return self.child.process

    def start(self) -> None:
        self.child.start()

    @property
    def running(self) -> bool:
        return self.child.running

    def cancel(self) -> None:
        """Terminate the worker's process group; kill it if it lingers past the grace period."""
        if not self.running:
            return
        # records 'cancelled' first, then SIGTERM to the group (a conductor stops its Ray job)
        self.service.cancel(self.job_id, stop_remote=False)
        self.child.stop()

    def stop(self, error: dict[str, Any]) -> None:
        """Stop the worker's group (terminate, then kill) and record the job failed with this
        error event (the app's export timeout), whatever the worker says on its way out."""
        if self.running:
            self.final = self._verdict = error
            self.child.stop()

    def release(self) -> int | None:
        """Quit without it: the worker goes on alone (its pid), and the job stays ``running`` in
        the store until the next start settles it (``JobService.reconcile``)."""
        self._done = True  # this object records nothing more
        return self.child.release()

    # --- reading the worker -------------------------------------------------

    def handle_line(self, line: str) -> dict[str, Any] | None:
        """Apply one line of worker output (also how tests replay a recorded stream)."""
        if not line.strip():
            return None
        return self.handle_event(protocol.decode(line))

    def handle_event(self, event: dict[str, Any]) -> dict[str, Any]:
        if event["type"] in ("result", "error") and self._verdict is None:
            self.final = event
        now = time.monotonic()
        due = (now - self._last_write >= PROGRESS_WRITE_INTERVAL_S
               or event.get("stage") != self._last_stage)
        if not self.remote and event["type"] == "progress" and due:
            self.service.record_event(self.job_id, event)  # throttled; a new stage always lands
            self._last_write, self._last_stage = now, event.get("stage")
        self.sig_event.emit(self.job_id, event)
        return event

    def _on_message(self, message: dict[str, Any]) -> None:
        if message.get("type") in EVENT_TYPES:
            self.handle_event(message)
        else:  # a JSON object that is not a protocol event is log text, as protocol.decode says
            self.handle_line(json.dumps(message))

    def finish(self, exit_code: int | None) -> ExportJob:
        """Record how the worker ended (once) and announce it."""
        if self._done:
            return self.service.get(self.job_id)
        self._done = True
        job = self.service.get(self.job_id) if self.remote else None
        if job is None or job.completed_at is None:  # a conductor that died records nothing
            job = self.service.finish(self.job_id, exit_code, self.final)
        self.sig_finished.emit(self.job_id, job)
        return job

    def _on_started(self, pid: int) -> None:
        if not self.remote:  # the conductor marks its own start
            self.service.mark_started(self.job_id, pid)

    def _on_failed_to_start(self, reason: str) -> None:
        self.final = {"type": "error", "code": "internal",
                      "message": f"the export worker could not start: {reason}"}
        self.finish(1)
