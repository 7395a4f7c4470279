"""One child process driven from the Qt event loop: the GUI's only way to run another program.

The export worker, the endpoint server, the prediction child: each is a thin use of
:class:`ChildProcess`. It starts the command with separate channels and the worker's
environment (unbuffered, UTF-8), frames stdout into lines as bytes arrive (a line split
across reads is joined, a multi-byte character split across reads is kept whole), decodes
each line that is a JSON object into ``sig_message`` and hands every other line over as
``sig_text``; stderr goes to a log file (written by the OS, so it survives the app) or, line
by line, to ``sig_stderr`` and a short tail kept for error messages. Stop is SIGTERM, then
SIGKILL when the grace period on a ``QTimer`` runs out; nothing here calls ``waitFor*``,
so the UI thread never blocks on a child.
"""

from __future__ import annotations

import json
import os
import signal
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

from core import launch

_released: list[QProcess] = []  # children let go on purpose: never destroyed, so never killed

DEFAULT_GRACE_MS = int(launch.CANCEL_GRACE_S * 1000)
TAIL_LINES = 200


def process_environment() -> QProcessEnvironment:
    """The environment of every child the GUI starts: the worker's (unbuffered, UTF-8)."""
    env = QProcessEnvironment()
    for key, value in launch.worker_environment().items():
        env.insert(key, value)
    return env


class LineBuffer:
    """Bytes in, complete lines out; the unfinished tail waits for the next read."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, data: bytes) -> list[str]:
        *lines, self._pending = (self._pending + data).split(b"\n")
        return [_decode(raw) for raw in lines]

    def flush(self) -> list[str]:
        """The last line when the stream ended without a newline."""
        rest, self._pending = self._pending, b""
        return [_decode(rest)] if rest else []


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace").rstrip("\r")


def json_object(line: str) -> dict[str, Any] | None:
    """The line as a JSON object, or None when it is free text (or JSON that is not an object)."""
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


class ChildProcess(QObject):
    """One child process: line-framed stdout, JSON messages, stderr to a log, terminate-then-kill."""

    sig_started = Signal(int)
    """The child is running: its process id."""
    sig_message = Signal(dict)
    """A stdout line that is a JSON object, decoded."""
    sig_text = Signal(str)
    """A stdout line that is not a JSON object: free text, for a log."""
    sig_stderr = Signal(str)
    """A stderr line (only when stderr is not sent to a file)."""
    sig_finished = Signal(int, bool)
    """(exit code, stopped): the code is -1 when the child crashed or was killed; ``stopped``
    says :meth:`stop` asked it to end. Output already read has been delivered before this."""
    sig_kill_due = Signal()
    """The grace period after :meth:`stop` ran out: the child is being killed now."""
    sig_failed_to_start = Signal(str)
    """The program could not be started; why, for people. No ``sig_finished`` follows."""

    def __init__(self, command: list[str], parent: QObject | None = None, *, stderr_file: Path | None = None,
                 new_session: bool = False, grace_ms: int = DEFAULT_GRACE_MS) -> None:
        """``stderr_file``: append stderr there instead of emitting it; ``new_session``: the child
        leads its own process group and stop/kill reach every process it started."""
        super().__init__(parent)
        self.command = list(command)
        self.new_session = new_session
        self.pid: int | None = None
        self.exit_code: int | None = None
        self.stderr_tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._stopping = False
        self._stdout, self._stderr = LineBuffer(), LineBuffer()
        self.process = QProcess(self)
        self.process.setProgram(self.command[0])
        self.process.setArguments(self.command[1:])
        self.process.setProcessEnvironment(process_environment())
        self.process.setProcessChannelMode(QProcess.ProcessChannelMode.SeparateChannels)
        if stderr_file is not None:
            self.process.setStandardErrorFile(str(stderr_file), QProcess.OpenModeFlag.Append)
        if new_session:
            self.process.setUnixProcessParameters(QProcess.UnixProcessFlag.CreateNewSession)
        self.process.readyReadStandardOutput.connect(self._read_stdout)
        self.process.readyReadStandardError.connect(self._read_stderr)
        self.process.started.connect(self._on_started)
        self.process.finished.connect(self._on_finished)
        self.process.errorOccurred.connect(self._on_error)
        self._kill_timer = QTimer(self)
        self._kill_timer.setSingleShot(True)
        self._kill_timer.setInterval(grace_ms)
        self._kill_timer.timeout.connect(self._grace_over)

    # --- control -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the child; ``sig_started`` or ``sig_failed_to_start`` follows from the event loop."""
        self._stopping, self.exit_code = False, None
        self.process.start()

    @property
    def running(self) -> bool:
        return self.process.state() != QProcess.ProcessState.NotRunning

    @property
    def stopping(self) -> bool:
        return self._stopping

    def write(self, message: dict[str, Any] | str) -> None:
        """One line to the child's stdin (a dict is written as JSON)."""
        line = message if isinstance(message, str) else json.dumps(message)
        self.process.write((line.rstrip("\n") + "\n").encode("utf-8"))

    def close_input(self) -> None:
        """End of input: a child that reads stdin until EOF ends by itself."""
        self.process.closeWriteChannel()

    def stop(self) -> None:
        """SIGTERM now (the whole group for ``new_session``), SIGKILL after the grace period."""
        if not self.running:
            return
        self._stopping = True
        if not self._signal_group(signal.SIGTERM):
            self.process.terminate()
        self._kill_timer.start()

    def release(self) -> int | None:
        """Let the child outlive this object and the app: its pid, or None when none runs.

        Qt kills a running child when its ``QProcess`` is destroyed, so the ``QProcess`` is
        unparented and kept for the rest of this process's life; nothing is read from the
        child any more (its stdout is closed: a child that survives a closed pipe goes on,
        as the export worker does) and no signal of it reaches this object again.
        """
        if not self.running:
            return None
        self._kill_timer.stop()
        process = self.process
        process.blockSignals(True)
        process.closeReadChannel(QProcess.ProcessChannel.StandardOutput)
        process.closeReadChannel(QProcess.ProcessChannel.StandardError)
        process.closeWriteChannel()
        process.setParent(None)
        _released.append(process)
        return self.pid

    def _grace_over(self) -> None:
        if self.running:
            self.sig_kill_due.emit()
            self.kill()

    def kill(self) -> None:
        """SIGKILL now (the whole group for ``new_session``)."""
        if not self.running:
            return
        self._signal_group(signal.SIGKILL)
        self.process.kill()

    def _signal_group(self, sig: signal.Signals) -> bool:
        if not self.new_session or not self.pid:
            return False
        try:
            os.killpg(self.pid, sig)  # the group this child leads: its own converters too
        except (ProcessLookupError, PermissionError):
            return False
        return True

    # --- reading -----------------------------------------------------------------------------

    def _dispatch(self, line: str) -> None:
        if not line.strip():
            return
        message = json_object(line)
        if message is not None:
            self.sig_message.emit(message)
        else:
            self.sig_text.emit(line)

    def _emit_stderr(self, line: str) -> None:
        self.stderr_tail.append(line)
        self.sig_stderr.emit(line)

    def _read_stdout(self) -> None:
        for line in self._stdout.feed(bytes(self.process.readAllStandardOutput().data())):
            self._dispatch(line)

    def _read_stderr(self) -> None:
        for line in self._stderr.feed(bytes(self.process.readAllStandardError().data())):
            self._emit_stderr(line)

    def last_error_line(self) -> str:
        """The last non-empty stderr line without its ``error:`` prefix (the CLI's message)."""
        for line in reversed(self.stderr_tail):
            if line.strip():
                return line.strip().removeprefix("error:").strip()
        return ""

    # --- lifecycle -------------------------------------------------------------------------

    def _on_started(self) -> None:
        self.pid = int(self.process.processId())
        self.sig_started.emit(self.pid)

    def _on_finished(self, exit_code: int, status: QProcess.ExitStatus) -> None:
        self._kill_timer.stop()
        self._read_stdout()
        self._read_stderr()
        for line in self._stdout.flush():
            self._dispatch(line)
        for line in self._stderr.flush():
            self._emit_stderr(line)
        self.exit_code = exit_code if status == QProcess.ExitStatus.NormalExit else -1
        self.sig_finished.emit(self.exit_code, self._stopping)

    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self.sig_failed_to_start.emit(
                f"{self.command[0]} could not be started: {self.process.errorString()}")


def serving_child(
    child: ChildProcess | None,
    command: list[str],
    parent: QObject,
    on_answer: Callable[[dict[str, Any]], None],
    on_end: Callable[..., None],
) -> ChildProcess:
    """A long-lived child that answers one JSON line per request: ``child`` while it runs,
    else a new one (the ended one deleted) started with ``command``. ``on_end(code, stopped)``
    when it ends, ``on_end(-1, False, reason)`` when it cannot start."""
    if child is not None and child.running:
        return child
    if child is not None:
        child.deleteLater()
    child = ChildProcess(command, parent)
    child.sig_message.connect(on_answer)
    child.sig_finished.connect(on_end)
    child.sig_failed_to_start.connect(lambda reason: on_end(-1, False, reason))
    child.start()
    return child
