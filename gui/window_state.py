"""What the desktop remembers between runs: the window, the last page, splitters, dialog folders.

It lives in an INI file (QSettings) in the data directory, beside the preferences
(``gui.preferences``), so a test's own ``SLIPWAY_HOME`` keeps it away from the
user's real settings. Preferences are choices the user makes; this is where the
user left things.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QEvent, QObject, QSettings
from PySide6.QtWidgets import QFileDialog, QMainWindow, QSplitter, QWidget

from core.paths import data_dir

STATE_FILE = "gui-state.ini"


def state_settings() -> QSettings:
    """The app's remembered state (a new handle each time: the data directory may change in tests)."""
    return QSettings(str(data_dir() / STATE_FILE), QSettings.Format.IniFormat)


# --- folders used in file dialogs ----------------------------------------------------------

def last_folder(purpose: str) -> str:
    """The folder the user last chose a file in for this purpose ("" the first time)."""
    folder = str(state_settings().value(f"folders/{purpose}", "") or "")
    return folder if folder and Path(folder).is_dir() else ""


def remember_folder(purpose: str, chosen: str | Path) -> None:
    """Remember where a chosen file (its folder) or folder (its parent) lives."""
    path = Path(chosen)
    folder = path.parent if path.is_file() or not path.exists() else path
    settings = state_settings()
    settings.setValue(f"folders/{purpose}", str(folder))
    settings.sync()


def open_file_names(parent: QWidget, purpose: str, title: str, filters: str = "") -> list[str]:
    files, _ = QFileDialog.getOpenFileNames(parent, title, last_folder(purpose), filters)
    if files:
        remember_folder(purpose, files[0])
    return list(files)


def open_file_name(parent: QWidget, purpose: str, title: str, filters: str = "") -> str:
    path, _ = QFileDialog.getOpenFileName(parent, title, last_folder(purpose), filters)
    if path:
        remember_folder(purpose, path)
    return str(path)


def existing_directory(parent: QWidget, purpose: str, title: str) -> str:
    folder = QFileDialog.getExistingDirectory(parent, title, last_folder(purpose))
    if folder:
        settings = state_settings()
        settings.setValue(f"folders/{purpose}", str(Path(folder).parent))  # start beside it next time
        settings.sync()
    return str(folder)


# --- the main window ----------------------------------------------------------------------------

def splitters(pages: dict[str, QWidget]) -> dict[str, QSplitter]:
    """Every splitter of every page, keyed by page and position (stable: creation order)."""
    found: dict[str, QSplitter] = {}
    for page, widget in pages.items():
        for index, splitter in enumerate(widget.findChildren(QSplitter)):
            found[f"{page}/{index}"] = splitter
    return found


def save_window(window: QMainWindow, page: str, pages: dict[str, QWidget]) -> None:
    settings = state_settings()
    settings.setValue("window/geometry", window.saveGeometry())
    settings.setValue("window/state", window.saveState())
    settings.setValue("window/page", page)
    for key, splitter in splitters(pages).items():
        settings.setValue(f"splitters/{key}", splitter.saveState())
    settings.sync()


def restore_window(window: QMainWindow, pages: dict[str, QWidget]) -> str | None:
    """Put the window and its splitters back as they were; the last page's name (None: first run)."""
    settings = state_settings()
    geometry = settings.value("window/geometry")
    if isinstance(geometry, QByteArray) and not geometry.isEmpty():
        window.restoreGeometry(geometry)
    state = settings.value("window/state")
    if isinstance(state, QByteArray) and not state.isEmpty():
        window.restoreState(state)
    restore_splitters(pages)
    page = settings.value("window/page")
    return str(page) if isinstance(page, str) and page in pages else None


def restore_splitters(pages: dict[str, QWidget]) -> None:
    """The pages' splitters as they were saved (a page built later restores its own)."""
    settings = state_settings()
    for key, splitter in splitters(pages).items():
        saved = settings.value(f"splitters/{key}")
        if isinstance(saved, QByteArray) and not saved.isEmpty():
            splitter.restoreState(saved)


class StateKeeper(QObject):
    """Saves the window's state when it is closed (an event filter: the window's own closeEvent
    stays free for its own questions)."""

    def __init__(self, window: QMainWindow, pages: dict[str, QWidget], current_page: object) -> None:
        super().__init__(window)
        self.window, self.pages, self.current_page = window, pages, current_page
        window.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.window and event.type() == QEvent.Type.Close:
            self.save()
        return False

    def save(self) -> None:
        page = self.current_page() if callable(self.current_page) else ""
        save_window(self.window, str(page), self.pages)
