"""The export routes and the capability matrix: a view over the format registry.

Each format's descriptor (core/formats) lists its routes, one per framework: the
conversion steps the worker runs (small source-to-target functions in
``exporters/steps``). Here they are resolved with what they need (the runtime that
checks parity, the extras, the modules that prove them installed) and probed on
this machine for the capability matrix, the wizard's format cards and the CLI.
"""

from __future__ import annotations

import platform
import shutil
from dataclasses import dataclass
from pathlib import Path

from core import formats, probes
from core.errors import Unsupported, install_command

FORMAT_SUFFIX: dict[str, str] = {f.name: f.suffix for f in formats.all_formats()}


def model_files(model_file: Path) -> list[Path]:
    """The files a runtime loads: the model file and its companions (OpenVINO's .bin)."""
    fmt = formats.by_suffix(model_file.suffix)
    return fmt.model_files(model_file) if fmt is not None else [model_file]


def move_model(source: Path, target: Path, copy: bool = False) -> None:
    """Move (or copy) a model file with its companions, keeping their shared stem."""
    for part, destination in zip(model_files(source), model_files(target), strict=True):
        if copy:
            shutil.copyfile(part, destination)
        else:
            shutil.move(str(part), str(destination))


@dataclass(frozen=True)
class Route:
    """A (framework, format) route with everything it needs, resolved from the format's descriptor."""

    framework: str
    export_format: str
    steps: tuple[str, ...]  # empty: not available in this build
    quality: str  # excellent | good | fair
    native: bool  # one step from the framework, not via ONNX
    preprocessing_embedded: bool  # the format can carry preprocessing in the graph
    runtime: str  # what runs the parity gate
    extras: tuple[str, ...]  # pip extras the route needs
    modules: tuple[str, ...]  # importable modules that prove the extras are installed
    reason: str = ""  # why a route without steps is unavailable

    @property
    def implemented(self) -> bool:
        return bool(self.steps)

    def missing_modules(self) -> list[str]:
        return [m for m in self.modules if not probes.installed(m)]


_FRAMEWORK_NEEDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "ultralytics": (("ultralytics",), ("torch", "ultralytics")),
    "timm": (("timm",), ("torch", "timm")),
    "huggingface": (("huggingface",), ("torch", "transformers")),
}


def _resolve(fmt: formats.Format, route: formats.Route) -> Route:
    extras, modules = _FRAMEWORK_NEEDS[route.framework]
    return Route(route.framework, fmt.name, route.steps, route.quality, route.native,
                 fmt.embeds_preprocessing, fmt.parity_runtime, extras + fmt.extras,
                 modules + fmt.modules + route.extra_modules, route.reason)


ROUTES: dict[tuple[str, str], Route] = {
    (fw, fmt.name): _resolve(fmt, route) for fmt in formats.all_formats() for fw, route in fmt.routes.items()
}


def route_for(framework: str, export_format: str) -> Route:
    """The route for a pair, or :class:`Unsupported` saying why there is none."""
    route = ROUTES.get((framework, export_format))
    if route is None:
        raise Unsupported(f"no export route from {framework} to {export_format}")
    if not route.implemented:
        raise Unsupported(f"{framework} → {export_format}: {route.reason}")
    return route


def cuda_gpu_present() -> bool:
    return probes.cuda_gpu_present()


def unavailable_reason(route: Route) -> tuple[str, str | None]:
    """Why this machine cannot run the route now, and the extra that would fix it ('' if it can)."""
    if not route.implemented:
        return route.reason, None
    no_gpu = formats.get(route.export_format).needs_gpu and not cuda_gpu_present()
    gpu_note = "TensorRT builds engines on an NVIDIA GPU with CUDA; none is present here"
    if missing := route.missing_modules():
        reason = f"not installed: {', '.join(missing)}" + (f"; {gpu_note}" if no_gpu else "")
        return reason, ",".join(route.extras)
    if no_gpu:
        return gpu_note, None
    return "", None


# What the parity gate can check for each runtime on this machine.
_VERIFICATION = {
    "onnxruntime": "parity gate on ONNX Runtime (CPU)",
    "torch": "parity gate on TorchScript (CPU)",
    "openvino": "parity gate on OpenVINO (CPU) at the precision the package pins",
    "litert": "parity gate on the LiteRT interpreter (CPU)",
    "tensorrt": "parity gate on TensorRT (the GPU it was built on)",
}


def verification(route: Route) -> str:
    if route.runtime == "coreml":
        if platform.system() == "Darwin":
            return "structure checks; parity on Core ML needs coremltools' runtime (macOS)"
        return ("structure checks only (spec, inputs/outputs, labels, image scale/bias); "
                "parity not run: Core ML models run only on macOS/iOS")
    return _VERIFICATION[route.runtime]


def capabilities(framework: str | None = None) -> dict[str, dict[str, dict[str, object]]]:
    """The capability matrix in the product spec's shape, probed on this machine."""
    matrix: dict[str, dict[str, dict[str, object]]] = {}
    for (fw, fmt), route in ROUTES.items():
        if framework and fw != framework:
            continue
        reason, extra = unavailable_reason(route)
        entry: dict[str, object] = {
            "supported": not reason,
            "quality": route.quality,
            "native": route.native,
            "preprocessing_embedded": route.preprocessing_embedded,
            "route": list(route.steps),
        }
        if reason:
            entry["reason"] = reason
        if extra:
            entry["install"] = install_command(extra)
        if route.implemented:
            entry["verification"] = verification(route)
        matrix.setdefault(fw, {})[fmt] = entry
    return matrix
