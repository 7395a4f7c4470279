"""OpenVINO's plug-in: IR from Ultralytics' exporter or from ONNX, its describer, NNCF INT8."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.spec import ExportSpec, OpenVinoConfig
from exporters.formats import FormatPlugin, IOSpec, register
from exporters.loaders.base import LoadedModel
from exporters.optimize import quantize
from exporters.steps.openvino import onnx2openvino, ultralytics2openvino


def describe(model: LoadedModel, path: Path, spec: ExportSpec) -> IOSpec:
    import openvino as ov

    ov_model = ov.Core().read_model(str(path))

    def shape(port: Any) -> list[int | str]:
        return [d.get_length() if d.is_static else "batch" if i == 0 else f"dim{i}"
                for i, d in enumerate(port.get_partial_shape())]

    def name(port: Any, fallback: str) -> str:  # Ultralytics' IR leaves its outputs unnamed
        return port.get_any_name() if port.get_names() else fallback

    first = ov_model.inputs[0]
    input_spec = {"name": name(first, model.input_name), "shape": shape(first),
                  "dtype": first.get_element_type().to_dtype().name, "format": "NCHW"}
    outputs = [{"name": name(o, fallback), "shape": shape(o), "dtype": o.get_element_type().to_dtype().name}
               for o, fallback in zip(ov_model.outputs, model.output_names, strict=False)]
    return input_spec, outputs


def facts(path: Path) -> dict[str, Any]:
    """The IR's op types (Parameter, Constant and Result included); each Constant's weights
    under the op that consumes it, through any decompression Convert; the newest opset used."""
    import math

    import openvino as ov

    from exporters.facts import op_table, tally

    ov_model = ov.Core().read_model(str(path))

    def port(p: Any) -> dict[str, Any]:
        shape = [d.get_length() if d.is_static else "?" for d in p.get_partial_shape()]
        name = p.get_any_name() if p.get_names() else p.get_node().get_friendly_name()
        return {"name": name, "shape": shape, "dtype": p.get_element_type().to_dtype().name}

    def consumer(op: Any) -> Any:
        for target in op.output(0).get_target_inputs():
            node = target.get_node()
            return consumer(node) if node.get_type_name() == "Convert" else node
        return None

    ops = ov_model.get_ordered_ops()
    weights = []
    for op in ops:
        if op.get_type_name() == "Constant":
            node = consumer(op)
            kind = "(unused)" if node is None else str(node.get_type_name())
            layer = None if node is None else node.get_friendly_name()
            weights.append((kind, layer, math.prod(op.get_output_shape(0)), int(op.get_byte_size())))
    opsets = {str(op.get_type_info().version_id) for op in ops}
    newest = max(opsets, key=lambda v: int("".join(c for c in v if c.isdigit()) or 0), default=None)
    return {
        "inputs": [port(p) for p in ov_model.inputs], "outputs": [port(p) for p in ov_model.outputs],
        **op_table(str(op.get_type_name()) for op in ops), "parameters": tally(weights),
        "opset": {"openvino": newest} if newest else None,
        "versions": {"openvino runtime": ov.get_version()},
    }


def adjust_preprocessing(pre: dict[str, Any], spec: ExportSpec) -> dict[str, Any]:
    """reverse_input_channels swaps the channel order the IR takes: RGB becomes BGR, and a model
    that already took BGR (MobileViT's flipped channels) now takes RGB."""
    cfg = spec.export_config
    assert isinstance(cfg, OpenVinoConfig)
    if not cfg.reverse_input_channels:
        return pre
    swapped = "RGB" if pre["format"].get("color_space") == "BGR" else "BGR"
    return {**pre, "format": {**pre["format"], "color_space": swapped}}


OPENVINO = register(FormatPlugin(
    name="openvino",
    describe=describe,
    adjust_preprocessing=adjust_preprocessing,
    steps={"ultralytics2openvino": ultralytics2openvino, "onnx2openvino": onnx2openvino},
    quantizers={"static": quantize.openvino_static},
    facts=facts,
))
