"""The format registry: one descriptor per format (``core/formats/<format>.py``).

Everything that lists formats (the spec, the routes and capability matrix, the CLI's
flags, the wizard's cards and forms, the package types, Triton's platforms, the
wrapper's runtimes) reads it. Adding a format is one module here, one plug-in in
``exporters/formats/`` and, if the Python wrapper must run it, one runtime class
there (docs/ARCHITECTURE.md walks through it).
"""

from __future__ import annotations

from core.errors import BadInput
from core.formats.base import Format, FormatConfig, Route, StrictModel, registered
from core.formats.coreml import CoreMLConfig
from core.formats.onnx import OnnxConfig
from core.formats.openvino import OpenVinoConfig
from core.formats.tensorrt import TensorRTConfig
from core.formats.tflite import TFLiteConfig
from core.formats.torchscript import TorchScriptConfig


def get(name: str) -> Format:
    fmt = registered().get(name)
    if fmt is None:
        raise BadInput(f"unknown format {name!r}; choose one of {', '.join(registered())}")
    return fmt


def names() -> tuple[str, ...]:
    return tuple(registered())


def all_formats() -> list[Format]:
    return list(registered().values())


def by_suffix(suffix: str) -> Format | None:
    return next((f for f in registered().values() if f.suffix == suffix), None)


__all__ = [
    "CoreMLConfig", "Format", "FormatConfig", "OnnxConfig", "OpenVinoConfig", "Route", "StrictModel",
    "TFLiteConfig", "TensorRTConfig", "TorchScriptConfig", "all_formats", "by_suffix", "get", "names",
]
