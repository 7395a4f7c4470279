"""Top-k classification results as labelled horizontal bars."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QGridLayout, QLabel, QProgressBar, QWidget


class TopKBars(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._grid = QGridLayout(self)
        self._grid.setColumnStretch(1, 1)
        self.rows: list[tuple[str, float]] = []

    def show_classes(self, predictions: list[dict[str, Any]]) -> None:
        while self._grid.count():
            item = self._grid.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.hide()  # gone at once; deleted when the event loop next turns
                widget.deleteLater()
        self.rows = [(str(p["class_name"]), float(p["confidence"])) for p in predictions]
        for row, (name, confidence) in enumerate(self.rows):
            label = QLabel(name)
            bar = QProgressBar()
            bar.setRange(0, 1000)
            bar.setValue(round(confidence * 1000))
            bar.setFormat(f"{confidence * 100:.1f}%")
            bar.setTextVisible(True)
            self._grid.addWidget(label, row, 0)
            self._grid.addWidget(bar, row, 1)
        self._grid.setRowStretch(len(self.rows), 1)
