"""Closing the window while exports run: cancel them and quit, keep them running and quit, or stay.

The question is asked without a nested event loop (``QMessageBox.open``): the close is refused,
and the answer closes the window again when the user chose to leave. "Keep running" lets every
worker outlive the app (``ExportRunner.release_all``); the next start settles their jobs
(``gui.detached_jobs``). "Cancel" waits for the cancelled workers to end — each is recorded as
cancelled — before the window closes.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QAbstractButton, QMainWindow, QMessageBox

from gui.export_runner import ExportRunner

CANCEL_AND_QUIT = "Cancel exports and quit"
KEEP_AND_QUIT = "Keep running and quit"
STAY = "Stay"


def running_sentence(count: int) -> str:
    return "1 export is still running." if count == 1 else f"{count} exports are still running."


class QuitGuard(QObject):
    """Decides whether the main window may close now; asks when exports are running."""

    sig_message = Signal(str)
    """A sentence for the status bar."""

    def __init__(self, window: QMainWindow, runner: ExportRunner) -> None:
        super().__init__(window)
        self.window = window
        self.runner = runner
        self.question: QMessageBox | None = None
        self.released: list[str] = []
        """Jobs whose workers were let go to outlive the app ("Keep running and quit")."""
        self._leaving = False
        self._cancelling = False

    def allows_close(self) -> bool:
        """True when the window may close now; otherwise the question is (or stays) open."""
        if self._leaving or not self.runner.running():
            return True
        if self.question is None and not self._cancelling:
            self.ask(len(self.runner.running()))
        return False

    def ask(self, count: int) -> QMessageBox:
        box = QMessageBox(self.window)
        box.setWindowTitle("Quit Slipway?")
        box.setIcon(QMessageBox.Icon.Question)
        box.setText(running_sentence(count))
        box.setInformativeText(
            "Cancel them and quit, or keep them running: they finish without the app, and "
            "Slipway shows their results the next time it starts.")
        box.addButton(CANCEL_AND_QUIT, QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(KEEP_AND_QUIT, QMessageBox.ButtonRole.AcceptRole)
        stay = box.addButton(STAY, QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(stay)
        box.setEscapeButton(stay)
        box.finished.connect(lambda _code: self._answered(box))
        self.question = box
        box.open()
        return box

    def button(self, text: str) -> QAbstractButton:
        """The question's button with this text (tests click it)."""
        assert self.question is not None
        [found] = [b for b in self.question.buttons() if b.text() == text]
        return found

    def _answered(self, box: QMessageBox) -> None:
        clicked = box.clickedButton()
        choice = clicked.text() if clicked is not None else STAY
        self.question = None
        box.deleteLater()
        if choice == CANCEL_AND_QUIT:
            self._cancel_then_close()
        elif choice == KEEP_AND_QUIT:
            self.released = self.runner.release_all()
            self._close()
        else:
            self.sig_message.emit(running_sentence(len(self.runner.running())))

    def _cancel_then_close(self) -> None:
        self._cancelling = True
        count = self.runner.cancel_all()
        self.sig_message.emit(f"Cancelling {count} export{'s' if count != 1 else ''} before quitting…")
        self.runner.sig_finished.connect(self._close_when_done)
        self._close_when_done()

    def _close_when_done(self, *_finished: object) -> None:
        if not self.runner.running():
            self._close()

    def _close(self) -> None:
        self._leaving = True
        self.window.close()
