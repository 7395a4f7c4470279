"""The export routes, as data: one entry per (framework, format).

Each route names the conversion steps the worker runs (small source-to-target
functions in ``exporters/steps``), the runtime that checks parity, the extra
that must be installed, and its place in the product's capability matrix. The
capability matrix, the wizard's format cards and the CLI's choices all read
this table; nothing else keeps a second list of formats.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.util import find_spec

from core.errors import Unsupported
from core.spec import FORMATS, FRAMEWORKS

FORMAT_SUFFIX: dict[str, str] = {
    "onnx": ".onnx",
    "torchscript": ".torchscript",
    "openvino": "_openvino_model",
    "tflite": ".tflite",
    "coreml": ".mlpackage",
    "tensorrt": ".engine",
}


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
_LATER = "arrives with the formats work (not in this build yet)"


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
    return Route(
        framework, fmt, steps, quality, native, embedded, runtime, extras,
        modules + extra_modules, reason,
    )


ROUTES: dict[tuple[str, str], Route] = {
    (r.framework, r.export_format): r
    for r in (
        _route("ultralytics", "onnx", ("ultralytics2onnx",), "excellent", True, True,
               "onnxruntime", ("onnxslim",)),
        _route("ultralytics", "torchscript", ("ultralytics2torchscript",), "excellent", True, True,
               "torch"),
        _route("timm", "onnx", ("torch2onnx",), "excellent", True, True, "onnxruntime"),
        _route("timm", "torchscript", ("torch2torchscript",), "excellent", True, True, "torch"),
        _route("huggingface", "onnx", ("hf2onnx",), "excellent", True, True, "onnxruntime",
               ("optimum.exporters.onnx",)),
        _route("huggingface", "torchscript", ("torch2torchscript",), "excellent", True, True,
               "torch"),
        # The seed's matrix for the remaining formats; routes land with the formats issue.
        _route("ultralytics", "openvino", (), "excellent", True, True, "openvino", reason=_LATER),
        _route("ultralytics", "tflite", (), "excellent", True, False, "litert", reason=_LATER),
        _route("ultralytics", "coreml", (), "excellent", True, True, "none", reason=_LATER),
        _route("ultralytics", "tensorrt", (), "excellent", True, True, "tensorrt", reason=_LATER),
        _route("timm", "openvino", (), "good", False, False, "openvino", reason=_LATER),
        _route("timm", "tflite", (), "fair", False, False, "litert", reason=_LATER),
        _route("timm", "coreml", (), "good", False, False, "none", reason=_LATER),
        _route("timm", "tensorrt", (), "good", False, False, "tensorrt", reason=_LATER),
        _route("huggingface", "openvino", (), "excellent", True, False, "openvino", reason=_LATER),
        _route("huggingface", "tflite", (), "fair", False, False, "litert", reason=_LATER),
        _route("huggingface", "coreml", (), "fair", False, False, "none",
               reason="the Hugging Face → CoreML route is not supported (product matrix)"),
        _route("huggingface", "tensorrt", (), "fair", False, False, "tensorrt", reason=_LATER),
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


def capabilities(framework: str | None = None) -> dict[str, dict[str, dict[str, object]]]:
    """The capability matrix in the product spec's shape, probed on this machine."""
    matrix: dict[str, dict[str, dict[str, object]]] = {}
    for (fw, fmt), route in ROUTES.items():
        if framework and fw != framework:
            continue
        entry: dict[str, object] = {
            "supported": False,
            "quality": route.quality,
            "native": route.native,
            "preprocessing_embedded": route.preprocessing_embedded,
        }
        if not route.implemented:
            entry["reason"] = route.reason
        elif missing := route.missing_modules():
            entry["reason"] = f"not installed: {', '.join(missing)}"
            entry["install"] = f"pip install 'slipway-studio[{','.join(route.extras)}]'"
        else:
            entry["supported"] = True
        matrix.setdefault(fw, {})[fmt] = entry
    return matrix
