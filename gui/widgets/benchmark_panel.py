"""The benchmark in the app: one checkpoint exported to formats × precisions and measured side by
side, as ``slipway benchmark`` does it, in a child process (the CLI itself) with its progress
and a Cancel; the report as a table and a chart; a past report.json reopened.

Cancel sends SIGTERM to the child's process group; the CLI takes it as Ctrl-C, stops the
export worker running then and records that export as cancelled (core.cli, core.benchmark).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core import launch
from core.benchmark import PRECISIONS, REPORT_FILE, benchmarks_dir
from core.errors import SlipwayError
from core.settings import Settings
from core.spec import FORMATS
from gui.child_process import ChildProcess
from gui.models.formatting import display_path
from gui.widgets.benchmark_chart import BenchmarkChart
from gui.window_state import last_folder, open_file_name, remember_folder

COLUMNS = (("variant", "variant"), ("status", "status"), ("size MB", "size_mb"), ("p50 ms", "latency_ms_p50"),
           ("p95 ms", "latency_ms_p95"), ("speed", "speed_vs_first"), ("metric", "metric_value"),
           ("drop", "accuracy_drop"), ("reason", "reason"))
REPORTS = "benchmark-reports"  # the file dialog's remembered folder
DEFAULT_FORMATS, DEFAULT_PRECISIONS = ("onnx", "openvino"), ("fp32", "fp16")


def read_report(path: Path) -> dict[str, Any]:
    report = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(report, dict) or not isinstance(report.get("rows"), list):
        raise ValueError(f"{path.name} is not a benchmark report")
    return report


class BenchmarkPanel(QWidget):
    sig_finished = Signal(str)
    """How the last run ended: "done", "cancelled" or "failed"."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.checkpoint: Any = None
        self.report: dict[str, Any] | None = None
        self.report_path: Path | None = None
        self.child: ChildProcess | None = None
        self.outcome = ""
        self.title = QLabel("No model chosen: open a past report, or start from a model on the Models page")
        self.title.setWordWrap(True)
        self.format_boxes = {name: QCheckBox(name) for name in FORMATS}
        self.precision_boxes = {name: QCheckBox(name) for name in PRECISIONS}
        for name, box in self.format_boxes.items():
            box.setChecked(name in DEFAULT_FORMATS)
        for name, box in self.precision_boxes.items():
            box.setChecked(name in DEFAULT_PRECISIONS)
        for box in (*self.format_boxes.values(), *self.precision_boxes.values()):
            box.toggled.connect(lambda _on: self._update_buttons())
        self.run_button = QPushButton("Run benchmark")
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.open_button = QPushButton("Open report…")
        self.open_button.clicked.connect(self.choose_report)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setTextVisible(False)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels([title for title, _key in COLUMNS])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.chart = BenchmarkChart()
        choices = QVBoxLayout()
        for label, boxes in (("Formats", self.format_boxes), ("Precisions", self.precision_boxes)):
            row = QHBoxLayout()
            row.addWidget(QLabel(f"{label}:"))
            for box in boxes.values():
                row.addWidget(box)
            row.addStretch(1)
            choices.addLayout(row)
        actions = QHBoxLayout()
        actions.addWidget(self.run_button)
        actions.addWidget(self.cancel_button)
        actions.addWidget(self.progress, 1)
        actions.addWidget(self.open_button)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(self.chart)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addLayout(choices)
        layout.addLayout(actions)
        layout.addWidget(self.status)
        layout.addWidget(split, 1)
        self._update_buttons()

    # --- choosing ------------------------------------------------------------------------

    def set_checkpoint(self, checkpoint: Any) -> None:
        """The library checkpoint (``core.db.Checkpoint``) the next run benchmarks."""
        self.checkpoint = checkpoint
        self.title.setText(f"<b>{checkpoint.name}</b> — each variant is an ordinary export (listed on the "
                           "Exports page), then all are timed side by side on this machine")
        self._update_buttons()

    def chosen(self) -> tuple[list[str], list[str]]:
        return ([n for n, b in self.format_boxes.items() if b.isChecked()],
                [n for n, b in self.precision_boxes.items() if b.isChecked()])

    @property
    def running(self) -> bool:
        return self.child is not None and self.child.running

    def _update_buttons(self) -> None:
        formats, precisions = self.chosen()
        self.run_button.setEnabled(self.checkpoint is not None and not self.running and bool(formats)
                                   and bool(precisions))
        self.cancel_button.setEnabled(self.running)
        for box in (*self.format_boxes.values(), *self.precision_boxes.values()):
            box.setEnabled(not self.running)
        self.run_button.setToolTip("" if formats and precisions else "Choose a format and a precision")

    # --- running -------------------------------------------------------------------------

    def run(self) -> bool:
        formats, precisions = self.chosen()
        if self.checkpoint is None or self.running or not formats or not precisions:
            return False
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = benchmarks_dir() / f"{Path(self.checkpoint.path).stem}-{stamp}"
        args = ["benchmark", str(self.checkpoint.path), "--formats", *formats, "--precisions", *precisions,
                "--out", str(out), "--json"]
        if self.checkpoint.model_name:
            args += ["--model-name", self.checkpoint.model_name]
        try:  # Settings → Where exports run: the variants fan out across that Ray cluster
            cluster = Settings.load().export_cluster()
        except SlipwayError as err:
            self._end("failed", f"Not started: {err.message}")
            return False
        if cluster is not None:
            args += ["--cluster", cluster]
        self.report_path, self.outcome = out / REPORT_FILE, ""
        self.show_report(None)
        self.child = ChildProcess(launch.cli_command(*args), self, new_session=True,
                                  grace_ms=int(launch.CANCEL_GRACE_S * 2000))
        self.child.sig_stderr.connect(self._progress_line)
        self.child.sig_message.connect(self._answer)
        self.child.sig_finished.connect(self._finished)
        self.child.sig_failed_to_start.connect(lambda message: self._end("failed", message))
        self.progress.setRange(0, 0)  # busy: the CLI names each step, not a share of the whole
        where = f" on the Ray cluster at {cluster}" if cluster else ""
        self.status.setText(f"Benchmarking {len(formats) * len(precisions)} variant(s){where}…")
        self.child.start()
        self._update_buttons()
        return True

    def cancel(self) -> None:
        if self.running and self.child is not None:
            self.status.setText("Cancelling: stopping the export that is running…")
            self.child.stop()

    def _progress_line(self, line: str) -> None:
        if line.strip() and not line.startswith("error:"):
            self.status.setText(line.strip())

    def _answer(self, message: dict[str, Any]) -> None:
        if isinstance(message.get("rows"), list):
            self.show_report(message)

    def _finished(self, code: int, stopped: bool) -> None:
        if stopped:
            self._end("cancelled", "Cancelled; the variants exported so far stay on the Exports page")
        elif code == 0 and self.report is not None:
            self._end("done", f"Done: {display_path(str(self.report_path))}")
        else:
            why = self.child.last_error_line() if self.child else ""
            self._end("failed", f"The benchmark failed (exit {code}): {why}")

    def _end(self, outcome: str, message: str) -> None:
        self.outcome = outcome
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if outcome == "done" else 0)
        self.status.setText(message)
        self._update_buttons()
        self.sig_finished.emit(outcome)

    def stop(self) -> None:
        """The panel is going away: a running benchmark is cancelled."""
        if self.child is not None:
            self.child.stop()

    # --- the report ----------------------------------------------------------------------

    def choose_report(self) -> None:
        benchmarks_dir().mkdir(parents=True, exist_ok=True)
        if not last_folder(REPORTS):  # the first time: where the app keeps its runs
            remember_folder(REPORTS, benchmarks_dir())
        chosen = open_file_name(self, REPORTS, "Open a benchmark report",
                                "Benchmark report (report.json)")
        if chosen:
            self.open_report(Path(chosen))

    def open_report(self, path: Path) -> bool:
        try:
            report = read_report(path)
        except (OSError, ValueError) as err:
            self.status.setText(f"Cannot open {path}: {err}")
            return False
        self.report_path = path
        self.show_report(report)
        self.status.setText(f"Report of {Path(str(report.get('checkpoint', ''))).name}: "
                            f"{display_path(str(path))}")
        return True

    def show_report(self, report: dict[str, Any] | None) -> None:
        self.report = report
        rows = (report or {}).get("rows", [])
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, (_title, key) in enumerate(COLUMNS):
                value = row.get(key)
                text = "" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)
                item = QTableWidgetItem(text.splitlines()[0] if text else "")
                item.setToolTip(text)
                self.table.setItem(r, c, item)
        self.chart.set_report(report)


class BenchmarkDialog(QDialog):
    """The panel in a window of its own; closing it cancels a run still going."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Benchmark — formats × precisions")
        self.resize(980, 640)
        self.panel = BenchmarkPanel(self)
        layout = QVBoxLayout(self)
        layout.addWidget(self.panel)
        self.finished.connect(lambda _result: self.panel.stop())


def open_benchmark(parent: QWidget | None, checkpoint: Any = None,
                   report: Path | None = None) -> BenchmarkDialog:
    """The benchmark window, for a checkpoint to run and/or a report to show."""
    dialog = BenchmarkDialog(parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    if checkpoint is not None:
        dialog.panel.set_checkpoint(checkpoint)
    if report is not None:
        dialog.panel.open_report(report)
    dialog.show()
    return dialog
