"""CoreML (.mlpackage, ML program): Ultralytics' own exporter, or coremltools from a traced module.

Core ML models cannot run on Linux, so besides converting, this module reads an
.mlpackage back (no runtime needed) for the structure checks that stand in for
the parity gate where no Core ML runtime exists.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import InternalError
from core.spec import CoreMLConfig, ExportSpec
from exporters.loaders.base import LoadedModel
from exporters.steps.ultralytics import export_with_ultralytics

CLASSES_KEY = "slipway.classes"
# Core ML specification version → the oldest OS that loads it, and back
SPEC_TARGET = {6: "iOS15", 7: "iOS16", 8: "iOS17", 9: "iOS18"}
TARGET_SPEC = {"iOS15": 6, "macOS12": 6, "iOS16": 7, "macOS13": 7, "iOS17": 8, "iOS18": 9}


def import_coremltools() -> Any:
    """coremltools imports TensorFlow when it is installed; triton must be loaded first
    (TensorFlow, then triton, crashes the process). Explicit calls keep import sorting
    from reordering the two."""
    importlib.import_module("torch._dynamo")  # loads triton
    return importlib.import_module("coremltools")


def _half(spec: ExportSpec) -> bool:
    quantization = spec.optimization_config.quantization
    return quantization is not None and quantization.method == "fp16"


def _target(ct: Any, cfg: CoreMLConfig) -> Any:
    return getattr(ct.target, cfg.minimum_deployment_target)


def torch2coreml(model: LoadedModel, spec: ExportSpec, source: Path | None, work: Path) -> Path:
    """The module with its normalization in front, traced, converted with an image input.

    Core ML's image input applies one scale to all channels plus a per-channel bias;
    per-channel mean/std need a division, so they go in the graph as its first ops.
    """
    import torch

    ct = import_coremltools()
    cfg = spec.export_config
    assert isinstance(cfg, CoreMLConfig)
    norm = model.preprocessing["normalize"]

    class Normalized(torch.nn.Module):
        def __init__(self, net: torch.nn.Module) -> None:
            super().__init__()
            self.net = net
            self.register_buffer("mean", torch.tensor(norm["mean"]).reshape(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor(norm["std"]).reshape(1, 3, 1, 1))

        def forward(self, x: torch.Tensor) -> Any:
            return self.net((x - self.mean) / self.std)

    example = model.dummy_input(spec.batch_size)
    with torch.inference_mode(False), torch.no_grad():
        traced = torch.jit.trace(Normalized(model.module).eval(), example, strict=False)
    h, w = model.input_size
    mlmodel = ct.convert(
        traced,
        inputs=[ct.ImageType(name="image", shape=(spec.batch_size, 3, h, w), scale=float(norm["scale"]),
                             bias=[0.0, 0.0, 0.0], color_layout=ct.colorlayout.RGB)],
        # float32 outputs whatever the compute precision (from iOS16 an FP16 program would
        # otherwise hand out float16 arrays, which the wrappers and metadata.json do not expect)
        outputs=[ct.TensorType(name=name, dtype=np.float32) for name in model.output_names],
        convert_to="mlprogram",
        # ML programs default to fp16; fp32 unless FP16 was asked for
        compute_precision=ct.precision.FLOAT16 if _half(spec) else ct.precision.FLOAT32,
        minimum_deployment_target=_target(ct, cfg),
        skip_model_load=True,
    )
    mlmodel.user_defined_metadata[CLASSES_KEY] = json.dumps(model.class_names)
    mlmodel.short_description = f"{model.framework} {model.model_name}, exported by Slipway"
    path = work / "coreml" / "model.mlpackage"
    path.parent.mkdir(parents=True, exist_ok=True)
    mlmodel.save(str(path))
    return path


def ultralytics2coreml(
    model: LoadedModel, spec: ExportSpec, source: Path | None, work: Path
) -> Path:
    import_coremltools()
    path = export_with_ultralytics(model, spec, format="coreml", half=_half(spec))
    if path.suffix != ".mlpackage":
        raise InternalError(f"Ultralytics wrote {path.name}, not an .mlpackage")
    return path


# --- reading an .mlpackage back ---------------------------------------------------


FP16 = 10  # MIL_pb2.DataType.FLOAT16: such constants are stored as raw bytes


def _const_values(op: Any) -> list[float] | None:
    value = op.attributes["val"]
    tensor = value.immediateValue.tensor
    for field in ("floats", "doubles", "ints"):
        values = getattr(tensor, field).values
        if len(values):
            return [float(v) for v in values]
    raw = tensor.bytes.values
    if raw and value.type.tensorType.dataType == FP16:
        return [float(v) for v in np.frombuffer(raw, dtype=np.float16)]
    return None


def _close(a: Any, b: Any) -> bool:
    """Equal within fp16 rounding (an FP16 model stores its constants in half precision)."""
    return bool(np.allclose(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64), rtol=1e-3,
                            atol=1e-6))


def describe_mlpackage(path: Path) -> dict[str, Any]:
    """Inputs, outputs, class labels, deployment target and the ops applied to the image input."""
    ct = import_coremltools()
    mlmodel = ct.models.MLModel(str(path), skip_model_load=True)
    spec = mlmodel.get_spec()
    inputs, outputs = [], []
    for item in spec.description.input:
        kind = item.type.WhichOneof("Type")
        entry: dict[str, Any] = {"name": item.name, "type": kind}
        if kind == "imageType":
            image = item.type.imageType
            color = ct.proto.FeatureTypes_pb2.ImageFeatureType.ColorSpace.Name(image.colorSpace)
            entry.update(width=image.width, height=image.height, color_space=color)
        inputs.append(entry)
    for item in spec.description.output:
        kind = item.type.WhichOneof("Type")
        entry = {"name": item.name, "type": kind}
        if kind == "multiArrayType":
            array = item.type.multiArrayType
            entry["shape"] = [int(d) for d in array.shape]
            entry["dtype"] = ct.proto.FeatureTypes_pb2.ArrayFeatureType.ArrayDataType.Name(array.dataType)
        outputs.append(entry)
    meta = dict(mlmodel.user_defined_metadata)
    labels: list[str] | None = None
    if spec.WhichOneof("Type") == "mlProgram" and CLASSES_KEY in meta:
        labels = json.loads(meta[CLASSES_KEY])
    elif "names" in meta:  # Ultralytics writes its names dict as a Python literal
        import ast

        labels = [str(v) for _, v in sorted(ast.literal_eval(meta["names"]).items())]
    return {
        "model_type": spec.WhichOneof("Type"),
        "specification_version": int(spec.specificationVersion),
        "inputs": inputs,
        "outputs": outputs,
        "class_labels": labels,
        "image_ops": _image_ops(spec, inputs[0]["name"]) if inputs else [],
    }


def _image_ops(spec: Any, input_name: str, depth: int = 6) -> list[dict[str, Any]]:
    """The first arithmetic ops of the program with the constants they apply: the image
    input's scale and bias, then (for Slipway's conversions) the mean and std."""
    if spec.WhichOneof("Type") != "mlProgram":
        return []
    function = spec.mlProgram.functions["main"]
    block = function.block_specializations[function.opset]
    consts: dict[str, list[float] | None] = {}
    ops: list[dict[str, Any]] = []
    for op in block.operations:
        if op.type == "const":
            consts[op.outputs[0].name] = _const_values(op)
            continue
        if op.type in ("mul", "add", "sub", "real_div"):
            args = [a.name for arg in op.inputs.values() for a in arg.arguments]
            values = [consts[a] for a in args if consts.get(a) is not None]
            ops.append({"op": op.type, "const": values[0] if values else None})
        if op.type not in ("mul", "add", "sub", "real_div", "cast") or len(ops) >= depth:
            break
    return ops


def check_structure(path: Path, metadata: dict[str, Any], original_shapes: list[list[int]]) -> dict[str, Any]:
    """What can be verified without a Core ML runtime, each check named with its result.

    ``original_shapes`` are the original model's output shapes at batch 1.
    """
    described = describe_mlpackage(path)
    pre, spec_in = metadata["preprocessing"], metadata["input_spec"]
    norm = pre["normalize"]
    h, w = (int(v) for v in pre.get("input_size") or spec_in["shape"][-2:])
    checks: dict[str, bool] = {}
    image = described["inputs"][0] if described["inputs"] else {}
    checks["single image input"] = len(described["inputs"]) == 1 and image.get("type") == "imageType"
    checks["input name matches metadata"] = image.get("name") == spec_in["name"]
    checks["input size matches metadata"] = (image.get("height"), image.get("width")) == (h, w)
    checks["color space matches metadata"] = image.get("color_space") == pre["format"]["color_space"]
    arrays = [o for o in described["outputs"] if o["type"] == "multiArrayType"]
    if described["class_labels"] is not None and len(arrays) < len(described["outputs"]):
        checks["classifier outputs present"] = len(described["outputs"]) >= 2  # label + scores
    else:
        checks["outputs match the original model's shapes"] = [o["shape"][1:] for o in arrays] == [
            s[1:] for s in original_shapes]
    checks["outputs are float32"] = all(o.get("dtype") == "FLOAT32" for o in arrays)
    classes = [c["name"] for c in metadata["classes"]]
    checks["class labels match metadata"] = described["class_labels"] == classes
    ops = described["image_ops"]
    scale = ops[0]["const"] if ops and ops[0]["op"] == "mul" else None
    checks["image scale matches metadata"] = scale is not None and _close(scale, norm["scale"])
    bias = next((o["const"] for o in ops[1:2] if o["op"] == "add"), [0.0, 0.0, 0.0])
    checks["image bias matches metadata"] = _close(bias, spec_in.get("image_bias", [0.0] * 3))
    requested = metadata["export"].get("export_config", {}).get("minimum_deployment_target", "iOS15")
    checks["loads on the requested deployment target"] = (
        described["specification_version"] <= TARGET_SPEC[requested])
    mean, std = norm["mean"], norm["std"]
    if any(mean) or any(v != 1.0 for v in std):  # normalization the graph must apply
        found = [np.ravel(o["const"]).tolist() for o in ops if o["const"] is not None]
        checks["mean and std in the graph match metadata"] = any(
            _close(f, mean) for f in found if len(f) == 3
        ) and any(_close(f, std) or _close(f, 1 / np.asarray(std)) for f in found if len(f) == 3)
    return {"described": described, "checks": checks, "passed": all(checks.values())}
