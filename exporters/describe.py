"""The input and output tensors of an exported model, read from the file it wrote.

metadata.json's input_spec and output_spec come from here, so they describe the
file a runtime will load (names, shapes, layout, dtype), not what the converter
was asked for. Output names stay the original model's; where a runtime names its
outputs differently (TFLite signatures, Core ML) the runtime's name is kept too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.spec import ExportSpec
from exporters.loaders.base import LoadedModel

IOSpec = tuple[dict[str, Any], list[dict[str, Any]]]


def _dims(values: Any) -> list[int | str]:
    return [v if isinstance(v, str) else int(v) for v in values]


def _onnx(path: Path) -> IOSpec:
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    first = graph.input[0]
    shape = [d.dim_param or d.dim_value for d in first.type.tensor_type.shape.dim]
    dtype = onnx.helper.tensor_dtype_to_np_dtype(first.type.tensor_type.elem_type).name
    embedded = dtype == "uint8"
    input_spec = {"name": first.name, "shape": shape, "dtype": dtype,
                  "format": "NHWC" if embedded else "NCHW"}
    outputs = [
        {"name": o.name,
         "shape": [d.dim_param or d.dim_value for d in o.type.tensor_type.shape.dim],
         "dtype": onnx.helper.tensor_dtype_to_np_dtype(o.type.tensor_type.elem_type).name}
        for o in graph.output
    ]
    return input_spec, outputs


def _openvino(path: Path, model: LoadedModel) -> IOSpec:
    import openvino as ov

    ov_model = ov.Core().read_model(str(path))

    def shape(port: Any) -> list[int | str]:
        return [d.get_length() if d.is_static else "batch" for d in port.get_partial_shape()]

    def name(port: Any, fallback: str) -> str:  # Ultralytics' IR leaves its outputs unnamed
        names = port.get_names()
        return port.get_any_name() if names else fallback

    first = ov_model.inputs[0]
    input_spec = {"name": name(first, model.input_name), "shape": shape(first),
                  "dtype": first.get_element_type().to_dtype().name, "format": "NCHW"}
    outputs = [{"name": name(o, fallback), "shape": shape(o), "dtype": o.get_element_type().to_dtype().name}
               for o, fallback in zip(ov_model.outputs, model.output_names, strict=False)]
    return input_spec, outputs


def _tflite(path: Path, model: LoadedModel) -> IOSpec:
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
        if len(item["shape"]) == 4:  # onnx2tf turns 4-D outputs NHWC; the wrapper turns them back
            entry["layout"] = "NHWC"
        outputs.append(entry)
    return input_spec, outputs


def _coreml(path: Path) -> IOSpec:
    from exporters.steps.coreml import describe_mlpackage

    described = describe_mlpackage(path)
    image = described["inputs"][0]
    input_spec = {"name": image["name"], "shape": [1, image.get("height"), image.get("width"), 3],
                  "dtype": "uint8", "format": "image", "color_space": image.get("color_space"),
                  "image_bias": [0.0, 0.0, 0.0]}
    outputs = [{"name": o["name"], "shape": o.get("shape"), "dtype": o.get("dtype", o["type"])}
               for o in described["outputs"]]
    return input_spec, outputs


def _probe(model: LoadedModel, spec: ExportSpec) -> IOSpec:
    h, w = model.input_size
    input_spec = {"name": model.input_name, "shape": [spec.batch_size, 3, h, w], "dtype": "float32",
                  "format": "NCHW"}
    probe = model.forward(model.dummy_input(1).numpy())
    outputs = [{"name": name, "shape": [spec.batch_size, *t.shape[1:]], "dtype": "float32"}
               for name, t in zip(model.output_names, probe, strict=False)]
    return input_spec, outputs


def describe_io(model: LoadedModel, model_file: Path, spec: ExportSpec) -> IOSpec:
    suffix = model_file.suffix
    if suffix == ".onnx":
        return _onnx(model_file)
    if suffix == ".xml":
        return _openvino(model_file, model)
    if suffix == ".tflite":
        return _tflite(model_file, model)
    if suffix == ".mlpackage":
        return _coreml(model_file)
    if suffix == ".engine":
        return _onnx(model_file.with_suffix(".onnx"))
    return _probe(model, spec)
