"""A folder (or file) path: a line to type in and a Browse button."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLineEdit, QPushButton, QWidget

from gui.window_state import existing_directory, open_file_name


class PathEdit(QWidget):
    sig_changed = Signal()
    """The path text changed."""

    def __init__(self, folder: bool = True, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.folder = folder
        self.line = QLineEdit()
        self.line.setPlaceholderText("a folder of images" if folder else "a file")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.line, 1)
        layout.addWidget(browse)
        self.line.textChanged.connect(self.sig_changed)

    def path(self) -> Path | None:
        text = self.line.text().strip()
        return Path(text).expanduser() if text else None

    def _browse(self) -> None:
        chosen = (existing_directory(self, "data-folders", "Choose a folder") if self.folder
                  else open_file_name(self, "data-files", "Choose a file"))
        if chosen:
            self.line.setText(chosen)
