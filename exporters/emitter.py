"""The worker's side of the protocol: events to the host, a readable log to export.log."""

from __future__ import annotations

import time
from pathlib import Path
from typing import IO, Any

from core import protocol


class HostStream:
    """The protocol's stdout, which outlives its reader: once the host is gone (a closed pipe,
    EPIPE) writes are dropped, so the export goes on to its log and result.json."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.closed_by_host = False

    def write(self, text: str) -> int:
        if not self.closed_by_host:
            try:
                self.stream.write(text)
            except (BrokenPipeError, ConnectionResetError, ValueError, OSError):
                self.closed_by_host = True
        return len(text)

    def flush(self) -> None:
        if not self.closed_by_host:
            try:
                self.stream.flush()
            except (BrokenPipeError, ConnectionResetError, ValueError, OSError):
                self.closed_by_host = True


class Emitter:
    """Writes protocol events to a stream and times each stage."""

    def __init__(self, stream: IO[str] | HostStream, log_path: Path | None = None) -> None:
        self.stream = stream
        self.log_path = log_path
        self.timings: dict[str, float] = {}
        self._stage: str | None = None
        self._stage_start = 0.0
        self._lines: list[str] = []
        self.subject = ""  # what is being exported, once loaded: "timm model 'resnet18'"

    @property
    def current_stage(self) -> str | None:
        return self._stage

    def emit(self, event: dict[str, Any]) -> None:
        self.stream.write(protocol.encode(event) + "\n")
        self.stream.flush()
        if event["type"] in ("log", "error") or (event["type"] == "progress" and event.get("message")):
            stamp = time.strftime("%H:%M:%S")
            text = event.get("message", "")
            kind = event.get("stage") or event.get("level") or event["type"]
            self._lines.append(f"{stamp} [{kind}] {text}")

    def log(self, message: str, level: str = "info") -> None:
        self.emit(protocol.log(message, level))

    def stage(self, name: str, message: str = "") -> None:
        """Start a stage (closing the previous one's timer)."""
        self._close_stage()
        self._stage, self._stage_start = name, time.perf_counter()
        self.emit(protocol.progress(name, 0.0, message or f"{name}…"))

    def progress(self, fraction: float, message: str = "") -> None:
        assert self._stage is not None
        self.emit(protocol.progress(self._stage, fraction, message))

    def _close_stage(self) -> None:
        if self._stage is not None:
            elapsed = time.perf_counter() - self._stage_start
            self.timings[self._stage] = round(self.timings.get(self._stage, 0.0) + elapsed, 4)
            self._lines.append(f"[{self._stage}] took {elapsed:.2f} s")
            self._stage = None

    def finish(self) -> dict[str, float]:
        self._close_stage()
        return dict(self.timings)

    def write_log(self, path: Path | None = None) -> None:
        target = path or self.log_path
        if target is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("\n".join(self._lines) + "\n", encoding="utf-8")
