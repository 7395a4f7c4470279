"""One evaluation or batch prediction at a time, in a child process (``exporters.evaluate_process``).

The child streams a progress line per image and writes its result file whole at the end;
this object turns those lines into signals. Cancel stops the child (SIGTERM, then SIGKILL
after the grace period, never a blocking wait) and removes any partial file it left, so a
cancelled run writes nothing.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from core.launch import evaluate_command
from gui.child_process import ChildProcess


class EvaluateRunner(QObject):
    sig_progress = Signal(int, int)
    """(images done, images in all)."""
    sig_report = Signal(dict)
    """An evaluation finished: its report (core.evaluation.evaluate)."""
    sig_predicted = Signal(str)
    """A batch prediction finished: the file written."""
    sig_failed = Signal(str)
    """A message for people."""
    sig_cancelled = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.child: ChildProcess | None = None
        self._scratch = tempfile.TemporaryDirectory(prefix="slipway-evaluate-")
        self._mode = ""
        self._out: Path | None = None
        self._error = ""
        self._done = False
        self._runs = 0

    @property
    def busy(self) -> bool:
        return self.child is not None

    def evaluate(self, package: Path, data: Path, original_spec: Path | None = None) -> None:
        self._runs += 1
        out = Path(self._scratch.name) / f"report-{self._runs}.json"
        args = ["evaluate", "--package", str(package), "--data", str(data), "--out", str(out)]
        self._start("evaluate", out, args + (["--original", str(original_spec)] if original_spec else []))

    def predict(self, package: Path, images: Path, out: Path, original_spec: Path | None = None) -> None:
        args = ["predict", "--package", str(package), "--images", str(images), "--out", str(out)]
        self._start("predict", out, args + (["--original", str(original_spec)] if original_spec else []))

    def _start(self, mode: str, out: Path, args: list[str]) -> None:
        if self.child is not None:
            raise RuntimeError("an evaluation is already running")
        self._mode, self._out, self._error, self._done = mode, out, "", False
        child = ChildProcess(evaluate_command(*args), self)
        child.sig_message.connect(self._message)
        child.sig_finished.connect(self._finished)
        child.sig_failed_to_start.connect(self._failed_to_start)
        self.child = child
        child.start()

    def cancel(self) -> None:
        if self.child is not None:
            self.child.stop()

    def _message(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "progress":
            self.sig_progress.emit(int(message["done"]), int(message["total"]))
        elif kind == "error":
            self._error = str(message.get("message", "the evaluation failed"))
        elif kind == "done":
            self._done = True

    def _finished(self, code: int, stopped: bool) -> None:
        child, self.child = self.child, None
        if child is not None:
            child.deleteLater()
        out = self._out
        if stopped:
            from core.evaluation import PARTIAL_SUFFIX  # numpy: loaded when needed, not at start-up

            if out is not None:
                out.with_name(out.name + PARTIAL_SUFFIX).unlink(missing_ok=True)
            self.sig_cancelled.emit()
            return
        if not self._done or out is None or not out.is_file():
            tail = child.last_error_line() if child is not None else ""
            self.sig_failed.emit(self._error or f"the evaluation process exited (code {code})"
                                 + (f": {tail}" if tail else ""))
            return
        if self._mode == "predict":
            self.sig_predicted.emit(str(out))
            return
        self.sig_report.emit(json.loads(out.read_text(encoding="utf-8")))

    def _failed_to_start(self, reason: str) -> None:
        child, self.child = self.child, None
        if child is not None:
            child.deleteLater()
        self.sig_failed.emit(reason)

    def shutdown(self) -> None:
        """Stop a running child; call when the app quits."""
        if self.child is not None:
            self.child.stop()
            self.child.kill()
