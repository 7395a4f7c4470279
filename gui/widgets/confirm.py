"""The one question asked before something that cannot be undone."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget


def confirm_destructive(parent: QWidget, question: str, action: str = "Delete") -> bool:
    """Ask; ``action`` names the button that does it, "Keep" (the default) does nothing."""
    box = QMessageBox(QMessageBox.Icon.Warning, "Slipway", question, parent=parent)
    do = box.addButton(action, QMessageBox.ButtonRole.DestructiveRole)
    keep = box.addButton("Keep", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(keep)
    box.setEscapeButton(keep)
    box.exec()
    return box.clickedButton() is do
