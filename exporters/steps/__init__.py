"""Conversion steps: small source-to-target functions (``torch2onnx``, ``onnx2openvino`` …).

Each step takes the loaded model, the spec, the previous step's output (None for
the first step) and the working folder, and returns the file it wrote. The format
plug-ins (exporters/formats/) register them by the names the routes in
core/formats use; two-stage routes simply list two.
"""

from __future__ import annotations

from core.spec import ExportSpec, OnnxConfig, TensorRTConfig
from exporters.loaders.base import LoadedModel, family_opset

# the ONNX model TFLite is converted from is written at this opset at least: GELU is then ONNX's
# Gelu operator, which onnx2tf turns into TFLite's builtin GELU (below opset 20 it is Erf
# arithmetic, and TFLite has no builtin Erf: ConvNeXt, ViT, Swin... would not convert)
TFLITE_SOURCE_OPSET = 20


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


def onnx_opset(model: LoadedModel, spec: ExportSpec) -> int:
    """The opset the ONNX graph is written in: the one asked for, or the family's minimum
    (family_opset); for TFLite, whose ONNX graph is intermediate, TFLITE_SOURCE_OPSET at least."""
    opset = family_opset(model.min_opset, onnx_config(spec).opset_version)
    return max(opset, TFLITE_SOURCE_OPSET) if spec.export_format == "tflite" else opset
