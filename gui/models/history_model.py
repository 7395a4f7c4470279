"""The export history as a Qt table model: one row per job, live progress from worker events."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from core.db import ExportJob
from core.job_summary import job_summary
from core.jobs import JobService
from gui.models.formatting import duration_label, parity_label, ran_on, size_label, validation_label

COLUMNS: tuple[str, ...] = ("Version", "Model", "Tag", "Format", "Precision", "Status", "Progress",
                            "Stage", "Size", "Parity", "Validation", "Duration", "Ran on")
MODEL_COLUMN = COLUMNS.index("Model")
PROGRESS_COLUMN = COLUMNS.index("Progress")
STATUS_COLUMN = COLUMNS.index("Status")
PARITY_COLUMN = COLUMNS.index("Parity")
JOB_ROLE = Qt.ItemDataRole.UserRole + 1  # the row's job summary (dict)
PERCENT_ROLE = Qt.ItemDataRole.UserRole + 2

STATUS_COLOURS: dict[str, str] = {
    "completed": "#2e7d32", "failed": "#c62828", "cancelled": "#6d6d6d",
    "running": "#1565c0", "pending": "#8d6e00", "queued": "#8d6e00",
}
Index = QModelIndex | QPersistentModelIndex


class HistoryModel(QAbstractTableModel):
    """Rows are job summaries from the database; running rows also follow worker events."""

    def __init__(self, service: JobService, parent: Any = None) -> None:
        super().__init__(parent)
        self.service = service
        self.checkpoint_id: str | None = None
        self.rows: list[dict[str, Any]] = []
        self.model_names: dict[str, str] = {}

    # --- loading --------------------------------------------------------------

    def set_checkpoint(self, checkpoint_id: str | None) -> None:
        self.checkpoint_id = checkpoint_id
        self.refresh()

    def refresh(self) -> None:
        jobs = self.service.list_jobs(self.checkpoint_id)
        self.model_names = {c.id: c.name for c in self.service.checkpoints()}
        self.beginResetModel()
        self.rows = [self._summary(job) for job in reversed(jobs)]  # newest first
        self.endResetModel()

    def read(self) -> tuple[str | None, list[ExportJob], dict[str, str]]:
        """What :meth:`apply_jobs` needs, read from the store (any thread)."""
        checkpoint_id = self.checkpoint_id
        names = {c.id: c.name for c in self.service.checkpoints()}
        return checkpoint_id, self.service.list_jobs(checkpoint_id), names

    def apply_jobs(self, read: tuple[str | None, list[ExportJob], dict[str, str]]) -> bool:
        """Rows as :meth:`read` found them: changed rows in place, a reset only when rows came or
        went (True then). A running row keeps the live progress its worker's events gave it."""
        checkpoint_id, jobs, names = read
        if checkpoint_id != self.checkpoint_id:
            return False  # read for another model: the next change reads the shown one
        self.model_names = names
        rows = [self._summary(job) for job in reversed(jobs)]
        if [r["id"] for r in rows] != [r["id"] for r in self.rows]:
            self.beginResetModel()
            self.rows = rows
            self.endResetModel()
            return True
        for row, (old, new) in enumerate(zip(self.rows, rows, strict=True)):
            if old["status"] == new["status"] == "running" and (
                    (old["progress_percent"] or 0) > (new["progress_percent"] or 0)):
                new.update(progress_percent=old["progress_percent"], stage=old["stage"])
            if "stage_message" in old:
                new.setdefault("stage_message", old["stage_message"])
            if new != old:
                self.rows[row] = new
                self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))
        return False

    def clear(self) -> None:
        """No rows (nothing selected) until the next set_checkpoint."""
        self.beginResetModel()
        self.rows = []
        self.endResetModel()

    def row_of(self, job_id: str) -> int:
        for row, job in enumerate(self.rows):
            if job["id"] == job_id:
                return row
        return -1

    def job_at(self, row: int) -> dict[str, Any] | None:
        return self.rows[row] if 0 <= row < len(self.rows) else None

    # --- live updates -----------------------------------------------------------

    def apply_event(self, job_id: str, event: dict[str, Any]) -> None:
        """A worker event: progress and stage move at once, without a database read."""
        row = self.row_of(job_id)
        if row < 0:
            self.refresh()
            row = self.row_of(job_id)
            if row < 0:
                return
        job = self.rows[row]
        if event.get("type") == "progress":
            job["progress_percent"] = float(event.get("percent", job["progress_percent"] or 0.0))
            job["stage"] = event.get("stage") or job["stage"]
            job["stage_message"] = event.get("message", "")
            if job["status"] in ("pending", "queued"):
                job["status"] = "running"
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    def update_job(self, job: ExportJob) -> None:
        """A job as recorded (e.g. after its worker finished)."""
        row = self.row_of(job.id)
        if row < 0:
            self.refresh()
            return
        self.rows[row] = self._summary(job)
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    def _summary(self, job: ExportJob) -> dict[str, Any]:
        """The job's summary with its model's display name."""
        summary = job_summary(job)
        summary["model"] = self.model_names.get(job.checkpoint_id, "")
        return summary

    # --- Qt model API -------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        job = self.rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self.display(job, column)
        if role == JOB_ROLE:
            return job
        if role == PERCENT_ROLE:
            return float(job["progress_percent"] or 0.0)
        if role == Qt.ItemDataRole.ForegroundRole and column in (STATUS_COLUMN, PARITY_COLUMN):
            text = self.display(job, column)
            colour = STATUS_COLOURS.get(job["status"]) if column == STATUS_COLUMN else (
                "#2e7d32" if text == "passed" else "#c62828" if text == "failed" else None)
            return QBrush(QColor(colour)) if colour else None
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == STATUS_COLUMN and job.get("error_message"):
                return job["error_message"]
            if column == COLUMNS.index("Stage") and job.get("stage_message"):
                return job["stage_message"]
            if column == COLUMNS.index("Ran on"):
                return ran_on(job)
        return None

    @staticmethod
    def display(job: dict[str, Any], column: int) -> str:
        name = COLUMNS[column]
        if name == "Version":
            return f"v{job['version']}" + ("  ★ default" if job["is_default"] else "")
        if name == "Model":
            return str(job.get("model", ""))
        if name == "Precision":
            return str(job.get("precision", ""))
        if name == "Tag":
            return job["version_tag"] or ""
        if name == "Format":
            return str(job["export_format"])
        if name == "Status":
            return str(job["status"])
        if name == "Progress":
            return f"{job['progress_percent'] or 0:.0f}%"
        if name == "Stage":
            return "" if job["status"] in ("completed",) else str(job["stage"] or "")
        if name == "Size":
            return size_label(job["model_size_bytes"])
        if name == "Parity":
            return parity_label(job["parity"])
        if name == "Validation":
            return validation_label(job["validation_metrics"])
        if name == "Ran on":  # a cluster node's address (the tooltip and the detail say the rest)
            return str(job["executed_on"] or "cluster").split()[0] if job.get("cluster_address") else "here"
        return duration_label(job["duration_s"])
