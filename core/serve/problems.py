"""The one error type the endpoint's routes raise (rendered as ``{"error": message}``), and
the scrubbing that keeps server paths out of what callers read."""

from __future__ import annotations

import re
from pathlib import Path

# an absolute POSIX or Windows path of two parts or more (not "1/2" or "and/or"); the last part is kept
_PATH = re.compile(r"(?<![\w.])(?:[A-Za-z]:)?(?:[\\/][^\s\\/'\"`:,;()\[\]{}]+){2,}[\\/]?")


class ApiError(Exception):
    """An HTTP error with a message for the caller (never a traceback)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def without_paths(message: str, names: dict[Path, str] | None = None) -> str:
    """The message with absolute paths replaced: known folders by a name, others by their last part."""
    for path, name in (names or {}).items():
        message = message.replace(str(path), name)
    return _PATH.sub(lambda m: re.split(r"[\\/]", m.group(0).rstrip("\\/"))[-1], message)
