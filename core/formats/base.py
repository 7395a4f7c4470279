"""What a format is, in one place: the descriptor every view over formats reads.

A format module (``core/formats/onnx.py`` …) defines its settings model (a
``FormatConfig``) and one :class:`Format` that names everything else about it: its
file, the precisions and quantizers it has, the runtimes that check and run it,
Triton's name for it, and the routes that make it from each framework. The worker
side has one plug-in per format (``exporters/formats/``) with the code.
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Unknown fields are an error: a typo must never be silently ignored."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class FormatConfig(StrictModel):
    """A format's own settings: the product spec's ``export_config``."""

    export_format: ClassVar[str] = ""


@dataclass(frozen=True)
class Route:
    """How one framework reaches a format: the worker's conversion steps, in order.

    Two-stage routes go through ONNX: the first step writes model.onnx, the second
    converts it. ``native`` means one step from the framework, no ONNX between.
    """

    framework: str
    export_format: str
    steps: tuple[str, ...]  # empty: not available in this build (``reason`` says why)
    quality: str  # excellent | good | fair
    native: bool
    extra_modules: tuple[str, ...] = ()  # importable modules the route needs beyond the format's
    reason: str = ""

    @property
    def implemented(self) -> bool:
        return bool(self.steps)


@dataclass(frozen=True)
class Rule:
    """An option value some exports cannot honour: refused before a job exists.

    ``refuses(value, context)`` is true when the export the context describes (its spec,
    framework, task and this machine) cannot do what ``value`` at ``path`` asks. The
    message says what to do instead; it may use {value}, {framework}, {task} and {format}.
    ``bad_input`` for a combination that makes no sense, ``unsupported`` for one that is
    not built (or not possible on this machine).
    """

    path: str  # a dotted spec path: "export_config.embed_nms"
    refuses: Callable[[Any, Any], bool]
    message: str | Callable[[Any, Any], str]  # or built from (value, context)
    code: str = "unsupported"


# What an export computes in, from its settings and its optimization_config.quantization.
Precision = Callable[[Any, Any], str]
# metadata.json's ``runtime`` section: how to run the file as the gate checked it.
RuntimeSection = Callable[[Any, dict[str, Any]], dict[str, Any]]


def _default_precision(config: Any, quantization: Any) -> str:
    if quantization is not None:
        return "fp16" if quantization.method == "fp16" else "int8"
    return "fp32"


def _no_runtime_settings(config: Any, parity: dict[str, Any]) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Format:
    name: str  # the spec's export_format
    order: int  # where it stands in lists (the product's order: ONNX first)
    title: str
    suffix: str  # of the model file (a folder for .mlpackage)
    config: type[FormatConfig]
    routes: dict[str, Route]  # framework → route
    parity_runtime: str  # what checks parity: onnxruntime | torch | openvino | litert | tensorrt | coreml
    runtime_package: str  # the pip package a package's Python wrapper needs to run the file
    description: str = ""
    companions: tuple[str, ...] = ()  # suffixes of files that travel beside the model file
    quantizers: tuple[str, ...] = ()  # optimization_config.quantization methods it has
    # the methods applied by the converter itself, not after it (Core ML FP16)
    quantized_at_conversion: tuple[str, ...] = ()
    extras: tuple[str, ...] = ()  # pip extras of slipway-studio the format needs
    modules: tuple[str, ...] = ()  # importable modules that prove those extras are installed
    triton_platform: str | None = None  # Triton's platform name, None: no Triton backend
    triton_model_file: str | None = None  # the file a Triton model repository serves (container package)
    gui_in_process: bool = False  # the app may run it in its own process (light runtime)
    embeds_preprocessing: bool = False  # normalization can live inside the model file
    needs_gpu: bool = False  # an NVIDIA GPU with CUDA
    # an optimized export is timed against the float one here (the speed gate): its runtime
    # runs on this kind of machine's CPU; mobile and GPU targets are not judged on it
    speed_judged_here: bool = False
    runs_on: tuple[str, ...] = ()  # operating systems with a runtime ('' = any); e.g. ("Darwin",)
    keeps_onnx: bool = False  # the package also carries the model.onnx it was built from
    precision: Precision = _default_precision
    runtime_section: RuntimeSection = _no_runtime_settings
    rules: tuple[Rule, ...] = ()  # option values this format refuses for some exports
    # how a spec asks this format for a precision, where it is not a quantizer method
    # (OpenVINO's fp16 is its IR's weights: {"export_config": {"precision": "FP16"}})
    precision_settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: tuple[str, ...] = field(default_factory=tuple)

    def precision_request(self, precision: str, calibration: str | None = None) -> dict[str, Any] | str:
        """The spec sections that ask for fp32, fp16, int8 (static) or int8-dynamic, or why
        this format has no such precision (the benchmark's rows)."""
        if precision in self.precision_settings:
            return self.precision_settings[precision]
        method = {"fp32": None, "fp16": "fp16", "int8": "static", "int8-dynamic": "dynamic"}[precision]
        if method is None:
            return {}
        if method not in self.quantizers:
            having = [f.name for f in _REGISTRY.values() if method in f.quantizers]
            return f"{self.title} has no {precision} in this build; available for: {', '.join(having)}"
        if method == "static" and calibration is None:
            return "static INT8 needs calibration images (--calib DIR)"
        quantization: dict[str, Any] = {"method": method}
        if method == "static":
            quantization["calibration_data"] = calibration
        return {"optimization_config": {"quantization": quantization}}

    def runs_here(self) -> bool:
        """Whether this machine's operating system has a runtime for it (Core ML: macOS only)."""
        return not self.runs_on or platform.system() in self.runs_on

    def model_files(self, model_file: Path) -> list[Path]:
        """The files a runtime loads: the model file and its companions."""
        return [model_file, *(model_file.with_suffix(s) for s in self.companions)]


_REGISTRY: dict[str, Format] = {}


def register(fmt: Format) -> Format:
    """Called once by each format module; the order of registration is the product's order."""
    if fmt.name in _REGISTRY:
        raise ValueError(f"format {fmt.name!r} registered twice")
    if fmt.config.export_format != fmt.name:
        raise ValueError(f"{fmt.config.__name__}.export_format is not {fmt.name!r}")
    _REGISTRY[fmt.name] = fmt
    return fmt


def registered() -> dict[str, Format]:
    return dict(sorted(_REGISTRY.items(), key=lambda item: item[1].order))
