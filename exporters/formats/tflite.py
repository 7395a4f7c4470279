"""TFLite's plug-in: ONNX → SavedModel → .tflite in a process of its own, read back with LiteRT."""

from __future__ import annotations

from pathlib import Path

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


TFLITE = register(FormatPlugin(
    name="tflite",
    describe=describe,
    steps={"onnx2tflite": onnx2tflite},
    quantizers={"dynamic": quantize.tflite_dynamic, "fp16": quantize.tflite_fp16,
                "static": quantize.tflite_static},
))
