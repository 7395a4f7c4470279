"""Adding checkpoints to the library: what a dropped or chosen path is, and the timm question."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from core.checkpoint import inspect_checkpoint
from core.db import Checkpoint
from core.jobs import JobService

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".safetensors")
AskArchitecture = Callable[[Path], str | None]


def acceptable(path: Path) -> bool:
    """A file with a checkpoint suffix, or a Hugging Face folder (config.json inside)."""
    if path.is_dir():
        return (path / "config.json").is_file()
    return path.suffix.lower() in CHECKPOINT_SUFFIXES


def needs_architecture(kind: str, framework: str) -> bool:
    """Bare timm weights do not say which architecture they belong to."""
    return framework == "timm" and kind in ("state-dict", "safetensors")


def add_checkpoint(service: JobService, path: Path, ask: AskArchitecture) -> Checkpoint | None:
    """Import one checkpoint; ``ask`` supplies a timm architecture when the file needs one.

    Returns None when the user declined to name the architecture. Errors from the
    detection (``BadInput``/``Unsupported``) propagate with their message.
    """
    info = inspect_checkpoint(path)
    model_name = info.model_type
    if needs_architecture(info.kind, info.framework):
        model_name = ask(path)
        if not model_name:
            return None
    return service.import_checkpoint(path, model_name=model_name)
