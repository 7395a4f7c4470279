"""The model library as a Qt list model over JobService.checkpoints()."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt

from core.db import Checkpoint
from core.jobs import JobService

CHECKPOINT_ID_ROLE = Qt.ItemDataRole.UserRole + 1


class CheckpointListModel(QAbstractListModel):
    def __init__(self, service: JobService, parent: Any = None) -> None:
        super().__init__(parent)
        self.service = service
        self.items: list[Checkpoint] = []
        self.refresh()

    def refresh(self) -> None:
        self.beginResetModel()
        self.items = self.service.checkpoints()
        self.endResetModel()

    def row_of(self, checkpoint_id: str) -> int:
        return next((i for i, c in enumerate(self.items) if c.id == checkpoint_id), -1)

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.items)

    def data(self, index: QModelIndex | QPersistentModelIndex,
             role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        checkpoint = self.items[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            detail = f"{checkpoint.framework} · {checkpoint.task or 'task from the model'}"
            return f"{checkpoint.name}\n{detail}"
        if role == Qt.ItemDataRole.ToolTipRole:
            return checkpoint.path
        if role == CHECKPOINT_ID_ROLE:
            return checkpoint.id
        return None
