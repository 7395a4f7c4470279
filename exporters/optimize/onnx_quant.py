"""ONNX quantization with ONNX Runtime: dynamic INT8, static INT8 (calibrated), and FP16.

Static INT8 is only worth it when it is faster: on this project's CPUs the QDQ
format ran slower than FP32 on one model and QOperator 2.6× faster on another,
so unless the spec fixes them, the format and per-channel setting are chosen by
measuring every candidate on the calibration images and keeping the fastest one
whose agreement with the float model is within a point of the best.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import missing_extra
from core.spec import QuantizationConfig

Evaluate = Callable[[Path], float]  # model file → agreement with the float model (0..1)
Measure = Callable[[Path], float]  # model file → latency in ms
AGREEMENT_SLACK = 0.01


def _input_name(path: Path) -> str:
    import onnx

    return str(onnx.load(str(path), load_external_data=False).graph.input[0].name)


@dataclass(frozen=True)
class Candidate:
    quant_format: str
    per_channel: bool
    path: Path
    latency_ms: float
    agreement: float


class _Reader:
    """ONNX Runtime's calibration reader protocol over prepared tensors."""

    def __init__(self, name: str, tensors: list[np.ndarray]) -> None:
        self.name, self.tensors, self.index = name, tensors, 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.index >= len(self.tensors):
            return None
        self.index += 1
        return {self.name: self.tensors[self.index - 1]}

    def rewind(self) -> None:
        self.index = 0

    def __iter__(self) -> _Reader:
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        item = self.get_next()
        if item is None:
            raise StopIteration
        return item


def prepare(src: Path, work: Path) -> Path:
    """ONNX Runtime's recommended pre-processing (shape inference, graph optimization), then
    a unique name for every node: exclusions are by name, and the optimizer leaves some
    nodes unnamed (an empty name in nodes_to_exclude would exclude all of those at once)."""
    import onnx
    from onnxruntime.quantization.shape_inference import quant_pre_process

    target = work / "float_prepared.onnx"
    quant_pre_process(str(src), str(target))
    model = onnx.load(str(target))
    taken = {node.name for node in model.graph.node}
    for index, node in enumerate(model.graph.node):
        if not node.name:
            node.name = f"{node.op_type}_{index}"
            while node.name in taken:
                node.name += "_"
            taken.add(node.name)
    onnx.save(model, str(target))
    return target


def quantize_dynamic(src: Path, dst: Path, dtype: str = "qint8") -> dict[str, Any]:
    """Weights to int8 (``qint8``) or uint8 (``quint8``); activations quantized on the fly."""
    from onnxruntime.quantization import QuantType
    from onnxruntime.quantization import quantize_dynamic as ort_quantize_dynamic

    weight_type = QuantType.QUInt8 if dtype == "quint8" else QuantType.QInt8
    ort_quantize_dynamic(str(src), str(dst), weight_type=weight_type)
    return {"method": "dynamic", "dtype": dtype, "weights": "uint8" if dtype == "quint8" else "int8",
            "activations": "float32"}


def to_fp16(src: Path, dst: Path) -> dict[str, Any]:
    """Float16 weights and compute; inputs and outputs stay float32, so callers feed the same."""
    import onnx

    try:
        from onnxconverter_common import float16
    except ImportError:
        raise missing_extra("onnxconverter-common", "optimize") from None
    model = onnx.load(str(src))
    # stale shape annotations make the converter cast around Resize with the wrong type
    # (ONNX Runtime then refuses the model); it re-derives what it needs without them
    model.graph.ClearField("value_info")
    model = float16.convert_float_to_float16(model, keep_io_types=True)
    onnx.save(model, str(dst))
    return {"method": "fp16", "io_types": "float32"}


def _static(src: Path, dst: Path, tensors: list[np.ndarray], cfg: QuantizationConfig, fmt: str,
            per_channel: bool, exclude: list[str]) -> None:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
              "percentile": CalibrationMethod.Percentile}[cfg.calibration_method]
    quantize_static(
        str(src), str(dst), _Reader(_input_name(src), tensors),
        quant_format=QuantFormat.QOperator if fmt == "qoperator" else QuantFormat.QDQ,
        per_channel=per_channel,
        # uint8 activations with int8 weights: the combination x86 VNNI kernels are fast at
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QUInt8 if cfg.dtype == "quint8" else QuantType.QInt8,
        calibrate_method=method,
        nodes_to_exclude=exclude,
    )


def quantize_static(prepared: Path, dst: Path, tensors: list[np.ndarray], cfg: QuantizationConfig,
                    evaluate: Evaluate, measure: Measure, exclude: list[str] | None = None) -> dict[str, Any]:
    """Quantize every candidate setting, keep the fastest that agrees; returns the stats."""
    formats = ["qoperator", "qdq"] if cfg.quant_format == "auto" else [cfg.quant_format]
    channels = [False, True] if cfg.per_channel is None else [cfg.per_channel]
    work = dst.parent / "candidates"
    work.mkdir(parents=True, exist_ok=True)
    candidates: list[Candidate] = []
    for fmt in formats:
        for per_channel in channels:
            path = work / f"{fmt}_{'channel' if per_channel else 'tensor'}.onnx"
            _static(prepared, path, tensors, cfg, fmt, per_channel, exclude or [])
            candidates.append(Candidate(fmt, per_channel, path, round(measure(path), 3),
                                        round(evaluate(path), 4)))
    best_agreement = max(c.agreement for c in candidates)
    good = [c for c in candidates if c.agreement >= best_agreement - AGREEMENT_SLACK]
    chosen = min(good, key=lambda c: c.latency_ms)
    shutil.copyfile(chosen.path, dst)
    shutil.rmtree(work, ignore_errors=True)
    return {
        "method": "static", "calibration_method": cfg.calibration_method,
        "calibration_images": len(tensors),
        "quant_format": chosen.quant_format, "per_channel": chosen.per_channel,
        "agreement": chosen.agreement,
        "candidates": [{"quant_format": c.quant_format, "per_channel": c.per_channel,
                        "latency_ms": c.latency_ms, "agreement": c.agreement} for c in candidates],
        "kept_in_float": list(exclude or []),
    }


WEIGHTED_OPS = {"Conv", "ConvTranspose", "Gemm", "MatMul"}


def postprocessing_nodes(prepared: Path) -> list[str]:
    """The nodes that feed no weighted layer: the decoding arithmetic after the model's
    last convolutions (anchors, strides, box coordinates in pixels), which INT8 would round
    to ~1/255 of its range. Cheap in float, and costly in mAP when quantized, so static INT8
    leaves them float. Found from the graph's edges, not the node order, which rewrites
    and pre-processing are free to change."""
    import onnx

    nodes = list(onnx.load(str(prepared)).graph.node)
    producers = {out: node for node in nodes for out in node.output}
    feeds_weights: set[int] = set()
    stack = [n for n in nodes if n.op_type in WEIGHTED_OPS]
    while stack:  # walk upstream from every weighted layer
        node = stack.pop()
        if id(node) in feeds_weights:
            continue
        feeds_weights.add(id(node))
        stack.extend(producers[name] for name in node.input if name in producers)
    if not feeds_weights:
        return []
    return [n.name for n in nodes if id(n) not in feeds_weights]


def _worst_channel_sqnr(before: list[np.ndarray], after: list[np.ndarray],
                        shape: list[int] | None) -> float:
    """Signal-to-quantization-noise ratio (dB) of the worst channel (axis 1) of a tensor.

    Whole-tensor SQNR hides the failure that matters most: channels of very different
    ranges sharing one INT8 scale (YOLO's output concatenates box coordinates up to
    the image size with class scores in 0..1, and the scores are wiped out).
    """
    x = np.concatenate([np.asarray(b, dtype=np.float64).ravel() for b in before])
    y = np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in after])
    dims = shape or []
    channels = dims[1] if len(dims) >= 2 and dims[1] > 0 else 0
    per_sample = int(np.prod(dims)) if dims and all(d > 0 for d in dims) else 0
    if channels and per_sample and x.size % per_sample == 0:
        x = x.reshape(-1, *dims[1:]).swapaxes(0, 1).reshape(channels, -1)
        y = y.reshape(-1, *dims[1:]).swapaxes(0, 1).reshape(channels, -1)
    else:
        x, y = x.reshape(1, -1), y.reshape(1, -1)
    signal = np.linalg.norm(x, axis=1)
    noise = np.linalg.norm(x - y, axis=1)
    ratio = np.where(noise > 0, signal / np.maximum(noise, 1e-30), np.inf)
    with np.errstate(divide="ignore"):
        return float(np.min(20 * np.log10(np.maximum(ratio, 1e-30))))


def sensitive_nodes(prepared: Path, tensors: list[np.ndarray], cfg: QuantizationConfig,
                    work: Path) -> list[str]:
    """Nodes ordered from most to least sensitive to INT8: the worst per-channel signal-to-
    quantization-noise ratio of each activation in a QDQ copy of the model on the
    calibration images (lowest first), mapped to the nodes that produce and consume it."""
    import onnx
    from onnxruntime.quantization.qdq_loss_debug import (
        collect_activations,
        create_activation_matching,
        modify_model_output_intermediate_tensors,
    )

    qdq = work / "sensitivity_qdq.onnx"
    _static(prepared, qdq, tensors, cfg, "qdq", bool(cfg.per_channel), [])
    augmented = work / "sensitivity_augmented.onnx"
    modify_model_output_intermediate_tensors(str(qdq), str(augmented))
    sample = tensors[: min(len(tensors), 8)]
    activations = collect_activations(str(augmented), _Reader(_input_name(prepared), sample))
    graph = onnx.load(str(prepared)).graph
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in [*graph.value_info, *graph.output, *graph.input]}
    noise = {name: _worst_channel_sqnr(m["pre_qdq"], m["post_qdq"], shapes.get(name))
             for name, m in create_activation_matching(activations).items()}
    # a tensor stays float only if neither its producer nor any consumer quantizes it
    touching: dict[str, list[str]] = {}
    for node in graph.node:
        for tensor in [*node.input, *node.output]:
            touching.setdefault(tensor, []).append(node.name)
    order: list[str] = []
    for _, tensor in sorted((sqnr, name) for name, sqnr in noise.items() if name in touching):
        order.extend(n for n in touching[tensor] if n and n not in order)
    return order
