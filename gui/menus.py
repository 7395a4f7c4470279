"""The menu bar (File, Edit, View, Help) and its keyboard shortcuts, over the window's own actions.

Each menu entry calls what a button in a view already does; nothing here is a
second way of doing a thing. Versions in About come from the installed packages'
metadata (``importlib.metadata``): the app never imports torch or TensorFlow to
learn theirs.
"""

from __future__ import annotations

import platform
from importlib import metadata
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMessageBox

if TYPE_CHECKING:
    from gui.main_window import MainWindow

Shortcut = QKeySequence | QKeySequence.StandardKey | str
APP_DISTRIBUTION = "slipway-studio"
RUNTIMES = ("PySide6", "onnxruntime", "onnx", "openvino", "torch", "tensorflow", "ultralytics", "timm",
            "transformers", "coremltools")


def installed_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def about_text() -> str:
    """The app's version and the runtimes it can use here (rich text for the About box)."""
    rows = [f"<tr><td>Python</td><td>{platform.python_version()}</td></tr>"]
    for name in RUNTIMES:
        version = installed_version(name)
        rows.append(f"<tr><td>{name}</td><td>{version or 'not installed'}</td></tr>")
    return (f"<h3>Slipway {installed_version(APP_DISTRIBUTION) or '(development)'}</h3>"
            "<p>Turn trained vision checkpoints into deployable, parity-checked models.</p>"
            f"<table cellspacing='4'>{''.join(rows)}</table>")


def build_menus(window: MainWindow, pages: tuple[str, ...]) -> dict[str, QAction]:
    """Fill the window's menu bar; the actions by name (tests trigger them)."""
    bar = window.menuBar()
    actions: dict[str, QAction] = {}

    def add(menu_name: str, name: str, text: str, slot: object, shortcut: Shortcut | None = None) -> QAction:
        menu = menus[menu_name]
        action = menu.addAction(text)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        actions[name] = action
        return action

    menus = {name: bar.addMenu(f"&{name}") for name in ("File", "Edit", "View", "Help")}
    add("File", "open", "&Add checkpoint…", window.add_checkpoint, QKeySequence.StandardKey.Open)
    add("File", "open_folder", "Add &Hugging Face folder…", window.models.choose_folder, "Ctrl+Shift+O")
    add("File", "export", "&Export selected model…", window.export_current, "Ctrl+E")
    menus["File"].addSeparator()
    add("File", "quit", "&Quit", window.close, QKeySequence.StandardKey.Quit)
    add("Edit", "find", "&Find model…", window.find_model, QKeySequence.StandardKey.Find)
    add("Edit", "delete", "&Delete selected…", window.delete_selected, QKeySequence.StandardKey.Delete)
    menus["Edit"].addSeparator()
    add("Edit", "settings", "&Settings…", lambda: window.show_page("Settings"), "Ctrl+,")
    for index, page in enumerate(pages, start=1):
        add("View", f"page:{page}", page, lambda _checked=False, p=page: window.show_page(p), f"Ctrl+{index}")
    add("Help", "about", "&About Slipway", window.show_about)
    return actions


def about_box(window: MainWindow) -> QMessageBox:
    box = QMessageBox(window)
    box.setWindowTitle("About Slipway")
    box.setTextFormat(Qt.TextFormat.RichText)
    box.setText(about_text())
    box.setStandardButtons(QMessageBox.StandardButton.Close)
    box.open()  # window-modal, never a nested event loop
    return box
