"""Answering the app's real modal questions in tests: the button is clicked once the box is up."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox


def answer_next_question(button_text: str, seen: list[str]) -> None:
    """When the next modal QMessageBox opens, record its text in ``seen`` and click ``button_text``."""

    def click() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):  # not up yet: look again on the next turn of the loop
            QTimer.singleShot(10, click)
            return
        seen.append(box.text())
        [found] = [b for b in box.buttons() if b.text() == button_text]
        found.click()

    QTimer.singleShot(0, click)
