"""Light and dark themes: Qt's Fusion style with a palette each."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

THEMES = ("light", "dark")


def apply_theme(app: QApplication, theme: str) -> None:
    app.setStyle("Fusion")
    app.setPalette(app.style().standardPalette() if theme != "dark" else dark_palette())
    # widgets with a style sheet keep the palette they were polished with: polish them again
    for widget in app.allWidgets():
        if widget.styleSheet():
            widget.setStyleSheet(widget.styleSheet())


def dark_palette() -> QPalette:
    palette = QPalette()
    role = QPalette.ColorRole
    for key, colour in ((role.Window, "#2b2d30"), (role.WindowText, "#e6e6e6"), (role.Base, "#1e1f22"),
                        (role.AlternateBase, "#26282b"), (role.ToolTipBase, "#2b2d30"),
                        (role.ToolTipText, "#e6e6e6"), (role.Text, "#e6e6e6"), (role.Button, "#3a3c40"),
                        (role.ButtonText, "#e6e6e6"), (role.BrightText, "#ff6b6b"),
                        (role.Highlight, "#3d6fb6"), (role.HighlightedText, "#ffffff"),
                        (role.Link, "#7aa7ff"), (role.Mid, "#8a8d91"), (role.PlaceholderText, "#8a8d91")):
        palette.setColor(key, QColor(colour))
    palette.setColor(QPalette.ColorGroup.Disabled, role.Text, QColor("#7a7a7a"))
    palette.setColor(QPalette.ColorGroup.Disabled, role.WindowText, QColor("#7a7a7a"))
    palette.setColor(QPalette.ColorGroup.Disabled, role.ButtonText, QColor("#7a7a7a"))
    return palette
