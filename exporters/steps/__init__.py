"""Conversion steps: small source-to-target functions, registered by name.

Each step takes the loaded model, the spec, the previous step's output (None for
the first step) and the working folder, and returns the file it wrote. The
routes in ``core.registry`` list step names; two-stage routes simply list two.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from pathlib import Path

from core.spec import ExportSpec
from exporters.loaders.base import LoadedModel

Step = Callable[[LoadedModel, ExportSpec, Path | None, Path], Path]

# step name → "module:function", imported only when a route uses it
STEPS: dict[str, str] = {
    "ultralytics2onnx": "exporters.steps.ultralytics:ultralytics2onnx",
    "ultralytics2torchscript": "exporters.steps.ultralytics:ultralytics2torchscript",
    "torch2onnx": "exporters.steps.pytorch:torch2onnx",
    "torch2torchscript": "exporters.steps.pytorch:torch2torchscript",
    "hf2onnx": "exporters.steps.huggingface:hf2onnx",
}


def get_step(name: str) -> Step:
    module, _, func = STEPS[name].partition(":")
    step: Step = getattr(import_module(module), func)
    return step
