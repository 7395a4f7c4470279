"""The framework × format capability matrix, probed live on this machine (core.registry)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.registry import capabilities
from core.spec import FORMATS, FRAMEWORKS
from gui.widgets.format_card import FORMAT_TITLES

FRAMEWORK_TITLES = {"ultralytics": "Ultralytics YOLO", "timm": "timm", "huggingface": "Hugging Face"}
QUALITY_COLOURS = {"excellent": "#c8e6c9", "good": "#dcedc8", "fair": "#fff9c4"}
UNAVAILABLE_COLOUR = "#eeeeee"


def cell_text(entry: dict[str, Any]) -> str:
    if not entry.get("supported"):
        return "not supported" if not entry.get("route") else "not available here"
    how = "native" if entry.get("native") else "via ONNX"
    return f"✓ {entry.get('quality')}\n{how}"


def cell_tooltip(entry: dict[str, Any]) -> str:
    lines = []
    if entry.get("route"):
        lines.append("route: " + " → ".join(entry["route"]))
    if entry.get("preprocessing_embedded"):
        lines.append("preprocessing can be embedded")
    if entry.get("verification"):
        lines.append(f"checked by: {entry['verification']}")
    if entry.get("reason"):
        lines.append(f"why not: {entry['reason']}")
    if entry.get("install"):
        lines.append(entry["install"])
    return "\n".join(lines)


class CapabilitiesView(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = QTableWidget(len(FRAMEWORKS), len(FORMATS))
        self.table.setHorizontalHeaderLabels([FORMAT_TITLES[f] for f in FORMATS])
        self.table.setVerticalHeaderLabels([FRAMEWORK_TITLES.get(f, f) for f in FRAMEWORKS])
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setWordWrap(True)
        intro = QLabel("What this machine can export, computed now from the installed extras and "
                       "hardware. Hover a cell for the route, what the parity gate checks, and what "
                       "to install.")
        intro.setWordWrap(True)
        refresh = QPushButton("Probe again")
        refresh.clicked.connect(self.refresh)
        top = QHBoxLayout()
        top.addWidget(intro, 1)
        top.addWidget(refresh)
        self.legend = QLabel("Colours: green = excellent, light green = good, yellow = fair, "
                             "grey = not available")
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.legend)
        self.matrix: dict[str, dict[str, dict[str, object]]] = {}
        self.refresh()

    def refresh(self) -> None:
        self.matrix = capabilities()
        for row, framework in enumerate(FRAMEWORKS):
            for column, fmt in enumerate(FORMATS):
                entry = self.matrix[framework][fmt]
                item = QTableWidgetItem(cell_text(entry))
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                item.setToolTip(cell_tooltip(entry))
                colour = (QUALITY_COLOURS.get(str(entry.get("quality")), "#ffffff") if entry.get("supported")
                          else UNAVAILABLE_COLOUR)
                item.setBackground(QBrush(QColor(colour)))
                item.setForeground(QBrush(QColor("#1b1b1b")))
                self.table.setItem(row, column, item)
