"""A titled panel with an explicit on/off switch: the wizard's optimization panels.

Two separate controls, two separate meanings: the arrow shows or hides the form (it
changes nothing), the switch decides whether the panel's settings apply. A panel
starts off and collapsed; switching it on opens it so its settings can be seen, and
while it is off its form stays greyed out, even when shown.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget


class CollapsiblePanel(QWidget):
    """A header (arrow + title), an on/off switch, and the content it shows when open."""

    sig_toggled = Signal(bool)
    """The panel was switched on (its settings apply) or off."""
    sig_expanded = Signal(bool)
    """The form was shown or hidden; nothing about the export changed."""

    def __init__(self, title: str, content: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.header = QToolButton()
        self.header.setText(title)
        self.header.setCheckable(True)
        self.header.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.header.setArrowType(Qt.ArrowType.RightArrow)
        self.header.setStyleSheet("QToolButton { border: none; font-weight: 600; }")
        self.header.setToolTip("Show or hide the settings (does not switch anything on)")
        self.switch = QCheckBox("On")
        self.switch.setToolTip(f"Apply {title.split(' (')[0].lower()} to this export")
        self.note = QLabel("")
        self.note.setStyleSheet("color: #757575;")
        self.note.setVisible(False)
        self.content = content
        content.setVisible(False)
        content.setEnabled(False)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.header)
        row.addStretch(1)
        row.addWidget(self.note)
        row.addWidget(self.switch)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(content)
        self.header.toggled.connect(self._expand)
        self.switch.toggled.connect(self._switch)

    @property
    def enabled(self) -> bool:
        """Whether the panel's settings apply (its switch is on)."""
        return self.switch.isChecked()

    @property
    def expanded(self) -> bool:
        return self.header.isChecked()

    def set_enabled(self, on: bool) -> None:
        """Switch the panel on or off (switching on also opens it); an unavailable panel stays off."""
        if self.switch.isEnabled():
            self.switch.setChecked(on)

    def set_open(self, on: bool) -> None:
        """Show or hide the form; the switch is left as it is."""
        self.header.setChecked(on)

    def set_available(self, available: bool, reason: str = "") -> None:
        """An unavailable panel is switched off and cannot be switched on; ``reason`` says why."""
        if not available:
            self.switch.setChecked(False)
        self.switch.setEnabled(available)
        self.note.setText("" if available else reason)
        self.note.setVisible(not available and bool(reason))

    def _expand(self, on: bool) -> None:
        self.header.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)
        self.content.setVisible(on)
        self.sig_expanded.emit(on)

    def _switch(self, on: bool) -> None:
        self.content.setEnabled(on)
        if on:
            self.set_open(True)
        self.sig_toggled.emit(on)
