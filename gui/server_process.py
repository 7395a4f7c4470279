"""The local endpoint server (`slipway serve`) as a child process the app starts and stops.

The server prints exactly one stdout line, ``listening on http://HOST:PORT``,
once it accepts connections; until then the state is ``starting``. Stop is
SIGTERM, then SIGKILL after a grace period: the :class:`~gui.child_process.ChildProcess`
times it on a QTimer, so nothing here blocks the UI thread.
"""

from __future__ import annotations

import re

from PySide6.QtCore import QObject, QProcess, Signal

from core.launch import cli_command
from gui.child_process import ChildProcess

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
        self._child: ChildProcess | None = None

    @property
    def process(self) -> QProcess | None:
        """The current child's QProcess (None before the first start)."""
        return None if self._child is None else self._child.process

    @property
    def running(self) -> bool:
        return self.state in (ServerState.STARTING, ServerState.RUNNING, ServerState.STOPPING)

    def start(self, port: int = 0, host: str = "127.0.0.1") -> None:
        if self.running:
            return
        if self._child is not None:
            self._child.deleteLater()
        child = ChildProcess(self._command or server_command(port, host), self, grace_ms=STOP_GRACE_MS)
        child.sig_text.connect(self._stdout_line)
        child.sig_message.connect(lambda message: self._emit_log(str(message)))
        child.sig_stderr.connect(self._emit_log)
        child.sig_kill_due.connect(lambda: self._emit_log("the server did not stop in time; killing it"))
        child.sig_finished.connect(self._finished)
        child.sig_failed_to_start.connect(self._failed_to_start)
        self._child, self.url, self.exit_code = child, None, None
        self._set_state(ServerState.STARTING)
        child.start()

    def stop(self) -> None:
        if self._child is None or not self.running:
            return
        self._set_state(ServerState.STOPPING)
        self._child.stop()

    def _stdout_line(self, line: str) -> None:
        self._emit_log(line)
        match = LISTENING.search(line)
        if match and self.state == ServerState.STARTING:
            self.url = match.group(1)
            self._set_state(ServerState.RUNNING)
            self.sig_listening.emit(self.url)

    def _emit_log(self, line: str) -> None:
        self.log.append(line)
        del self.log[:-500]
        self.sig_log.emit(line)

    def _finished(self, code: int, stopped: bool) -> None:
        self.exit_code = code
        self.url = None
        self._set_state(ServerState.STOPPED if stopped or code == 0 else ServerState.FAILED)

    def _failed_to_start(self, reason: str) -> None:
        self._emit_log(f"the endpoint server could not be started: {reason}")
        self._set_state(ServerState.FAILED)

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.sig_state_changed.emit(state)
