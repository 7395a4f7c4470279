"""The app's log file: tracebacks and child-process output that are not for the user's eyes.

People see a message naming the problem (the notification bar); the details go to
``<data dir>/logs/gui.log``.
"""

from __future__ import annotations

import logging
from logging.handlers import RotatingFileHandler
from pathlib import Path

from core.paths import data_dir

log = logging.getLogger("slipway.gui")


def log_path() -> Path:
    return data_dir() / "logs" / "gui.log"


def configure() -> Path:
    """Send the GUI's log to its file (once per process); returns the file."""
    path = log_path()
    if not any(isinstance(h, RotatingFileHandler) for h in log.handlers):
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(path, maxBytes=2_000_000, backupCount=2, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
    return path
