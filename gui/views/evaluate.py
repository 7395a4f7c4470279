"""The Evaluate view: an export (or its original checkpoint) over a labelled folder, or a batch
prediction of an unlabelled one.

Choose an export and a folder (a YOLO dataset for detectors: a data.yaml, or images/ and
labels/; an ImageFolder tree for classifiers). The run is a child process (``EvaluateRunner``)
with a progress bar and Cancel; the report shows mAP50 / mAP50-95 or top-1 / top-5, the
confusion matrix and the worst images as thumbnails; clicking one opens it in the Inference
test view. "Predict to file…" writes every image's predictions as CSV or JSON.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QIcon, QImage, QPixmap, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.db import JobStatus
from core.jobs import JobService
from core.launch import JobFiles
from gui.evaluate_runner import EvaluateRunner
from gui.models.formatting import display_path
from gui.window_state import existing_directory, remember_folder

THUMB = 112
PATH_ROLE = Qt.ItemDataRole.UserRole
RIGHT, WRONG = QColor("#d4edda"), QColor("#f8d7da")


def metrics_text(report: dict[str, Any]) -> str:
    m, images = report["metrics"], report["dataset"]["images"]
    if report["task"] == "classify":
        return f"top-1 {m['top1']:.2%} · top-5 {m['top5']:.2%} · {images} images"
    return (f"mAP50 {m['mAP50']:.3f} · mAP50-95 {m['mAP50-95']:.3f} · precision {m['precision']:.3f} · "
            f"recall {m['recall']:.3f} · {images} images, {m['instances']} boxes")


class EvaluateView(QWidget):
    sig_open_image = Signal(str, str)
    """(export id, image path): show this image in the Inference test view."""

    def __init__(self, jobs: JobService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self.report: dict[str, Any] | None = None
        self.predicted: Path | None = None
        self._report_export: str | None = None
        self.runner = EvaluateRunner(self)
        self.runner.sig_progress.connect(self._progress)
        self.runner.sig_report.connect(self._show_report)
        self.runner.sig_predicted.connect(self._predicted)
        self.runner.sig_failed.connect(self._failed)
        self.runner.sig_cancelled.connect(self._cancelled)
        if (app := QCoreApplication.instance()) is not None:  # the child ends with the app
            app.aboutToQuit.connect(self.runner.shutdown)

        self.exports = QComboBox()
        self.exports.setMinimumWidth(260)
        self.source = QComboBox()
        self.source.addItem("the export", False)
        self.source.addItem("its original checkpoint", True)
        self.source.setToolTip("Run the export through its package's wrapper, or the checkpoint it was made "
                               "from (as the Compare view runs it)")
        self.folder = QLineEdit()
        self.folder.setPlaceholderText("a YOLO dataset (data.yaml, or images/ + labels/) or an "
                                       "ImageFolder tree")
        browse = QPushButton("Folder…")
        browse.clicked.connect(self._pick_folder)
        self.evaluate_button = QPushButton("Evaluate")
        self.evaluate_button.clicked.connect(self.evaluate)
        self.predict_button = QPushButton("Predict to file…")
        self.predict_button.setToolTip("Every image's predictions: a CSV row per image or detection, "
                                       "or JSON")
        self.predict_button.clicked.connect(self._pick_output)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m images")
        top = QHBoxLayout()
        top.addWidget(QLabel("Export:"))
        top.addWidget(self.exports, 1)
        top.addWidget(QLabel("Run:"))
        top.addWidget(self.source)
        folder_row = QHBoxLayout()
        folder_row.addWidget(QLabel("Folder:"))
        folder_row.addWidget(self.folder, 1)
        folder_row.addWidget(browse)
        folder_row.addWidget(self.evaluate_button)
        folder_row.addWidget(self.predict_button)
        run_row = QHBoxLayout()
        run_row.addWidget(self.progress, 1)
        run_row.addWidget(self.cancel_button)

        self.metrics = QLabel("")
        self.metrics.setStyleSheet("font-size: 15px; font-weight: 600;")
        self.metrics.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.confusion = QTableWidget(0, 0)
        self.confusion.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.confusion.setToolTip("Rows: the true class; columns: the predicted class")
        self.gallery = QListWidget()
        self.gallery.setViewMode(QListWidget.ViewMode.IconMode)
        self.gallery.setIconSize(QSize(THUMB, THUMB))
        self.gallery.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.gallery.setMovement(QListWidget.Movement.Static)
        self.gallery.setWordWrap(True)
        self.gallery.setToolTip("The worst images first; click one to open it in the Inference test view")
        self.gallery.itemClicked.connect(self.open_item)
        matrix_box, gallery_box = QWidget(), QWidget()
        for box, title, widget in ((matrix_box, "Confusion matrix (rows: true, columns: predicted)",
                                    self.confusion),
                                   (gallery_box, "Worst images (click to test)", self.gallery)):
            column = QVBoxLayout(box)
            column.setContentsMargins(0, 0, 0, 0)
            column.addWidget(QLabel(title))
            column.addWidget(widget, 1)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(matrix_box)
        split.addWidget(gallery_box)
        split.setSizes([520, 600])
        self.status = QLabel("Choose an export and a labelled folder.")
        self.status.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(folder_row)
        layout.addLayout(run_row)
        layout.addWidget(self.metrics)
        layout.addWidget(split, 1)
        layout.addWidget(self.status)
        self._set_running(False)
        self.reload_exports()

    # --- the contract with the main window ------------------------------------------------

    def reload_exports(self) -> None:
        current = self.exports.currentData()
        names = {c.id: c.name for c in self.jobs.checkpoints()}
        self.exports.clear()
        for job in self.jobs.list_jobs():
            if job.status == JobStatus.COMPLETED:
                tag = f" [{job.version_tag}]" if job.version_tag else ""
                self.exports.addItem(f"{names.get(job.checkpoint_id, '?')} · {job.export_format} "
                                     f"v{job.version}{tag}", job.id)
        index = self.exports.findData(current)
        self.exports.setCurrentIndex(index if index >= 0 else self.exports.count() - 1)

    def showEvent(self, event: QShowEvent) -> None:
        if not self.runner.busy:  # exports made since the page was last shown
            self.reload_exports()
        super().showEvent(event)

    def set_export(self, export_id: str) -> None:
        if self.exports.findData(export_id) < 0:
            self.reload_exports()
        self.exports.setCurrentIndex(self.exports.findData(export_id))

    @property
    def export_id(self) -> str | None:
        data = self.exports.currentData()
        return str(data) if data else None

    # --- running ------------------------------------------------------------------------------

    def _target(self) -> tuple[Path, Path | None] | None:
        """(package folder, the spec when the original runs), or None with the reason shown."""
        if self.runner.busy:
            self.status.setText("A run is in progress: cancel it first.")
            return None
        if not self.export_id:
            self.status.setText("Choose an export first (only completed exports can be evaluated).")
            return None
        job = self.jobs.get(self.export_id)
        spec = JobFiles(job.id).spec if self.source.currentData() else None
        if spec is not None and not spec.is_file():
            self.status.setText("This export's spec is gone, so its original checkpoint cannot be run.")
            return None
        return Path(job.package_dir), spec

    def _folder(self) -> Path | None:
        text = self.folder.text().strip()
        if not text:
            self.status.setText("Choose a folder first.")
            return None
        return Path(text).expanduser()

    def evaluate(self) -> None:
        target, folder = self._target(), self._folder()
        if target is None or folder is None:
            return
        self._report_export = self.export_id
        self.runner.evaluate(target[0], folder, target[1])
        self._set_running(True, f"Evaluating on {folder.name}…")

    def predict_to(self, out: Path) -> None:
        """Every image under the folder through the model, written to ``out`` (.csv or .json)."""
        target, folder = self._target(), self._folder()
        if target is None or folder is None:
            return
        self.predicted = None
        self.runner.predict(target[0], folder, out, target[1])
        self._set_running(True, f"Predicting {folder.name} into {out.name}…")

    def cancel(self) -> None:
        if self.runner.busy:
            self.status.setText("Cancelling…")
            self.runner.cancel()

    def _pick_folder(self) -> None:
        folder = existing_directory(self, "evaluate", "Choose a labelled folder")
        if folder:
            self.folder.setText(display_path(folder))  # ~ is expanded when the run starts

    def _pick_output(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the predictions", "predictions.csv",
                                              "CSV (*.csv);;JSON (*.json)")
        if path:
            remember_folder("evaluate-out", Path(path).parent)
            out = Path(path)
            self.predict_to(out if out.suffix.lower() in (".csv", ".json") else out.with_suffix(".csv"))

    def _set_running(self, running: bool, message: str = "") -> None:
        self.cancel_button.setEnabled(running)
        for widget in (self.evaluate_button, self.predict_button, self.exports, self.source):
            widget.setEnabled(not running)
        if running:
            self.progress.setRange(0, 0)  # busy until the first image is done
        if message:
            self.status.setText(message)

    def _progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)

    def _failed(self, message: str) -> None:
        self._set_running(False, f"Failed: {message}")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)

    def _cancelled(self) -> None:
        self._set_running(False, "Cancelled; nothing was written.")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)

    def _predicted(self, path: str) -> None:
        self.predicted = Path(path)
        self._set_running(False, f"Predictions written to {display_path(path)}")

    # --- the report ----------------------------------------------------------------------------

    def _show_report(self, report: dict[str, Any]) -> None:
        self.report = report
        source = "original checkpoint" if report.get("model", {}).get("original") else "export"
        self._set_running(False, f"Evaluated the {source} on {display_path(report['dataset']['path'])} "
                                 f"({report['dataset']['format']}).")
        self.metrics.setText(metrics_text(report))
        self._fill_confusion(report["confusion"])
        self._fill_gallery(report["worst"])

    def _fill_confusion(self, confusion: dict[str, Any]) -> None:
        labels, matrix = confusion["labels"], confusion["matrix"]
        self.confusion.clear()
        self.confusion.setRowCount(len(labels))
        self.confusion.setColumnCount(len(labels))
        self.confusion.setHorizontalHeaderLabels(labels)
        self.confusion.setVerticalHeaderLabels(labels)
        for r, row in enumerate(matrix):
            for c, count in enumerate(row):
                item = QTableWidgetItem(str(count) if count else "")
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                if count:
                    item.setBackground(QBrush(RIGHT if r == c else WRONG))
                self.confusion.setItem(r, c, item)
        self.confusion.resizeColumnsToContents()

    def _fill_gallery(self, worst: list[dict[str, Any]]) -> None:
        self.gallery.clear()
        for entry in worst:
            image = QImage(entry["image"])
            icon = QIcon(QPixmap.fromImage(image.scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio,
                                                        Qt.TransformationMode.SmoothTransformation)))
            item = QListWidgetItem(icon, f"{Path(entry['image']).name}\ntrue: {entry['truth']}\n"
                                         f"got: {entry['predicted']}")
            item.setData(PATH_ROLE, entry["image"])
            item.setToolTip(display_path(entry["image"]))
            item.setSizeHint(QSize(THUMB + 60, THUMB + 64))
            self.gallery.addItem(item)

    def open_item(self, item: QListWidgetItem) -> None:
        export_id = self._report_export or self.export_id
        if export_id:
            self.sig_open_image.emit(export_id, str(item.data(PATH_ROLE)))

