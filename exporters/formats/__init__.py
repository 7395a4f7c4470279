"""The worker's side of each format: one plug-in module per format, beside its code.

A plug-in (``exporters/formats/<format>.py``) registers what the worker does for its
format: the conversion steps that write it (named in the routes of its descriptor in
core/formats), the describer that reads the written file's inputs and outputs, the
quantizers it has, what happens right after conversion (ONNX's portability rewrite
and embedded preprocessing), the gate when parity cannot run (Core ML's structure
checks), what its package carries besides the common files (TensorRT's
build_engine.sh) and how its written file is read for inspection (``facts``: op
types, weights by consuming op, opset; exporters/facts.py). The pipeline asks the
plug-in; it has no ``if format ==`` of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core import formats

if TYPE_CHECKING:
    from core.spec import ExportSpec
    from exporters.emitter import Emitter
    from exporters.loaders.base import LoadedModel
    from exporters.optimize.quantize import Quantizer

IOSpec = tuple[dict[str, Any], list[dict[str, Any]]]  # input_spec, output_spec's outputs
# (loaded model, spec, the previous step's file or None, working folder) → the file written
Step = Callable[["LoadedModel", "ExportSpec", Path | None, Path], Path]
Describer = Callable[["LoadedModel", Path, "ExportSpec"], IOSpec]
AfterConvert = Callable[[Path, "LoadedModel", "ExportSpec", "Emitter"], None]
# (loaded model, the model file, the draft metadata) → the parity report
Gate = Callable[["LoadedModel", Path, dict[str, Any]], dict[str, Any]]
PackageExtras = Callable[[Path, dict[str, Any]], None]
# the written file → its inputs, outputs, ops, parameters, opset (exporters/facts.py)
Facts = Callable[[Path], dict[str, Any]]
# metadata.json's preprocessing as the written file takes its input (OpenVINO's reversed channels)
AdjustPreprocessing = Callable[[dict[str, Any], "ExportSpec"], dict[str, Any]]


@dataclass(frozen=True)
class FormatPlugin:
    name: str
    describe: Describer
    steps: dict[str, Step] = field(default_factory=dict)  # the steps that write this format
    quantizers: dict[str, Quantizer] = field(default_factory=dict)  # after conversion, by method
    after_convert: AfterConvert | None = None
    adjust_preprocessing: AdjustPreprocessing | None = None
    # replaces the parity gate where the format has no runtime here (it never passes it)
    gate: Gate | None = None
    package_extras: PackageExtras | None = None
    facts: Facts | None = None  # None: inspection shows metadata.json's inputs and outputs only


_PLUGINS: dict[str, FormatPlugin] = {}


def register(plugin: FormatPlugin) -> FormatPlugin:
    if plugin.name in _PLUGINS:
        raise ValueError(f"format plug-in {plugin.name!r} registered twice")
    _PLUGINS[plugin.name] = plugin
    return plugin


def plugin(name: str) -> FormatPlugin:
    """The worker's plug-in of a registered format (core.formats names them)."""
    formats.get(name)  # an unknown format is the user's BadInput, named there
    if name not in _PLUGINS:
        import_module(f"exporters.formats.{name}")
    return _PLUGINS[name]


def all_plugins() -> list[FormatPlugin]:
    return [plugin(name) for name in formats.names()]


def step(name: str) -> Step:
    """A conversion step by the name the routes use."""
    for candidate in all_plugins():
        if name in candidate.steps:
            return candidate.steps[name]
    raise KeyError(f"no format plug-in provides the conversion step {name!r}")
