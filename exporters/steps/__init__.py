"""Conversion steps: small source-to-target functions, registered by name.

Each step takes the loaded model, the spec, the previous step's output (None for
the first step) and the working folder, and returns the file it wrote. The
routes in ``core.registry`` list step names; two-stage routes simply list two.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from pathlib import Path

from core.spec import ExportSpec, OnnxConfig, TensorRTConfig
from exporters.loaders.base import LoadedModel

Step = Callable[[LoadedModel, ExportSpec, Path | None, Path], Path]

# step name → "module:function", imported only when a route uses it
STEPS: dict[str, str] = {
    "ultralytics2onnx": "exporters.steps.ultralytics:ultralytics2onnx",
    "ultralytics2torchscript": "exporters.steps.ultralytics:ultralytics2torchscript",
    "torch2onnx": "exporters.steps.pytorch:torch2onnx",
    "torch2torchscript": "exporters.steps.pytorch:torch2torchscript",
    "hf2onnx": "exporters.steps.huggingface:hf2onnx",
    "ultralytics2openvino": "exporters.steps.openvino:ultralytics2openvino",
    "onnx2openvino": "exporters.steps.openvino:onnx2openvino",
    "onnx2tflite": "exporters.steps.tflite:onnx2tflite",
    "ultralytics2coreml": "exporters.steps.coreml:ultralytics2coreml",
    "torch2coreml": "exporters.steps.coreml:torch2coreml",
    "onnx2tensorrt": "exporters.steps.tensorrt:onnx2tensorrt",
}


def onnx_config(spec: ExportSpec) -> OnnxConfig:
    """The ONNX settings of an ONNX export, or of the ONNX stage of a two-stage route.

    The intermediate model is a plain fp32 graph; only TensorRT asks for a dynamic
    batch, so that one engine serves every batch up to max_batch_size.
    """
    if isinstance(spec.export_config, OnnxConfig):
        return spec.export_config
    cfg = spec.export_config
    dynamic = isinstance(cfg, TensorRTConfig) and cfg.max_batch_size > 1
    return OnnxConfig(dynamic_axes=dynamic)


def get_step(name: str) -> Step:
    module, _, func = STEPS[name].partition(":")
    step: Step = getattr(import_module(module), func)
    return step
