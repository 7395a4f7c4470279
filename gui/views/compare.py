"""The Compare view: one image through the original model and every export of it, side by side.

Pick a checkpoint, drop or open an image. The original (in its own child process) and each
completed export (through its package's wrapper) run on it; every answer is drawn on the
same image (or as top-k bars), and a table gives latency, size, the largest raw-output
difference from the original and the agreement. A box that is missing, moved or relabelled
and a changed top-1 are outlined on the export's image and its row is marked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtGui import QBrush, QColor, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.db import JobStatus
from core.jobs import JobService
from core.launch import JobFiles
from gui.compare_runner import CompareRunner, CompareTarget, outputs_comparable
from gui.inference_worker import InferenceResult
from gui.models.formatting import size_label
from gui.views.inference import IMAGE_FILTER, TakesDroppedImages, read_rgb
from gui.widgets.compare_panel import ComparePanel
from gui.window_state import open_file_name

if TYPE_CHECKING:
    import numpy as np

    from core.compare import ImageComparison

COLUMNS = ("Model", "Latency", "Size", "Max abs diff", "Agreement", "Differences")
ROW_DIFFERS, ROW_AGREES = QColor("#f8d7da"), QColor("#d4edda")


@dataclass
class CompareRow:
    """What is known about one export on the current image."""

    target: CompareTarget
    original: InferenceResult | None = None
    exported: InferenceResult | None = None
    comparison: ImageComparison | None = None
    errors: list[str] = field(default_factory=list)


def path_size(path: Path) -> int | None:
    if path.is_file():
        return path.stat().st_size
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return None


def gate_tolerance(metadata: dict[str, Any]) -> tuple[float | None, float | None] | None:
    """The (atol, rtol) the parity gate held this export to (metadata.json ``parity``)."""
    tolerance = (metadata.get("parity") or {}).get("tolerance") or {}
    return (tolerance.get("atol"), tolerance.get("rtol")) if tolerance else None


class CompareView(TakesDroppedImages):
    def __init__(self, jobs: JobService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self.setAcceptDrops(True)
        self.image: np.ndarray | None = None
        self.rows: dict[str, CompareRow] = {}
        self.runner = CompareRunner(self)
        self.runner.sig_original.connect(self._original_done)
        self.runner.sig_exported.connect(self._export_done)
        self.runner.sig_failed.connect(self._failed)
        if (app := QCoreApplication.instance()) is not None:  # the children end with the app
            app.aboutToQuit.connect(self.runner.shutdown)

        self.checkpoints = QComboBox()
        self.checkpoints.setMinimumWidth(260)
        self.checkpoints.currentIndexChanged.connect(lambda _i: self.run())
        open_button = QPushButton("Open image…")
        open_button.clicked.connect(self._pick_image)
        top = QHBoxLayout()
        top.addWidget(QLabel("Checkpoint:"))
        top.addWidget(self.checkpoints, 1)
        top.addWidget(open_button)
        self.status = QLabel("Choose a checkpoint with completed exports and drop an image.")
        self.status.setWordWrap(True)

        self.panels_box = QWidget()
        self.panels_row = QHBoxLayout(self.panels_box)
        self.panels_row.setContentsMargins(0, 0, 0, 0)
        self.panels: dict[str, ComparePanel] = {}
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.panels_box)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(scroll)
        split.addWidget(self.table)
        split.setStretchFactor(0, 1)
        split.setSizes([520, 170])
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(split, 1)
        layout.addWidget(self.status)

    # --- the contract with the main window ------------------------------------------------

    def reload(self) -> None:
        """The checkpoints that have completed exports (called when the page is shown)."""
        current = self.checkpoints.currentData()
        with_exports = {j.checkpoint_id for j in self.jobs.list_jobs() if j.status == JobStatus.COMPLETED}
        self.checkpoints.blockSignals(True)
        self.checkpoints.clear()
        for checkpoint in self.jobs.checkpoints():
            if checkpoint.id in with_exports:
                self.checkpoints.addItem(checkpoint.name, checkpoint.id)
        self.checkpoints.blockSignals(False)
        index = self.checkpoints.findData(current)
        self.checkpoints.setCurrentIndex(index if index >= 0 else 0)

    def set_checkpoint(self, checkpoint_id: str | None) -> None:
        if checkpoint_id is not None and self.checkpoints.findData(checkpoint_id) < 0:
            self.reload()
        index = self.checkpoints.findData(checkpoint_id)
        if index >= 0:
            self.checkpoints.setCurrentIndex(index)

    @property
    def checkpoint_id(self) -> str | None:
        data = self.checkpoints.currentData()
        return str(data) if data else None

    def checkpoint_size(self) -> int | None:
        """The original checkpoint's size on disk (a file, or a Hugging Face folder)."""
        found = next((c for c in self.jobs.checkpoints() if c.id == self.checkpoint_id), None)
        return path_size(Path(found.path)) if found is not None else None

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.reload()

    def targets(self) -> list[CompareTarget]:
        if not self.checkpoint_id:
            return []
        return [CompareTarget(job.id, f"{job.export_format} v{job.version}"
                              + (f" [{job.version_tag}]" if job.version_tag else ""),
                              job.export_format, Path(job.package_dir), JobFiles(job.id).spec,
                              job.model_size_bytes)
                for job in reversed(self.jobs.list_jobs(self.checkpoint_id))
                if job.status == JobStatus.COMPLETED]

    # --- images -------------------------------------------------------------------------------

    def load_image(self, image: Path | np.ndarray) -> None:
        import numpy as np

        try:
            self.image = read_rgb(image) if isinstance(image, Path) else np.ascontiguousarray(image)
        except ValueError as err:
            self.status.setText(f"Cannot read the image: {err}")
            return
        self.run()

    def _pick_image(self) -> None:
        path = open_file_name(self, "images", "Open an image", IMAGE_FILTER)
        if path:
            self.load_image(Path(path))

    # --- running ---------------------------------------------------------------------------------

    @property
    def done(self) -> bool:
        """Every export and the original have answered (or failed) for the current image."""
        return bool(self.rows) and all(
            (r.original is not None and r.exported is not None) or r.errors for r in self.rows.values())

    def run(self) -> None:
        if self.image is None:
            return
        targets = self.targets()
        self.rows = {t.export_id: CompareRow(t) for t in targets}
        self._build_panels(targets)
        self._fill_table()
        if not targets:
            self.status.setText("This checkpoint has no completed export to compare.")
            return
        self.status.setText(f"Running the original and {len(targets)} export(s)…")
        self.runner.run(self.image, targets)

    def _build_panels(self, targets: list[CompareTarget]) -> None:
        for panel in self.panels.values():
            panel.deleteLater()
        self.panels = {"original": ComparePanel(f"Original · {self.checkpoints.currentText()}")}
        for target in targets:
            self.panels[target.export_id] = ComparePanel(target.label)
        for panel in self.panels.values():
            self.panels_row.addWidget(panel, 1)
            assert self.image is not None
            panel.show_image(self.image)

    def _original_done(self, export_id: str, result: InferenceResult) -> None:
        if (row := self.rows.get(export_id)) is None:
            return
        row.original = result
        first = next((r for r in self.rows.values() if r.original is not None), row)
        if first is row:  # the original's panel shows it on the first export's input
            original = self.panels["original"]
            original.show_result(result.task, self._predictions(result),
                                 f"{result.latency_ms:.1f} ms · {size_label(self.checkpoint_size())} · "
                                 "the reference")
        self._settle(row)

    def _export_done(self, export_id: str, result: InferenceResult) -> None:
        if (row := self.rows.get(export_id)) is not None:
            row.exported = result
            self._settle(row)

    def _failed(self, export_id: str, which: str, message: str) -> None:
        if (row := self.rows.get(export_id)) is None:
            return
        row.errors.append(f"{which}: {message}")
        self.panels[export_id].set_state("failed", f"{which} failed: {message}")
        self._fill_table()
        self._update_status()

    @staticmethod
    def _predictions(result: InferenceResult) -> list[dict[str, Any]]:
        return result.predictions(result.default_conf, result.default_iou)

    def _settle(self, row: CompareRow) -> None:
        """Both runs of an export are in: compare them and show it."""
        if row.original is None or row.exported is None or row.errors:
            return
        from core.compare import compare_image

        original, exported = self._predictions(row.original), self._predictions(row.exported)
        row.comparison = compare_image(
            row.exported.task, row.original.outputs, row.exported.outputs, original, exported,
            str(row.exported.metadata["postprocessing"]["type"]), outputs_comparable(row.exported.metadata),
            tolerance=gate_tolerance(row.exported.metadata))
        diff = row.comparison.max_abs_diff
        caption = (f"{row.exported.latency_ms:.1f} ms · {size_label(row.target.size_bytes)} · max abs diff "
                   + (f"{diff:.3g}" if diff is not None else "n/a"))
        self.panels[row.target.export_id].show_result(row.exported.task, exported, caption, row.comparison)
        self._fill_table()
        self._update_status()

    def _update_status(self) -> None:
        if not self.done:
            return
        differing = [r.target.label for r in self.rows.values() if r.comparison and r.comparison.differs]
        failed = [r.target.label for r in self.rows.values() if r.errors]
        words = [f"{len(self.rows)} export(s) compared with the original"]
        words.append(f"differing: {', '.join(differing)}" if differing else "every answer agrees")
        if failed:
            words.append(f"failed: {', '.join(failed)}")
        self.status.setText("; ".join(words) + ".")

    # --- the table --------------------------------------------------------------------------------

    def _fill_table(self) -> None:
        rows = list(self.rows.values())
        self.table.setRowCount(len(rows) + 1)
        first = next((r.original for r in rows if r.original is not None), None)
        self._set_row(0, ["original", f"{first.latency_ms:.1f} ms" if first else "…",
                          size_label(self.checkpoint_size()),
                          "—", "—", "the reference"], None)
        for index, row in enumerate(rows, start=1):
            comparison, exported = row.comparison, row.exported
            agreement = comparison.agreement if comparison else None
            cells = [row.target.label,
                     f"{exported.latency_ms:.1f} ms" if exported else "…",
                     size_label(row.target.size_bytes),
                     (f"{comparison.max_abs_diff:.3g}" if comparison.max_abs_diff is not None
                      else "n/a") if comparison else "…",
                     f"{agreement:.0%}" if agreement is not None else "—",
                     "; ".join(row.errors) if row.errors else
                     ("; ".join(comparison.differences) or "none") if comparison else "…"]
            colour = None if comparison is None and not row.errors else \
                ROW_DIFFERS if row.errors or (comparison and comparison.differs) else ROW_AGREES
            self._set_row(index, cells, colour)
        self.table.resizeColumnsToContents()

    def _set_row(self, index: int, cells: list[str], colour: QColor | None) -> None:
        for column, text in enumerate(cells):
            item = QTableWidgetItem(text)
            if colour is not None:
                item.setBackground(QBrush(colour))
                item.setForeground(QBrush(QColor("black")))
            self.table.setItem(index, column, item)

    def closeEvent(self, event: Any) -> None:
        self.runner.shutdown()
        super().closeEvent(event)
