"""The local endpoint server (`slipway serve`) as a QProcess the app starts and stops.

The server prints exactly one stdout line, ``listening on http://HOST:PORT``,
once it accepts connections; until then the state is ``starting``. Stop is
SIGTERM, then SIGKILL after a grace period, timed with a QTimer: nothing here
blocks the UI thread.
"""

from __future__ import annotations

import re

from PySide6.QtCore import QObject, QProcess, QTimer, Signal

from core.launch import cli_command
from gui.worker_process import process_environment

LISTENING = re.compile(r"listening on (http://\S+?)/?\s*$")
STOP_GRACE_MS = 3000


class ServerState:
    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    FAILED = "failed"


def server_command(port: int = 0, host: str = "127.0.0.1") -> list[str]:
    """The endpoint server's command line (pure: tests assert on it)."""
    return cli_command("serve", "--host", host, "--port", str(port))


class ServerProcess(QObject):
    sig_state_changed = Signal(str)
    """The new state (ServerState)."""
    sig_listening = Signal(str)
    """The base URL, once the server accepts connections."""
    sig_log = Signal(str)
    """A line the server wrote (stdout or stderr)."""

    def __init__(self, command: list[str] | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._command = command
        self.state = ServerState.STOPPED
        self.url: str | None = None
        self.exit_code: int | None = None
        self.log: list[str] = []
        self._process: QProcess | None = None
        self._stdout = b""
        self._kill_timer = QTimer(self)
        self._kill_timer.setSingleShot(True)
        self._kill_timer.timeout.connect(self._kill)

    @property
    def running(self) -> bool:
        return self.state in (ServerState.STARTING, ServerState.RUNNING, ServerState.STOPPING)

    def start(self, port: int = 0, host: str = "127.0.0.1") -> None:
        if self.running:
            return
        command = self._command or server_command(port, host)
        process = QProcess(self)
        process.setProcessEnvironment(process_environment())
        process.setProcessChannelMode(QProcess.ProcessChannelMode.SeparateChannels)
        process.readyReadStandardOutput.connect(self._read_stdout)
        process.readyReadStandardError.connect(self._read_stderr)
        process.finished.connect(self._finished)
        process.errorOccurred.connect(self._error)
        self._process, self._stdout, self.url, self.exit_code = process, b"", None, None
        self._set_state(ServerState.STARTING)
        process.start(command[0], command[1:])

    def stop(self) -> None:
        if self._process is None or not self.running:
            return
        self._set_state(ServerState.STOPPING)
        self._process.terminate()
        self._kill_timer.start(STOP_GRACE_MS)

    def _kill(self) -> None:
        if self._process is not None and self._process.state() != QProcess.ProcessState.NotRunning:
            self._emit_log("the server did not stop in time; killing it")
            self._process.kill()

    def _read_stdout(self) -> None:
        assert self._process is not None
        self._stdout += bytes(self._process.readAllStandardOutput().data())
        while b"\n" in self._stdout:
            raw, self._stdout = self._stdout.split(b"\n", 1)
            line = raw.decode("utf-8", "replace").rstrip()
            self._emit_log(line)
            match = LISTENING.search(line)
            if match and self.state == ServerState.STARTING:
                self.url = match.group(1)
                self._set_state(ServerState.RUNNING)
                self.sig_listening.emit(self.url)

    def _read_stderr(self) -> None:
        assert self._process is not None
        text = bytes(self._process.readAllStandardError().data()).decode("utf-8", "replace")
        for line in text.splitlines():
            self._emit_log(line)

    def _emit_log(self, line: str) -> None:
        self.log.append(line)
        del self.log[:-500]
        self.sig_log.emit(line)

    def _finished(self, code: int, status: QProcess.ExitStatus) -> None:
        self._kill_timer.stop()
        self.exit_code = code
        stopping = self.state == ServerState.STOPPING
        self.url = None
        crashed = status == QProcess.ExitStatus.CrashExit and not stopping
        self._set_state(ServerState.FAILED if (crashed or (code != 0 and not stopping))
                        else ServerState.STOPPED)

    def _error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._emit_log("the endpoint server could not be started")
            self._set_state(ServerState.FAILED)

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.sig_state_changed.emit(state)
