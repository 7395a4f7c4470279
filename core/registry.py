"""The export routes, as data: one entry per (framework, format).

Each route names the conversion steps the worker runs (small source-to-target
functions in ``exporters/steps``), the runtime that checks parity, the extra
that must be installed, and its place in the product's capability matrix. The
capability matrix, the wizard's format cards and the CLI's choices all read
this table; nothing else keeps a second list of formats.
"""

from __future__ import annotations

import platform
import shutil
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

from core.errors import Unsupported
from core.spec import FORMATS, FRAMEWORKS

FORMAT_SUFFIX: dict[str, str] = {
    "onnx": ".onnx",
    "torchscript": ".torchscript",
    "openvino": ".xml",  # with model.bin beside it
    "tflite": ".tflite",
    "coreml": ".mlpackage",
    "tensorrt": ".engine",
}


def model_files(model_file: Path) -> list[Path]:
    """The files a runtime loads: OpenVINO's graph comes with its weights beside it."""
    if model_file.suffix == ".xml":
        return [model_file, model_file.with_suffix(".bin")]
    return [model_file]


def move_model(source: Path, target: Path, copy: bool = False) -> None:
    """Move (or copy) a model file with its companions, keeping their shared stem."""
    for part, destination in zip(model_files(source), model_files(target), strict=True):
        if copy:
            shutil.copyfile(part, destination)
        else:
            shutil.move(str(part), str(destination))


@dataclass(frozen=True)
class Route:
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
        return [m for m in self.modules if find_spec(m) is None]


_FRAMEWORK_NEEDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "ultralytics": (("ultralytics",), ("torch", "ultralytics")),
    "timm": (("timm",), ("torch", "timm")),
    "huggingface": (("huggingface",), ("torch", "transformers")),
}
_NEEDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # the format's extras and the modules that prove they are installed
    "onnx": ((), ()),
    "torchscript": ((), ()),
    "openvino": (("openvino",), ("openvino",)),
    "tflite": (("tflite",), ("onnx2tf", "tensorflow", "ai_edge_litert")),
    "coreml": (("coreml",), ("coremltools",)),
    "tensorrt": (("tensorrt",), ("tensorrt",)),
}
_HF_COREML = ("Hugging Face → CoreML is not supported (product matrix): coremltools has no "
              "route for transformers' vision models that keeps the image processor's "
              "preprocessing; for Apple devices export to onnx and run it with ONNX Runtime's "
              "CoreML execution provider")


def _route(
    framework: str,
    fmt: str,
    steps: tuple[str, ...],
    quality: str,
    native: bool,
    embedded: bool,
    runtime: str,
    extra_modules: tuple[str, ...] = (),
    reason: str = "",
) -> Route:
    extras, modules = _FRAMEWORK_NEEDS[framework]
    format_extras, format_modules = _NEEDS[fmt]
    return Route(
        framework, fmt, steps, quality, native, embedded, runtime, extras + format_extras,
        modules + format_modules + extra_modules, reason,
    )


# Two-stage routes go through ONNX: the first step writes model.onnx, the second
# converts it. "native" means one step from the framework, with no ONNX between.
ROUTES: dict[tuple[str, str], Route] = {
    (r.framework, r.export_format): r
    for r in (
        _route("ultralytics", "onnx", ("ultralytics2onnx",), "excellent", True, True,
               "onnxruntime", ("onnxslim",)),
        _route("ultralytics", "torchscript", ("ultralytics2torchscript",), "excellent", True, True,
               "torch"),
        _route("ultralytics", "openvino", ("ultralytics2openvino",), "excellent", True, True,
               "openvino"),
        # Ultralytics' own TFLite route needs litert-torch (jax, torchao): go through ONNX
        _route("ultralytics", "tflite", ("ultralytics2onnx", "onnx2tflite"), "excellent", False,
               False, "litert", ("onnxslim",)),
        _route("ultralytics", "coreml", ("ultralytics2coreml",), "excellent", True, True,
               "coreml"),
        _route("ultralytics", "tensorrt", ("ultralytics2onnx", "onnx2tensorrt"), "excellent",
               False, True, "tensorrt", ("onnxslim",)),
        _route("timm", "onnx", ("torch2onnx",), "excellent", True, True, "onnxruntime"),
        _route("timm", "torchscript", ("torch2torchscript",), "excellent", True, True, "torch"),
        _route("timm", "openvino", ("torch2onnx", "onnx2openvino"), "good", False, True,
               "openvino"),
        _route("timm", "tflite", ("torch2onnx", "onnx2tflite"), "fair", False, False, "litert"),
        _route("timm", "coreml", ("torch2coreml",), "good", True, True, "coreml"),
        _route("timm", "tensorrt", ("torch2onnx", "onnx2tensorrt"), "good", False, True,
               "tensorrt"),
        _route("huggingface", "onnx", ("hf2onnx",), "excellent", True, True, "onnxruntime",
               ("optimum.exporters.onnx",)),
        _route("huggingface", "torchscript", ("torch2torchscript",), "excellent", True, True,
               "torch"),
        _route("huggingface", "openvino", ("hf2onnx", "onnx2openvino"), "excellent", False, True,
               "openvino", ("optimum.exporters.onnx",)),
        _route("huggingface", "tflite", ("hf2onnx", "onnx2tflite"), "fair", False, False,
               "litert", ("optimum.exporters.onnx",)),
        _route("huggingface", "coreml", (), "fair", False, False, "coreml", reason=_HF_COREML),
        _route("huggingface", "tensorrt", ("hf2onnx", "onnx2tensorrt"), "fair", False, True,
               "tensorrt", ("optimum.exporters.onnx",)),
    )
}
assert set(ROUTES) == {(fw, fmt) for fw in FRAMEWORKS for fmt in FORMATS}


def route_for(framework: str, export_format: str) -> Route:
    """The route for a pair, or :class:`Unsupported` saying why there is none."""
    route = ROUTES.get((framework, export_format))
    if route is None:
        raise Unsupported(f"no export route from {framework} to {export_format}")
    if not route.implemented:
        raise Unsupported(f"{framework} → {export_format}: {route.reason}")
    return route


def cuda_gpu_present() -> bool:
    """An NVIDIA driver with at least one GPU, probed without importing torch."""
    gpus = Path("/proc/driver/nvidia/gpus")
    return (gpus.is_dir() and any(gpus.iterdir()))


# What the parity gate can check for each runtime on this machine.
_VERIFICATION = {
    "onnxruntime": "parity gate on ONNX Runtime (CPU)",
    "torch": "parity gate on TorchScript (CPU)",
    "openvino": "parity gate on OpenVINO (CPU) at the precision the package pins",
    "litert": "parity gate on the LiteRT interpreter (CPU)",
    "tensorrt": "parity gate on TensorRT (the GPU it was built on)",
}


def unavailable_reason(route: Route) -> tuple[str, str | None]:
    """Why this machine cannot run the route now, and the extra that would fix it ('' if it can)."""
    if not route.implemented:
        return route.reason, None
    no_gpu = route.runtime == "tensorrt" and not cuda_gpu_present()
    gpu_note = "TensorRT builds engines on an NVIDIA GPU with CUDA; none is present here"
    if missing := route.missing_modules():
        reason = f"not installed: {', '.join(missing)}" + (f"; {gpu_note}" if no_gpu else "")
        return reason, ",".join(route.extras)
    if no_gpu:
        return gpu_note, None
    return "", None


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
            entry["install"] = f"pip install 'slipway-studio[{extra}]'"
        if route.implemented:
            entry["verification"] = verification(route)
        matrix.setdefault(fw, {})[fmt] = entry
    return matrix
