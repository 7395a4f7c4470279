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


def describe_onnx(path: Path) -> IOSpec:
    """input_spec and outputs as the ONNX file declares them (uint8 input: embedded, NHWC)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    first = graph.input[0]
    dtype = onnx.helper.tensor_dtype_to_np_dtype(first.type.tensor_type.elem_type).name
    input_spec = {"name": first.name, "shape": _dims(first), "dtype": dtype,
                  "format": "NHWC" if dtype == "uint8" else "NCHW"}
    outputs = [{"name": o.name, "shape": _dims(o),
                "dtype": onnx.helper.tensor_dtype_to_np_dtype(o.type.tensor_type.elem_type).name}
               for o in graph.output]
    return input_spec, outputs


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
))
