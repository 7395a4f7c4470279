"""The QProcess adapter of core's job runner: one export worker, driven from the event loop.

It starts exactly the command the CLI starts (``JobService.command``), reads the
worker's stdout as it arrives (one JSON event per line, free text kept as log),
sends stderr to the job's log file, and records everything through the same
``JobService`` calls the CLI uses (``mark_started``, ``record_event``,
``finish``). Nothing here blocks: no ``waitFor*``; cancel is terminate, then kill
after a grace period on a ``QTimer``.
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

from core import launch, protocol
from core.db import ExportJob
from core.jobs import PROGRESS_WRITE_INTERVAL_S, JobService


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
        self.command = service.command(job)
        self.final: dict[str, Any] | None = None
        self._buffer = b""
        self._last_write = 0.0
        self._last_stage: str | None = None
        self._done = False
        self.process = QProcess(self)
        self.process.setProgram(self.command[0])
        self.process.setArguments(self.command[1:])
        self.process.setProcessEnvironment(process_environment())
        self.process.setStandardErrorFile(str(launch.JobFiles(job.id).log), QProcess.OpenModeFlag.Append)
        # its own process group, so cancel reaches the converters it starts too
        self.process.setUnixProcessParameters(QProcess.UnixProcessFlag.CreateNewSession)
        self.process.readyReadStandardOutput.connect(self._read_stdout)
        self.process.started.connect(self._on_started)
        self.process.finished.connect(self._on_finished)
        self.process.errorOccurred.connect(self._on_error)
        self._kill_timer = QTimer(self)
        self._kill_timer.setSingleShot(True)
        self._kill_timer.setInterval(int(launch.CANCEL_GRACE_S * 1000))
        self._kill_timer.timeout.connect(self.process.kill)

    def start(self) -> None:
        self.process.start()

    @property
    def running(self) -> bool:
        return self.process.state() != QProcess.ProcessState.NotRunning

    def cancel(self) -> None:
        """Terminate the worker's process group; kill it if it lingers past the grace period."""
        if not self.running:
            return
        self.service.cancel(self.job_id)  # records 'cancelled' first, then SIGTERM to the group
        self.process.terminate()
        self._kill_timer.start()

    # --- reading the worker -------------------------------------------------

    def handle_line(self, line: str) -> dict[str, Any] | None:
        """Apply one line of worker output (also how tests replay a recorded stream)."""
        if not line.strip():
            return None
        event = protocol.decode(line)
        if event["type"] in ("result", "error"):
            self.final = event
        now = time.monotonic()
        if event["type"] == "progress" and (now - self._last_write >= PROGRESS_WRITE_INTERVAL_S
                                            or event.get("stage") != self._last_stage):
            self.service.record_event(self.job_id, event)  # throttled; a new stage always lands
            self._last_write, self._last_stage = now, event.get("stage")
        self.sig_event.emit(self.job_id, event)
        return event

    def finish(self, exit_code: int | None) -> ExportJob:
        """Record how the worker ended (once) and announce it."""
        if self._done:
            return self.service.get(self.job_id)
        self._done = True
        self._kill_timer.stop()
        job = self.service.finish(self.job_id, exit_code, self.final)
        self.sig_finished.emit(self.job_id, job)
        return job

    def _read_stdout(self) -> None:
        self._buffer += bytes(self.process.readAllStandardOutput().data())
        *lines, self._buffer = self._buffer.split(b"\n")
        for raw in lines:
            self.handle_line(raw.decode("utf-8", errors="replace"))

    def _on_started(self) -> None:
        self.service.mark_started(self.job_id, int(self.process.processId()))

    def _on_finished(self, exit_code: int, status: QProcess.ExitStatus) -> None:
        self._read_stdout()
        if self._buffer:
            self.handle_line(self._buffer.decode("utf-8", errors="replace"))
            self._buffer = b""
        self.finish(exit_code if status == QProcess.ExitStatus.NormalExit else -1)

    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self.final = {"type": "error", "code": "internal",
                          "message": f"the export worker could not start: {self.process.errorString()}"}
            self.finish(1)


def process_environment() -> QProcessEnvironment:
    """The environment of every child the GUI starts: the worker's (unbuffered, UTF-8)."""
    env = QProcessEnvironment()
    for key, value in launch.worker_environment().items():
        env.insert(key, value)
    return env
