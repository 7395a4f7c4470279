"""Loaders: a checkpoint in, a :class:`LoadedModel` out. One module per framework."""

from __future__ import annotations

from importlib import import_module
from pathlib import Path

from core.errors import missing_extra
from core.spec import ExportSpec
from exporters.loaders.base import LoadedModel

_EXTRA_MODULES = {"ultralytics": "ultralytics", "timm": "timm", "huggingface": "transformers"}


def load_model(spec: ExportSpec, framework: str, checkpoint: Path, work: Path) -> LoadedModel:
    """Load with the framework's own library; a missing library names the extra to install."""
    for module in ("torch", _EXTRA_MODULES[framework]):
        try:
            import_module(module)
        except ImportError:
            raise missing_extra(module, framework) from None
    loader = import_module(f"exporters.loaders.{framework}")
    model: LoadedModel = loader.load(spec, checkpoint, work)
    return model


__all__ = ["LoadedModel", "load_model"]
