"""One exception tree for everything a user can get wrong or we cannot do.

    SlipwayError                 exit 1, code "internal"
     ├── BadInput                exit 2, code "bad_input"       (the user can fix it)
     ├── Unsupported             exit 3, code "unsupported"     (no route on this machine)
     ├── ValidationFailed        exit 4, code "validation_failed" (parity or accuracy gate)
     └── InternalError           exit 1, code "internal"        (a bug or a crashed library)

Each carries a message written for people; tracebacks go to the log, never to
the user. The worker protocol's ``error`` event and the CLI's exit status are
both derived from these classes, so the two can never disagree.
"""

from __future__ import annotations

from typing import Any, ClassVar


class SlipwayError(Exception):
    """Base of every error Slipway reports to a person."""

    code: ClassVar[str] = "internal"
    exit_code: ClassVar[int] = 1

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def to_event(self) -> dict[str, Any]:
        """The worker protocol's ``error`` event for this error."""
        event: dict[str, Any] = {"type": "error", "code": self.code, "message": self.message}
        if self.details:
            event["details"] = self.details
        return event


class BadInput(SlipwayError):
    """The input (checkpoint, spec, option, path) is wrong; the user can fix it."""

    code = "bad_input"
    exit_code = 2


class Unsupported(SlipwayError):
    """The request is valid but no route exists for it here (format, extra, platform)."""

    code = "unsupported"
    exit_code = 3


class ValidationFailed(SlipwayError):
    """The exported model differs from the original beyond the allowed tolerance."""

    code = "validation_failed"
    exit_code = 4


class InternalError(SlipwayError):
    """Something broke that is not the user's fault: a bug or a crashing library."""

    code = "internal"
    exit_code = 1


ERRORS_BY_CODE: dict[str, type[SlipwayError]] = {
    cls.code: cls for cls in (BadInput, Unsupported, ValidationFailed, InternalError)
}
EXIT_CODES: dict[str, int] = {code: cls.exit_code for code, cls in ERRORS_BY_CODE.items()}


def install_command(extra: str) -> str:
    """What the user runs to add an optional backend (said in messages; never run by Slipway)."""
    return f"pip install 'slipway-studio[{extra}]'"


def missing_extra(package: str, extra: str) -> Unsupported:
    """The error for an optional backend that is not installed."""
    return Unsupported(
        f"{package} is not installed. Install the '{extra}' extra: {install_command(extra)}",
        details={"package": package, "extra": extra},
    )
