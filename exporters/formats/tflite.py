"""TFLite's plug-in: ONNX → SavedModel → .tflite in a process of its own, read back with LiteRT."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.spec import ExportSpec
from exporters.formats import FormatPlugin, IOSpec, register
from exporters.loaders.base import LoadedModel
from exporters.optimize import quantize
from exporters.steps.tflite import onnx2tflite


def _dims(values: list[int]) -> list[int | str]:
    return [int(v) for v in values]


def describe(model: LoadedModel, path: Path, spec: ExportSpec) -> IOSpec:
    """Outputs keep the original names with the signature's as ``runtime_name``; onnx2tf
    makes 4-D outputs NHWC (``layout``), which the wrapper turns back."""
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=str(path)).get_signature_runner()
    (in_name, first), = runner.get_input_details().items()
    input_spec = {"name": in_name, "shape": _dims(first["shape"]), "dtype": first["dtype"].__name__,
                  "format": "NHWC"}
    details = sorted(runner.get_output_details().items(), key=lambda kv: int(kv[0].rsplit("_", 1)[-1]))
    outputs = []
    for original, (name, item) in zip(model.output_names, details, strict=True):
        entry = {"name": original, "runtime_name": name, "shape": _dims(item["shape"]),
                 "dtype": item["dtype"].__name__}
        if len(item["shape"]) == 4:
            entry["layout"] = "NHWC"
        outputs.append(entry)
    return input_spec, outputs


def facts(path: Path) -> dict[str, Any]:
    """The flatbuffer's operators; tensors no operator writes (and no input is) are its
    weights, under the operator that reads them first."""
    import math

    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    from exporters.facts import op_table, tally

    interpreter = Interpreter(model_path=str(path))
    ops = interpreter._get_ops_details()  # the only listing of the graph LiteRT offers
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    written = {i for op in ops for i in op["outputs"]} | {t["index"] for t in inputs}
    consumer: dict[int, tuple[str, int]] = {}
    for op in ops:
        for index in op["inputs"]:
            if index >= 0:
                consumer.setdefault(int(index), (op["op_name"], op["index"]))
    weights = []
    for index, (name, op_index) in consumer.items():
        if index in written or index not in tensors:
            continue
        count = math.prod(int(d) for d in tensors[index]["shape"])
        weights.append((name, op_index, count, count * np.dtype(tensors[index]["dtype"]).itemsize))

    def io(detail: dict[str, Any]) -> dict[str, Any]:
        return {"name": detail["name"], "shape": _dims(detail["shape"]),
                "dtype": np.dtype(detail["dtype"]).name}

    return {"inputs": [io(d) for d in inputs], "outputs": [io(d) for d in outputs],
            **op_table(op["op_name"] for op in ops), "parameters": tally(weights), "opset": None}


TFLITE = register(FormatPlugin(
    name="tflite",
    describe=describe,
    steps={"onnx2tflite": onnx2tflite},
    quantizers={"dynamic": quantize.tflite_dynamic, "fp16": quantize.tflite_fp16,
                "static": quantize.tflite_static},
    facts=facts,
))
