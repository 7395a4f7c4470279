"""The desktop app's entry: a main window over the model library and export history.

This is the spine's window; the full views (wizard, inference test, deployments)
grow on it. It imports core only — never torch or any exporter.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QApplication,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.jobs import JobService
from core.samples import samples

EXPORT_COLUMNS = ("version", "format", "status", "progress", "size", "parity", "tag")


def ensure_samples(service: JobService) -> None:
    """The library starts with the bundled sample models."""
    for sample in samples():
        if sample.checkpoint.exists():
            service.import_checkpoint(sample.checkpoint, name=sample.title,
                                      model_name=sample.model_name, sample=sample.name)


class MainWindow(QMainWindow):
    def __init__(self, service: JobService) -> None:
        super().__init__()
        self.service = service
        self.setWindowTitle("Slipway — model export studio")
        self.resize(1100, 680)
        self.models = QListWidget()
        self.models.setStyleSheet("QListWidget::item { padding: 6px 4px; }")
        self.models.currentItemChanged.connect(self._show_exports)
        self.exports = QTableWidget(0, len(EXPORT_COLUMNS))
        self.exports.setHorizontalHeaderLabels([c.title() for c in EXPORT_COLUMNS])
        self.exports.horizontalHeader().setStretchLastSection(True)
        self.exports.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        right = QWidget()
        layout = QVBoxLayout(right)
        self.title = QLabel("Select a model")
        self.title.setStyleSheet("font-size: 15px; font-weight: 600;")
        layout.addWidget(self.title)
        layout.addWidget(self.exports)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.models)
        split.addWidget(right)
        split.setSizes([320, 780])
        self.setCentralWidget(split)
        self.refresh()

    def refresh(self) -> None:
        self.models.clear()
        for checkpoint in self.service.checkpoints():
            item = QListWidgetItem(f"{checkpoint.name}\n{checkpoint.framework} · {checkpoint.task}")
            item.setData(Qt.ItemDataRole.UserRole, checkpoint.id)
            self.models.addItem(item)
        if self.models.count():
            self.models.setCurrentRow(0)
        self.statusBar().showMessage(f"{self.models.count()} models in the library")

    def _show_exports(self, item: QListWidgetItem | None) -> None:
        self.exports.setRowCount(0)
        if item is None:
            return
        self.title.setText(item.text().splitlines()[0])
        for job in self.service.list_jobs(item.data(Qt.ItemDataRole.UserRole)):
            row = self.exports.rowCount()
            self.exports.insertRow(row)
            parity = job.parity or {}
            values = (
                f"v{job.version}" + (" ★" if job.is_default else ""), job.export_format, job.status,
                f"{job.progress_percent:.0f}%",
                f"{(job.model_size_bytes or 0) / 1e6:.1f} MB" if job.model_size_bytes else "",
                parity_label(parity),
                job.version_tag or "",
            )
            for col, value in enumerate(values):
                self.exports.setItem(row, col, QTableWidgetItem(value))


def parity_label(parity: dict[str, object]) -> str:
    """The parity column: passed, failed, or why it could not run (never 'passed')."""
    if parity.get("status") == "not_run":
        return "not run (needs macOS)" if "macOS" in str(parity.get("reason")) else "not run"
    if not parity:
        return ""
    return "passed" if parity.get("passed") else "failed"


def main(argv: list[str] | None = None) -> int:
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv)
    app.setApplicationName("Slipway")
    service = JobService()
    ensure_samples(service)
    window = MainWindow(service)
    window.show()
    return int(app.exec())
