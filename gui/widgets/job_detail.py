"""The history's detail pane: metadata, the parity report (rendered, and its JSON), validation,
the report chart and the log."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase, QPixmap
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from gui.models.formatting import (
    display_path,
    duration_label,
    parity_label,
    ran_on,
    size_label,
    validation_label,
)
from gui.widgets.parity_charts import AgreementChart, LayerErrorChart
from gui.widgets.parity_report import parity_html

LOG_TAIL_BYTES = 200_000


def read_tail(path: Path, limit: int = LOG_TAIL_BYTES) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(max(0, path.stat().st_size - limit))
            return fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def job_log(job: dict[str, Any]) -> str:
    """The worker's stderr log, then the package's export.log when there is one."""
    from core.launch import JobFiles

    parts = [read_tail(JobFiles(job["id"]).log)]
    export_log = Path(job["package_dir"]) / "export.log"
    if export_log.exists():
        parts.append("— export.log —\n" + read_tail(export_log))
    return "\n".join(p for p in parts if p)


def summary_html(job: dict[str, Any]) -> str:
    rows = [
        ("Export", f"v{job['version']} {job['export_format']} · {job['id'][:8]}"),
        ("Status", job["status"] + (f" — {job['error_message']}" if job.get("error_message") else "")),
        ("Framework / task", f"{job['framework']} / {job['task']}"),
        ("Package", display_path(job["package_dir"])),
        ("Ran on", ran_on(job)),
        ("Model size", size_label(job["model_size_bytes"])),
        ("Duration", duration_label(job["duration_s"])),
        ("Parity", parity_label(job["parity"])),
        ("Validation", validation_label(job["validation_metrics"]) or "not requested"),
    ]
    table = "".join(f"<tr><td><b>{html.escape(k)}</b></td><td>{html.escape(str(v))}</td></tr>"
                    for k, v in rows)
    metadata = Path(job["package_dir"]) / "metadata.json"
    sections = [f"<table cellpadding='3'>{table}</table>"]
    for title, payload in (("Validation", job["validation_metrics"]),
                           ("Timings (s)", job["timings"]), ("Optimization", job["optimization_stats"])):
        if payload:
            sections.append(f"<h4>{title}</h4><pre>{html.escape(json.dumps(payload, indent=2))}</pre>")
    if metadata.exists():
        try:
            info = json.loads(metadata.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            info = {}
        keys = ("model_info", "preprocessing", "input_spec", "classes")
        brief = {k: info.get(k) for k in keys if k in info}
        sections.append(f"<h4>metadata.json</h4><pre>{html.escape(json.dumps(brief, indent=2))}</pre>")
    return "".join(sections)


def parity_report(job: dict[str, Any]) -> dict[str, Any] | None:
    """The job's parity report, or the package's parity_report.json (a failed gate's)."""
    if job.get("parity"):
        return dict(job["parity"])
    path = Path(job["package_dir"]) / "parity_report.json"
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


def with_layers(report: dict[str, Any] | None, package_dir: str) -> dict[str, Any] | None:
    """The report with the package's on-demand layer comparison (``slipway inspect`` writes
    layer_report.json) as its ``layers`` when the gate itself compared none."""
    if not report or report.get("layers"):
        return report
    try:
        layers = json.loads((Path(package_dir) / "layer_report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return report
    return {**report, "layers": layers} if isinstance(layers, dict) else report


NO_CHART = "No report chart for this export: benchmark its model to compare formats and precisions."


class JobDetailPane(QTabWidget):
    sig_benchmark = Signal(str, object)
    """(checkpoint id, the package's report.json or None): open the benchmark panel."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.summary = QTextBrowser()
        self.chart = QLabel(NO_CHART)
        self.chart.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.chart.setWordWrap(True)
        chart_scroll = QScrollArea()
        chart_scroll.setWidgetResizable(True)
        chart_scroll.setWidget(self.chart)
        self.benchmark_button = QPushButton("Benchmark this model…")
        self.benchmark_button.clicked.connect(self._benchmark)
        chart_page = QWidget()
        chart_layout = QVBoxLayout(chart_page)
        chart_layout.setContentsMargins(0, 0, 0, 0)
        chart_layout.addWidget(chart_scroll, 1)
        chart_row = QHBoxLayout()
        chart_row.addStretch(1)
        chart_row.addWidget(self.benchmark_button)
        chart_layout.addLayout(chart_row)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setPlaceholderText("(no log yet)")
        self.log.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.parity = QTextBrowser()
        self.layer_chart = LayerErrorChart()
        self.agreement_chart = AgreementChart()
        parity_page = QWidget()
        parity_layout = QVBoxLayout(parity_page)
        parity_layout.setContentsMargins(0, 0, 0, 0)
        parity_layout.addWidget(self.layer_chart)
        parity_layout.addWidget(self.agreement_chart)
        parity_layout.addWidget(self.parity, 1)
        self.parity_raw = QPlainTextEdit()
        self.parity_raw.setReadOnly(True)
        self.parity_raw.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.addTab(self.summary, "Details")
        self.addTab(parity_page, "Parity")
        self.addTab(self.parity_raw, "Parity JSON")
        self.addTab(chart_page, "Report chart")
        self.addTab(self.log, "Log")
        self.job: dict[str, Any] | None = None
        self.show_job(None)

    def show_job(self, job: dict[str, Any] | None) -> None:
        self.job = job
        if job is None:
            self.summary.setHtml("<p>Select an export to see its details.</p>")
            self.parity.setHtml("")
            self.layer_chart.set_layers(None)
            self.agreement_chart.set_report(None)
            self.parity_raw.setPlainText("")
            self.log.setPlainText("")
            self.chart.setPixmap(QPixmap())
            self.benchmark_button.setEnabled(False)
            return
        self.summary.setHtml(summary_html(job))
        parity = parity_report(job)
        shown = with_layers(parity, job["package_dir"])
        self.parity.setHtml(parity_html(shown))
        self.layer_chart.set_layers((shown or {}).get("layers"))
        self.agreement_chart.set_report(shown)
        self.parity_raw.setPlainText(json.dumps(parity, indent=2) if parity else "")
        self.refresh_log()
        report = Path(job["package_dir"]) / "report.png"
        pixmap = QPixmap(str(report)) if report.exists() else QPixmap()
        if not pixmap.isNull():
            self.chart.setPixmap(pixmap)
        else:
            self.chart.setPixmap(QPixmap())
            self.chart.setText(NO_CHART)
        has_report = (Path(job["package_dir"]) / "report.json").is_file()
        self.benchmark_button.setText("Open in the benchmark panel…" if has_report
                                      else "Benchmark this model…")
        self.benchmark_button.setEnabled(bool(job.get("checkpoint_id")) or has_report)

    def _benchmark(self) -> None:
        if self.job is not None:
            report = Path(self.job["package_dir"]) / "report.json"
            self.sig_benchmark.emit(self.job.get("checkpoint_id") or "", report if report.is_file() else None)

    def refresh_log(self) -> None:
        if self.job is not None:
            self.log.setPlainText(job_log(self.job))
            self.log.verticalScrollBar().setValue(self.log.verticalScrollBar().maximum())
