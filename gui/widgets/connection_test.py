"""A "Test connection" button and the line that says how it went (Settings' storage and cluster)."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

OK_COLOUR, FAILED_COLOUR = "#2e7d32", "#c62828"


class ConnectionTest(QWidget):
    """The button (its owner connects ``clicked``) and the result: ``busy`` while a test runs
    off the UI thread, ``show_result`` with ✓ or ✗ when it answers."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.button = QPushButton("Test connection")
        self.result = QLabel()
        self.result.setWordWrap(True)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.button)
        row.addWidget(self.result, 1)

    def busy(self, text: str) -> None:
        self.button.setEnabled(False)
        self.result.setStyleSheet("")
        self.result.setText(text)

    def show_result(self, ok: bool, text: str) -> None:
        self.result.setText(("✓ " if ok else "✗ ") + text)
        self.result.setStyleSheet(f"color: {OK_COLOUR if ok else FAILED_COLOUR};")
