"""A dismissable banner at the top of the window: an export finished, failed or was cancelled."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

LEVEL_COLOURS = {"info": ("#e3f2fd", "#0d47a1"), "success": ("#e8f5e9", "#1b5e20"),
                 "error": ("#ffebee", "#b71c1c")}


class NotificationBar(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("notification")
        self.text = QLabel()
        self.text.setWordWrap(True)
        close = QPushButton("✕")
        close.setFlat(True)
        close.setFixedWidth(28)
        close.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 4, 4, 4)
        layout.addWidget(self.text, 1)
        layout.addWidget(close)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.hide)
        self.hide()

    def notify(self, message: str, level: str = "info", timeout_ms: int = 12_000) -> None:
        background, foreground = LEVEL_COLOURS.get(level, LEVEL_COLOURS["info"])
        self.setStyleSheet(f"#notification {{ background: {background}; border-radius: 4px; }}"
                           f"#notification QLabel, #notification QPushButton {{ color: {foreground}; }}")
        self.text.setText(message)
        self.show()
        if level != "error":
            self._timer.start(timeout_ms)
