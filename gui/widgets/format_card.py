"""One export format as a card: name, capability badges, and why it is unavailable."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout, QWidget

FORMAT_TITLES = {"onnx": "ONNX", "torchscript": "TorchScript", "openvino": "OpenVINO",
                 "tflite": "TFLite", "coreml": "Core ML", "tensorrt": "TensorRT"}


def badges(entry: dict[str, Any]) -> list[str]:
    """The card's badges, from one cell of the capability matrix."""
    out = [str(entry.get("quality", ""))]
    out.append("native" if entry.get("native") else "via ONNX")
    if entry.get("preprocessing_embedded"):
        out.append("preprocessing embedded")
    return [b for b in out if b]


class FormatCard(QFrame):
    """Clickable when the format is available here; otherwise says why and what to install."""

    sig_clicked = Signal(str)
    """The format's name, when an available card is clicked."""

    def __init__(self, export_format: str, entry: dict[str, Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.export_format = export_format
        self.available = bool(entry.get("supported"))
        self.setObjectName("formatCard")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setMinimumWidth(220)
        layout = QVBoxLayout(self)
        title = QLabel(FORMAT_TITLES.get(export_format, export_format))
        title.setStyleSheet("font-size: 15px; font-weight: 600;")
        layout.addWidget(title)
        self.badge_label = QLabel("  ".join(f"[{b}]" for b in badges(entry)))
        self.badge_label.setWordWrap(True)
        layout.addWidget(self.badge_label)
        note = entry.get("verification", "") if self.available else entry.get("reason", "")
        if not self.available and entry.get("install"):
            note = f"{note}\nInstall: {entry['install']}"
        self.note = QLabel(str(note))
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: palette(mid);" if self.available else "color: #b71c1c;")
        self.note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.note)
        layout.addStretch()
        self.setEnabled(self.available)
        self.setToolTip(" → ".join(entry.get("route", [])) or str(entry.get("reason", "")))
        self.set_selected(False)

    def set_selected(self, selected: bool) -> None:
        self.selected = selected
        border = "2px solid #1565c0" if selected else "1px solid palette(mid)"
        self.setStyleSheet(f"#formatCard {{ border: {border}; border-radius: 6px; }}")

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if self.available:
            self.sig_clicked.emit(self.export_format)
        super().mousePressEvent(event)
