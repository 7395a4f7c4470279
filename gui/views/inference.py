"""The inference test view (the seed's InferenceTestPanel): drop an image, see what an export predicts.

The model runs once per image and export (``InferenceRunner``, off the UI
thread); the confidence and IoU sliders and the class toggles re-filter the
kept raw outputs with the package's own post-processing, so moving a slider is
instant and shows exactly what ``predict(image, conf, iou)`` returns.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QMimeData, Qt
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QGuiApplication, QImage
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSlider,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from core.db import JobStatus
from core.inference import wrapper_module
from core.jobs import JobService
from gui import class_labels
from gui.inference_worker import InferenceResult, InferenceRunner
from gui.widgets.detection_canvas import DetectionCanvas
from gui.widgets.topk_bars import TopKBars
from gui.window_state import open_file_name

NUMBERED_HINT = ("This model's classes are only numbered. Give a labels file (one name per line) "
                 "to see their names.")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
IMAGE_FILTER = "Images (" + " ".join(f"*{s}" for s in sorted(IMAGE_SUFFIXES)) + ")"


def dropped_image(mime: QMimeData) -> Path | None:
    """The first image file among what is dragged onto a view (None: nothing to take)."""
    paths = (Path(url.toLocalFile()) for url in mime.urls())
    return next((path for path in paths if path.suffix.lower() in IMAGE_SUFFIXES), None)


class TakesDroppedImages(QWidget):
    """A view an image file can be dropped on: it goes to the view's ``load_image``."""

    def load_image(self, path: Path) -> Any:
        raise NotImplementedError

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if dropped_image(event.mimeData()) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        path = dropped_image(event.mimeData())
        if path is not None:
            self.load_image(path)
            event.acceptProposedAction()

SLIDER_STEPS = 100

if TYPE_CHECKING:  # numpy loads when an image does, not at start-up
    import numpy as np


def numbered(names: list[str]) -> bool:
    """Class names that are only numbers ("0", "class_3", "LABEL_2"): the checkpoint had none."""
    import re

    return bool(names) and all(re.fullmatch(r"(class|label)?[ _-]?\d+", n.strip(), re.IGNORECASE)
                               for n in names)


def read_rgb(path: Path) -> np.ndarray:
    """The wrapper's own image reading, loaded with the first image (OpenCV costs start-up time)."""
    image: np.ndarray = wrapper_module().ModelWrapper.load_image(path)
    return image


def qimage_to_rgb(image: QImage) -> np.ndarray:


    import numpy as np

    image = image.convertToFormat(QImage.Format.Format_RGB888)
    width, height = image.width(), image.height()
    buffer = np.frombuffer(image.constBits(), dtype=np.uint8, count=image.sizeInBytes())
    rows = buffer.reshape(height, image.bytesPerLine())
    return np.ascontiguousarray(rows[:, : width * 3].reshape(height, width, 3))


class InferenceView(TakesDroppedImages):
    def __init__(self, jobs: JobService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self.setAcceptDrops(True)
        self.image: np.ndarray | None = None
        self.result: InferenceResult | None = None
        self.shown: list[dict[str, Any]] = []
        self.runner = InferenceRunner(self)
        self.runner.sig_finished.connect(self._show_result)
        self.runner.sig_failed.connect(self._show_error)

        self.exports = QComboBox()
        self.exports.setMinimumWidth(260)
        self.exports.currentIndexChanged.connect(self._export_changed)
        open_button = QPushButton("Open image…")
        open_button.clicked.connect(self._pick_image)
        paste_button = QPushButton("Paste")
        paste_button.clicked.connect(self.paste_image)
        self.latency = QLabel("")
        self.status = QLabel("Choose an export and drop an image.")
        self.status.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(QLabel("Export:"))
        top.addWidget(self.exports, 1)
        top.addWidget(open_button)
        top.addWidget(paste_button)
        top.addWidget(self.latency)

        self.canvas = DetectionCanvas()  # the image, always; boxes and segments for those tasks
        self.topk = TopKBars()  # classifiers: beside the image
        self.labels: dict[str, list[str]] = {}  # class names the user gave, per export
        self.labels_button = QPushButton("Labels file…")
        self.labels_button.setToolTip("A text file with one class name per line, in class order")
        self.labels_button.clicked.connect(self._pick_labels)
        self.labels_hint = QLabel("")
        self.labels_hint.setWordWrap(True)

        self.conf = self._slider()
        self.iou = self._slider()
        self.conf_label, self.iou_label = QLabel(), QLabel()
        self.classes = QListWidget()
        self.classes.itemChanged.connect(lambda _item: self.refilter())
        self.count = QLabel("")
        side = QWidget()
        form = self.form = QFormLayout(side)
        form.addRow(self.topk)
        form.addRow(self.labels_hint)
        form.addRow(self.labels_button)
        self.conf_row = self._with_label(self.conf, self.conf_label)
        self.iou_row = self._with_label(self.iou, self.iou_label)
        form.addRow("Confidence", self.conf_row)
        form.addRow("IoU (NMS)", self.iou_row)
        self.classes_title = QLabel("Classes")
        form.addRow(self.classes_title)
        form.addRow(self.classes)
        form.addRow(self.count)
        side.setMinimumWidth(240)
        self._show_controls_for(None)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.canvas)
        split.addWidget(side)
        split.setStretchFactor(0, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(split, 1)
        layout.addWidget(self.status)
        self.reload_exports()

    def _slider(self) -> QSlider:
        slider = QSlider(Qt.Orientation.Horizontal)
        slider.setRange(1, SLIDER_STEPS - 1)
        slider.valueChanged.connect(lambda _v: self.refilter())
        return slider

    @staticmethod
    def _with_label(slider: QSlider, label: QLabel) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(slider, 1)
        label.setMinimumWidth(36)
        row.addWidget(label)
        return box

    # --- the contract with the main window ------------------------------------------------

    def reload_exports(self) -> None:
        current = self.exports.currentData()
        names = {c.id: c.name for c in self.jobs.checkpoints()}
        self.exports.blockSignals(True)
        self.exports.clear()
        for job in self.jobs.list_jobs():
            if job.status == JobStatus.COMPLETED:
                tag = f" [{job.version_tag}]" if job.version_tag else ""
                label = f"{names.get(job.checkpoint_id, '?')} · {job.export_format} v{job.version}{tag}"
                self.exports.addItem(label, job.id)
        self.exports.blockSignals(False)
        index = self.exports.findData(current)
        self.exports.setCurrentIndex(index if index >= 0 else self.exports.count() - 1)
        self._export_changed()

    def set_export(self, export_id: str | None) -> None:
        if export_id is not None and self.exports.findData(export_id) < 0:
            self.reload_exports()
        index = self.exports.findData(export_id) if export_id else -1
        self.exports.setCurrentIndex(index)

    @property
    def export_id(self) -> str | None:
        data = self.exports.currentData()
        return str(data) if data else None

    # --- images -------------------------------------------------------------------------------

    def load_image(self, image: Path | np.ndarray) -> None:

        import numpy as np

        try:
            self.image = read_rgb(image) if isinstance(image, Path) else np.ascontiguousarray(image)
        except ValueError as err:
            self._show_error(str(err))
            return
        self.canvas.set_image(self.image)
        self.run()

    def _pick_image(self) -> None:
        path = open_file_name(self, "images", "Open an image", IMAGE_FILTER)
        if path:
            self.load_image(Path(path))

    def paste_image(self) -> None:
        image = QGuiApplication.clipboard().image()
        if image.isNull():
            self.status.setText("The clipboard holds no image.")
            return
        self.load_image(qimage_to_rgb(image))

    # --- running and filtering -------------------------------------------------------------

    def _export_changed(self, _index: int = -1) -> None:
        self.result = None
        if self.export_id and self.export_id not in self.labels:
            names = class_labels.load(self.export_id)
            if names is not None:
                self.labels[self.export_id] = names
        self.run()

    def run(self) -> None:
        if self.image is None or not self.export_id:
            return
        job = self.jobs.get(self.export_id)
        self.status.setText(f"Running {job.export_format} v{job.version}…")
        self.latency.setText("")
        self.runner.run(Path(job.package_dir), self.image)

    def _show_result(self, result: InferenceResult) -> None:
        first = self.result is None or self.result.package_dir != result.package_dir
        self.result = result
        self.latency.setText(f"latency {result.latency_ms:.1f} ms")
        if first:
            self._reset_controls(result)
        self.status.setText(f"{result.task} · {Path(result.metadata['model_info']['model_file']).name}")
        self.refilter()

    def _show_error(self, message: str) -> None:
        self.status.setText(f"Inference failed: {message}")

    def _reset_controls(self, result: InferenceResult) -> None:
        for slider, value in ((self.conf, result.default_conf), (self.iou, result.default_iou)):
            slider.blockSignals(True)
            slider.setValue(round(value * SLIDER_STEPS))
            slider.blockSignals(False)
        self.classes.blockSignals(True)
        self.classes.clear()
        for name in result.class_names:
            item = QListWidgetItem(name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked)
            self.classes.addItem(item)
        self.classes.blockSignals(False)
        self._show_controls_for(result)

    def _show_controls_for(self, result: InferenceResult | None) -> None:
        """Only the controls that apply: thresholds for boxes, class toggles for boxes and
        segments, the top-k beside the image and a labels file for classifiers."""
        task = result.task if result is not None else None
        classify = task == "classify"
        boxes = task not in (None, "classify", "semantic")
        named = not classify or self.export_id in self.labels or (
            result is not None and not numbered(result.class_names))
        self.labels_hint.setText("" if named else NUMBERED_HINT)
        rows: dict[QWidget, bool] = {
            self.topk: classify, self.labels_button: classify, self.labels_hint: not named,
            self.conf_row: boxes, self.iou_row: boxes,
            self.classes_title: task not in (None, "classify"), self.classes: task not in (None, "classify"),
        }
        for widget, visible in rows.items():
            self.form.setRowVisible(widget, visible)

    def _pick_labels(self) -> None:
        path = open_file_name(self, "labels", "Choose a labels file", "Text files (*.txt);;All files (*)")
        if path:
            self.load_labels(Path(path))

    def load_labels(self, path: Path) -> bool:
        """Class names from a text file (one per line, in class order) for this export's classes."""
        if self.result is None or self.export_id is None:
            return False
        try:
            names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        except (OSError, UnicodeDecodeError) as err:
            self.status.setText(f"Could not read {path.name}: {getattr(err, 'strerror', None) or err}.")
            return False
        expected = len(self.result.class_names)
        if len(names) != expected:
            self.status.setText(f"{path.name} has {len(names)} names but the model has {expected} classes. "
                                "Choose a file with one name per line, in class order.")
            return False
        self.labels[self.export_id] = names
        class_labels.save(self.export_id, names)  # there again next time this export is tested
        self.status.setText(f"Class names from {path.name}.")
        self._show_controls_for(self.result)
        self.refilter()
        return True

    @property
    def confidence(self) -> float:
        return self.conf.value() / SLIDER_STEPS

    @property
    def iou_threshold(self) -> float:
        return self.iou.value() / SLIDER_STEPS

    def enabled_classes(self) -> set[int]:
        return {i for i in range(self.classes.count())
                if self.classes.item(i).checkState() == Qt.CheckState.Checked}

    def refilter(self) -> None:
        """Apply the sliders and class toggles to the kept raw outputs (no model run)."""
        self.conf_label.setText(f"{self.confidence:.2f}")
        self.iou_label.setText(f"{self.iou_threshold:.2f}")
        if self.result is None:
            return
        predictions = self.result.predictions(self.confidence, self.iou_threshold)
        if self.result.task == "classify":
            names = self.labels.get(self.export_id or "")
            if names is not None and len(names) == len(self.result.class_names):
                predictions = [{**p, "class_name": names[int(p["class_id"])]} for p in predictions]
            self.shown = predictions
            self.canvas.show_detections([])  # the image itself, with the top-k beside it
            self.topk.show_classes(predictions)
            self.count.setText(f"top {len(predictions)}")
            return
        enabled = self.enabled_classes()
        self.shown = [p for p in predictions if int(p["class_id"]) in enabled]
        self.canvas.show_detections(self.shown)
        what = "segments" if self.result.task == "semantic" else "boxes"
        self.count.setText(f"{len(self.shown)} {what} shown ({len(predictions)} before class filter)")

    def closeEvent(self, event: Any) -> None:
        self.runner.shutdown()
        super().closeEvent(event)
