"""The one error type the endpoint's routes raise; the app renders it as ``{"error": message}``."""

from __future__ import annotations


class ApiError(Exception):
    """An HTTP error with a message for the caller (never a traceback)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
