"""Conversion steps: small source-to-target functions (``torch2onnx``, ``onnx2openvino`` …).

Each step takes the loaded model, the spec, the previous step's output (None for
the first step) and the working folder, and returns the file it wrote. The format
plug-ins (exporters/formats/) register them by the names the routes in
core/formats use; two-stage routes simply list two.
"""

from __future__ import annotations

from core.spec import ExportSpec, OnnxConfig, TensorRTConfig


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
