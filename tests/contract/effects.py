"""Where an honoured option shows in the package: read from the model file itself where the
file can say it, and from metadata.json for what the file cannot carry (a runtime setting)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

Probe = Callable[[Any, Path, dict[str, Any], Path | None], None]


def metadata_of(package: Path) -> dict[str, Any]:
    return dict(json.loads((package / "metadata.json").read_text(encoding="utf-8")))


def _onnx(package: Path) -> Any:
    import onnx

    return onnx.load(str(package / "model.onnx"))


def _initializers(model: Any) -> dict[str, Any]:
    from onnx import numpy_helper

    return {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}


def _dims(value_info: Any) -> list[int | str]:
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


def _ops(model: Any) -> set[str]:
    return {n.op_type for n in model.graph.node}


def _input_shape(package: Path, meta: dict[str, Any]) -> list[Any]:
    """The first input's shape as the file declares it (TorchScript has none: the metadata's)."""
    suffix = Path(meta["model_info"]["model_file"]).suffix
    if suffix == ".onnx":
        return _dims(_onnx(package).graph.input[0])
    if suffix == ".xml":
        import openvino as ov

        return [d.get_length() if d.is_static else "?" for d in
                ov.Core().read_model(str(package / "model.xml")).inputs[0].get_partial_shape()]
    if suffix == ".tflite":
        details = _tflite(package).get_input_details()[0]
        shape = list(details["shape"])
        return [shape[0], shape[3], shape[1], shape[2]]  # NHWC in the file
    if suffix == ".mlpackage":
        from exporters.steps.coreml import describe_mlpackage

        image = describe_mlpackage(package / "model.mlpackage")["inputs"][0]
        return [1, 3, image["height"], image["width"]]
    return list(meta["input_spec"]["shape"])


def _tflite(package: Path) -> Any:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(package / "model.tflite"))
    interpreter.allocate_tensors()
    return interpreter


def _tflite_dtypes(package: Path) -> set[str]:
    return {np.dtype(t["dtype"]).name for t in _tflite(package).get_tensor_details()}


# --- one probe per option --------------------------------------------------------------


def opset(case: Any, package: Path, meta: dict[str, Any], baseline: Path | None) -> None:
    versions = {o.domain or "ai.onnx": o.version for o in _onnx(package).opset_import}
    assert versions["ai.onnx"] == case.value, versions


def dynamic_axes(case: Any, package: Path, meta: dict[str, Any], baseline: Path | None) -> None:
    """true: the batch axis of every tensor is dynamic. {tensor: [axes]}: exactly those axes of
    the named tensors (an output computed from a dynamic input follows it, as it must)."""
    model = _onnx(package)
    tensors = {t.name: _dims(t) for t in [*model.graph.input, *model.graph.output]}
    wanted = ({name: [0] for name in tensors} if case.value is True
              else {name: axes for name, axes in case.value.items()})
    for name, dims in tensors.items():
        dynamic = [i for i, d in enumerate(dims) if isinstance(d, str)]
        assert set(wanted.get(name, [])) <= set(dynamic), (name, dims)
        if isinstance(case.value, dict) and name in wanted:
            assert set(dynamic) == set(wanted[name]), f"{name} is dynamic on {dynamic}, asked {wanted[name]}"


def embed_preprocessing(case: Any, package: Path, meta: dict[str, Any], baseline: Path | None) -> None:
    import onnx

    first = _onnx(package).graph.input[0]
    assert first.type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert _dims(first)[-1] == 3 and meta["preprocessing"]["embedded"] is True


def embed_nms(case: Any, package: Path, meta: dict[str, Any], baseline: Path | None) -> None:
    from core.inference import open_package
    from exporters.images import probe_photo

    assert meta["postprocessing"]["type"] == "yolo_nms"
    # the graph's own output, run (with dynamic axes its declared dims are symbolic)
    outputs, _ = open_package(package).run(probe_photo())
    assert outputs[0].ndim == 3 and outputs[0].shape[-1] == 6  # x1 y1 x2 y2 score class


def simplify(case: Any, package: Path, meta: dict[str, Any], baseline: Path | None) -> None:
    assert baseline is not None
    assert len(_onnx(package).graph.node) > len(_onnx(baseline).graph.node), "not simplified looks simplified"


def torchscript_method(case: Any, package: Path, meta: dict[str, Any], baseline: Path | None) -> None:
    import torch

    graph = torch.jit.load(str(package / "model.torchscript"), map_location="cpu").graph
    kinds = {n.kind() for n in graph.nodes()}
    assert kinds & {"prim::If", "prim::Loop"}, "a scripted module keeps the model's control flow"


def openvino_precision(case: Any, package: Path, meta: dict[str, Any], baseline: Path | None) -> None:
    xml = (package / "model.xml").read_text(encoding="utf-8")
    assert ('element_type="f16"' in xml) == (case.value == "FP16")


def reverse_channels(case: Any, package: Path, meta: dict[str, Any], baseline: Path | None) -> None:
    assert meta["preprocessing"]["format"]["color_space"] == "BGR" and meta["parity"]["passed"]


def inference_precision(case: Any, package: Path, meta: dict[str, Any], baseline: Path | None) -> None:
    assert meta["runtime"]["openvino"]["INFERENCE_PRECISION_HINT"] == case.value
    # the gate's tolerance follows what the CPU computes in, unless INT8 weights dominate it
    quantization = case.spec.optimization_config.quantization
    method = quantization.method if quantization is not None else None
    expected = {None: "bf16", "fp16": "fp16"}.get(method, "int8")
    assert meta["parity"]["precision"] == expected, meta["parity"]["precision"]


def supported_ops(case: Any, package: Path, meta: dict[str, Any], baseline: Path | None) -> None:
    assert meta["runtime"]["tflite"]["supported_ops"] == case.value


def deployment_target(case: Any, package: Path, meta: dict[str, Any], baseline: Path | None) -> None:
    from exporters.steps.coreml import TARGET_SPEC, describe_mlpackage

    version = describe_mlpackage(package / "model.mlpackage")["specification_version"]
    wanted = TARGET_SPEC[case.value]
    assert version >= wanted, (version, case.value)


def compute_units(case: Any, package: Path, meta: dict[str, Any], baseline: Path | None) -> None:
    assert meta["runtime"]["coreml"]["compute_units"] == case.value


def batch_size(case: Any, package: Path, meta: dict[str, Any], baseline: Path | None) -> None:
    assert _input_shape(package, meta)[0] == case.value


def input_size(case: Any, package: Path, meta: dict[str, Any], baseline: Path | None) -> None:
    assert _input_shape(package, meta)[-2:] == [case.value, case.value]


def quantized(case: Any, package: Path, meta: dict[str, Any], baseline: Path | None) -> None:
    """The method the spec asked for, seen in the file."""
    quantization = case.spec.optimization_config.quantization
    method, fmt = quantization.method, case.export_format
    stats = meta["optimization_stats"]
    assert stats["quantization"]["method"] == method
    if fmt == "onnx":
        model = _onnx(package)
        if method == "fp16":
            assert any(a.dtype == np.float16 for a in _initializers(model).values())
        elif method == "dynamic":
            assert _ops(model) & {"DynamicQuantizeLinear", "MatMulInteger", "ConvInteger"}
        else:
            assert _ops(model) & {"QuantizeLinear", "QLinearConv", "QLinearMatMul"}
    elif fmt == "openvino":
        xml = (package / "model.xml").read_text(encoding="utf-8")
        assert "FakeQuantize" in xml or 'element_type="i8"' in xml or 'element_type="u8"' in xml
    elif fmt == "tflite":
        dtypes = _tflite_dtypes(package)
        assert ("float16" in dtypes) if method == "fp16" else ("int8" in dtypes), dtypes
    elif fmt == "coreml":
        assert meta["parity"]["structure_checks"].get("fp16_weights", True)


def quant_dtype(case: Any, package: Path, meta: dict[str, Any], baseline: Path | None) -> None:
    if case.value == "float16":
        quantized(case, package, meta, baseline)
        return
    model = _onnx(package)
    weights = {n.input[1] for n in model.graph.node if n.op_type in ("MatMulInteger", "ConvInteger")}
    kinds = {_initializers(model)[w].dtype.name for w in weights if w in _initializers(model)}
    assert kinds == {"uint8" if case.value == "quint8" else "int8"}, kinds


def calibration(case: Any, package: Path, meta: dict[str, Any], baseline: Path | None) -> None:
    quantized(case, package, meta, baseline)
    stats = meta["optimization_stats"]["quantization"]
    samples = case.spec.optimization_config.quantization.calibration_samples
    assert stats["calibration_images"] == min(samples, stats["calibration_images"]) > 0
    if case.path.endswith("calibration_samples"):
        assert stats["calibration_images"] == case.value
    if case.path.endswith("calibration_method"):
        assert stats["calibration_method"] == case.value


def quant_format(case: Any, package: Path, meta: dict[str, Any], baseline: Path | None) -> None:
    ops = _ops(_onnx(package))
    if case.value == "qdq":
        assert "DequantizeLinear" in ops and "QLinearConv" not in ops, ops
    else:
        assert ops & {"QLinearConv", "QLinearMatMul"}, ops


def per_channel(case: Any, package: Path, meta: dict[str, Any], baseline: Path | None) -> None:
    model = _onnx(package)
    arrays = _initializers(model)
    scales = [arrays[n.input[1]] for n in model.graph.node if n.op_type == "DequantizeLinear"
              and n.input[1] in arrays] + [arrays[n.input[4]] for n in model.graph.node
                                           if n.op_type == "QLinearConv" and n.input[4] in arrays]
    assert scales
    assert any(s.size > 1 for s in scales) == bool(case.value)


def _zero_share(package: Path, meta: dict[str, Any]) -> float:
    """The share of exactly-zero weights among the file's large weight tensors."""
    suffix = Path(meta["model_info"]["model_file"]).suffix
    if suffix == ".onnx":
        arrays = [a for a in _initializers(_onnx(package)).values() if a.ndim >= 2 and a.size >= 64]
    elif suffix == ".torchscript":
        import torch

        module = torch.jit.load(str(package / "model.torchscript"), map_location="cpu")
        # a frozen module keeps its weights as graph constants, not in its state_dict
        constants = [n.output().toIValue() for n in module.graph.findAllNodes("prim::Constant")
                     if n.output().type().kind() == "TensorType"]
        tensors = [*module.state_dict().values(), *constants]
        arrays = [t.detach().numpy() for t in tensors if t.ndim >= 2 and t.numel() >= 64]
    else:
        return -1.0  # formats whose weights are not read here: the stats say it
    total = sum(a.size for a in arrays)
    assert total, f"no weight tensors found in {package.name}"
    return sum(int((a == 0).sum()) for a in arrays) / total


def pruned(case: Any, package: Path, meta: dict[str, Any], baseline: Path | None) -> None:
    pruning = case.spec.optimization_config.pruning
    stats = meta["optimization_stats"]["pruning"]
    assert stats["method"] == pruning.method
    assert stats["sparsity_reached"] >= 0.8 * pruning.sparsity, stats
    if pruning.method == "unstructured":
        share = _zero_share(package, meta)
        assert share == -1.0 or share >= 0.7 * pruning.sparsity, share
    else:
        assert stats["parameters_after"] < stats["parameters_before"]
    if case.path.endswith(("pruning_schedule", "steps")):
        assert stats["schedule"] == "iterative" and stats["steps"] == pruning.steps
    if case.path.endswith(("fine_tune_data", "fine_tune_epochs")):
        steps = stats["fine_tune"]  # one recovery fine-tune after each pruning step
        assert len(steps) == stats["steps"] and all(s["epochs"] == pruning.fine_tune_epochs for s in steps)


def validated(case: Any, package: Path, meta: dict[str, Any], baseline: Path | None) -> None:
    report = json.loads((package / "validation_results.json").read_text(encoding="utf-8"))
    assert meta["validation"]["passed"] is True and report["dataset"]["images"] > 0
    if case.path.endswith("metrics"):
        assert report["metric"] == case.value[0]


def goal(case: Any, package: Path, meta: dict[str, Any], baseline: Path | None) -> None:
    speed = meta["optimization_stats"]["speed"]
    assert speed["goal"] == case.value
    if case.spec.format.speed_judged_here and "quantization" in case.sections["optimization_config"]:
        # timed against the float model; kept for its size whether or not it was faster here
        assert speed["judged"] and speed["float_ms"] > 0 and speed["optimized_ms"] > 0, speed
        assert speed["passed"] or speed["kept_for"] == "size", speed
    else:
        assert not speed["judged"] and speed["reason"], speed


PROBES: dict[str, Probe] = {
    "optimization_config.goal": goal,
    "export_config.opset_version": opset,
    "export_config.dynamic_axes": dynamic_axes,
    "export_config.embed_preprocessing": embed_preprocessing,
    "export_config.embed_nms": embed_nms,
    "export_config.simplify": simplify,
    "export_config.method": torchscript_method,
    "export_config.precision": openvino_precision,
    "export_config.reverse_input_channels": reverse_channels,
    "export_config.inference_precision": inference_precision,
    "export_config.supported_ops": supported_ops,
    "export_config.minimum_deployment_target": deployment_target,
    "export_config.compute_units": compute_units,
    "batch_size": batch_size,
    "input_size": input_size,
    "optimization_config.quantization.method": quantized,
    "optimization_config.quantization.dtype": quant_dtype,
    "optimization_config.quantization.calibration_data": calibration,
    "optimization_config.quantization.calibration_samples": calibration,
    "optimization_config.quantization.calibration_method": calibration,
    "optimization_config.quantization.quant_format": quant_format,
    "optimization_config.quantization.per_channel": per_channel,
    "optimization_config.pruning.method": pruned,
    "optimization_config.pruning.sparsity": pruned,
    "optimization_config.pruning.pruning_schedule": pruned,
    "optimization_config.pruning.steps": pruned,
    "optimization_config.pruning.fine_tune_data": pruned,
    "optimization_config.pruning.fine_tune_epochs": pruned,
    "validation_config.data": validated,
    "validation_config.metrics": validated,
}
