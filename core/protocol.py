"""The worker protocol: JSON lines on the worker's stdout, one event each.

    {"type": "progress", "percent": 42.0, "stage": "convert", "message": "..."}
    {"type": "log", "level": "info", "message": "..."}
    {"type": "result", "package_dir": "...", "model_path": "...", ...}
    {"type": "error", "code": "bad_input|unsupported|validation_failed|internal", "message": "..."}

The worker (``python -m exporters --spec SPEC --out DIR``) writes them; the job
service (core.jobs) and through it the CLI and the GUI read them. A line that is
not JSON is kept as log text, never an error: libraries do print.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Literal

STAGES: tuple[str, ...] = ("load", "optimize", "convert", "parity", "validate", "speed", "package")
EventType = Literal["progress", "log", "result", "error"]
RESULT_FILE = "result.json"
STAGING_DIR = ".staging"  # the worker's work in progress, inside the package folder

# Share of the overall progress bar each stage occupies (sums to 100).
STAGE_WEIGHTS: dict[str, float] = {
    "load": 15.0,
    "optimize": 10.0,
    "convert": 32.0,
    "parity": 20.0,
    "validate": 10.0,
    "speed": 3.0,
    "package": 10.0,
}


def overall_percent(stage: str, fraction: float) -> float:
    """Map progress within one stage (0..1) onto the job's 0..100 bar."""
    done = 0.0
    for name in STAGES:
        if name == stage:
            return round(done + STAGE_WEIGHTS[name] * min(max(fraction, 0.0), 1.0), 1)
        done += STAGE_WEIGHTS[name]
    return round(done, 1)


def progress(stage: str, fraction: float, message: str = "") -> dict[str, Any]:
    return {
        "type": "progress",
        "percent": overall_percent(stage, fraction),
        "stage": stage,
        "message": message,
    }


def log(message: str, level: str = "info") -> dict[str, Any]:
    return {"type": "log", "level": level, "message": message}


def encode(event: dict[str, Any]) -> str:
    return json.dumps(event, separators=(",", ":"), default=str)


def decode(line: str) -> dict[str, Any]:
    """One line of worker output as an event; free text becomes a log event."""
    text = line.strip()
    if text.startswith("{"):
        try:
            event = json.loads(text)
        except json.JSONDecodeError:
            pass
        else:
            if isinstance(event, dict) and event.get("type") in ("progress", "log", "result", "error"):
                return event
    return {"type": "log", "level": "info", "message": text}


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    """Write JSON so that a reader sees either the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=2, default=str)
            fh.flush()
            os.fsync(fh.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_result(package_dir: Path) -> dict[str, Any] | None:
    """The worker's result.json, or None if it never finished writing one."""
    try:
        data = json.loads((Path(package_dir) / RESULT_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None
