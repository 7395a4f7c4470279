"""ONNX's plug-in: the steps that write model.onnx, its describer, its quantizers, and the
rewrites every ONNX export gets before the parity gate proves they changed nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.spec import ExportSpec, OnnxConfig
from exporters.emitter import Emitter
from exporters.formats import FormatPlugin, IOSpec, register
from exporters.loaders.base import LoadedModel
from exporters.optimize import quantize
from exporters.steps.huggingface import hf2onnx
from exporters.steps.onnx_compat import make_portable
from exporters.steps.onnx_preprocessing import embed_preprocessing
from exporters.steps.pytorch import torch2onnx
from exporters.steps.ultralytics import ultralytics2onnx


def _dims(value_info: Any) -> list[int | str]:
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


def _tensor(value_info: Any) -> dict[str, Any]:
    """A graph input or output: its name, declared shape and numpy dtype name."""
    import onnx

    return {"name": value_info.name, "shape": _dims(value_info),
            "dtype": onnx.helper.tensor_dtype_to_np_dtype(value_info.type.tensor_type.elem_type).name}


def describe_onnx(path: Path) -> IOSpec:
    """input_spec and outputs as the ONNX file declares them (uint8 input: embedded, NHWC)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    input_spec = _tensor(graph.input[0])
    input_spec["format"] = "NHWC" if input_spec["dtype"] == "uint8" else "NCHW"
    return input_spec, [_tensor(o) for o in graph.output]


def facts(path: Path) -> dict[str, Any]:
    """The main graph's node op types; initializers by the op type of their first consumer."""
    import math

    import numpy as np
    import onnx

    from exporters.facts import op_table, tally

    model = onnx.load(str(path), load_external_data=False)
    graph = model.graph
    consumer: dict[str, tuple[str, int]] = {}
    for index, node in enumerate(graph.node):
        for name in node.input:
            consumer.setdefault(name, (node.op_type, index))
    weights = []
    for init in graph.initializer:
        count = math.prod(init.dims)
        itemsize = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(init.data_type)).itemsize
        kind, node_index = consumer.get(init.name, ("(unused)", -1))
        weights.append((kind, node_index, count, count * itemsize))
    constants = {i.name for i in graph.initializer}
    return {
        "inputs": [_tensor(i) for i in graph.input if i.name not in constants],
        "outputs": [_tensor(o) for o in graph.output],
        **op_table(node.op_type for node in graph.node),
        "parameters": tally(weights),
        "opset": {o.domain or "ai.onnx": o.version for o in model.opset_import},
        "versions": {"onnx IR": str(model.ir_version),
                     "producer": f"{model.producer_name} {model.producer_version}".strip()},
    }


def describe(model: LoadedModel, path: Path, spec: ExportSpec) -> IOSpec:
    return describe_onnx(path)


def after_convert(path: Path, model: LoadedModel, spec: ExportSpec, emitter: Emitter) -> None:
    """Runtimes with limited broadcasting (OpenCV 4.6 DNN) run every ONNX export; the
    preprocessing moves into the graph when asked. The gate then proves nothing changed."""
    cfg = spec.export_config
    assert isinstance(cfg, OnnxConfig)
    changed = make_portable(path)
    if any(changed.values()):
        emitter.log(f"ONNX graph made readable by OpenCV DNN: {changed}")
    if cfg.embed_preprocessing:
        emitter.progress(0.9, "embedding preprocessing in the graph")
        embed_preprocessing(path, model.input_name, model.preprocessing)


ONNX = register(FormatPlugin(
    name="onnx",
    describe=describe,
    steps={"ultralytics2onnx": ultralytics2onnx, "torch2onnx": torch2onnx, "hf2onnx": hf2onnx},
    quantizers={"dynamic": quantize.onnx_dynamic, "static": quantize.onnx_static, "fp16": quantize.onnx_fp16},
    after_convert=after_convert,
    facts=facts,
))
