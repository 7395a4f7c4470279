"""ONNX quantization with ONNX Runtime: dynamic INT8, static INT8 (calibrated), and FP16.

Static INT8 is only worth it when it is faster: on this project's CPUs the QDQ
format ran slower than FP32 on one model and QOperator 2.6× faster on another,
so unless the spec fixes them, the format and per-channel setting are chosen by
measuring every candidate on the calibration images and keeping the fastest one
whose agreement with the float model is within a point of the best.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import missing_extra
from core.spec import QuantizationConfig
from exporters.optimize import percentile_ranges

Evaluate = Callable[[Path], float]  # model file → agreement with the float model (0..1)
Measure = Callable[[list[Path]], list[float]]  # model files → latencies in ms, timed together
AGREEMENT_SLACK = 0.01


def _input_name(path: Path) -> str:
    import onnx

    return str(onnx.load(str(path), load_external_data=False).graph.input[0].name)


@dataclass(frozen=True)
class Candidate:
    setting: Setting
    path: Path
    latency_ms: float
    agreement: float

    def report(self) -> dict[str, Any]:
        return {
            "quant_format": self.setting.quant_format,
            "per_channel": self.setting.per_channel,
            "ops": self.setting.ops,
            "latency_ms": self.latency_ms,
            "agreement": self.agreement,
        }


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
    return {
        "method": "dynamic",
        "dtype": dtype,
        "weights": "uint8" if dtype == "quint8" else "int8",
        "activations": "float32",
    }


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


def _method(cfg: QuantizationConfig) -> Any:
    from onnxruntime.quantization import CalibrationMethod

    return {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }[cfg.calibration_method]


def calibrate(prepared: Path, tensors: list[np.ndarray], cfg: QuantizationConfig, work: Path) -> Path:
    """Run the calibration images through the model once and keep every activation's range
    (ONNX Runtime's TensorsData, as its calibration cache file). Every candidate, the
    sensitivity probe and every fallback step quantize from this file: the ranges depend
    on the float model and the images only, not on which nodes a candidate quantizes
    (the calibrator observes the tensors of every quantizable op type)."""
    from onnxruntime.quantization.calibrate import create_calibrator, save_tensors_data
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

    target = work / "calibration_ranges.json"
    with tempfile.TemporaryDirectory(prefix="calibrate-", dir=work) as tmp:
        calibrator = create_calibrator(
            prepared,
            sorted(set(QLinearOpsRegistry) | set(QDQRegistry)),
            augmented_model_path=str(Path(tmp) / "augmented.onnx"),
            calibrate_method=_method(cfg),
        )
        if cfg.calibration_method == "percentile":  # the same histograms, one image at a time
            percentile_ranges.collect(calibrator, _input_name(prepared), tensors)
        else:
            calibrator.collect_data(_Reader(_input_name(prepared), tensors))
        save_tensors_data(calibrator.compute_data(), target)
        del calibrator
    return target


def _static(src: Path, dst: Path, ranges: Path, cfg: QuantizationConfig, setting: Setting) -> None:
    """``src`` quantized as ``setting`` says, from the calibration ranges computed once."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    quantize_static(
        str(src),
        str(dst),
        None,
        quant_format=QuantFormat.QOperator if setting.quant_format == "qoperator" else QuantFormat.QDQ,
        op_types_to_quantize=list(setting.op_types) if setting.op_types else None,
        per_channel=setting.per_channel,
        # uint8 activations with int8 weights: the combination x86 VNNI kernels are fast at
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QUInt8 if cfg.dtype == "quint8" else QuantType.QInt8,
        calibrate_method=_method(cfg),
        nodes_to_exclude=list(setting.exclude),
        calibration_cache_path=str(ranges),
    )


# What a candidate leaves in float besides the decoding tail, tried on the chosen format.
# Depthwise convolutions have few multiply-adds per byte moved and often run slower in
# INT8; quantizing only the weighted layers saves the requantization around cheap
# element-wise ops (Add, Mul, Sigmoid) where that costs more than it saves.
WEIGHTED_OP_TYPES = ["Conv", "ConvTranspose", "Gemm", "MatMul"]


def depthwise_convs(prepared: Path) -> list[str]:
    """Names of the convolutions with one input channel per group."""
    import onnx

    graph = onnx.load(str(prepared)).graph
    weights = {t.name: list(t.dims) for t in graph.initializer}
    found = []
    for node in graph.node:
        group = next((a.i for a in node.attribute if a.name == "group"), 1)
        dims = weights.get(node.input[1]) if node.op_type == "Conv" and len(node.input) > 1 else None
        if group > 1 and dims is not None and len(dims) > 1 and dims[1] == 1:
            found.append(node.name)
    return found


@dataclass(frozen=True)
class Setting:
    quant_format: str
    per_channel: bool
    ops: str  # "all", "weighted-only" or "float-depthwise"
    exclude: tuple[str, ...]
    op_types: tuple[str, ...] | None = None

    @property
    def stem(self) -> str:
        return f"{self.quant_format}_{'channel' if self.per_channel else 'tensor'}_{self.ops}"


def _measured(
    prepared: Path,
    ranges: Path,
    cfg: QuantizationConfig,
    settings: list[Setting],
    work: Path,
    evaluate: Evaluate,
    measure: Measure,
) -> list[Candidate]:
    paths = []
    for setting in settings:
        path = work / f"{setting.stem}.onnx"
        _static(prepared, path, ranges, cfg, setting)
        paths.append(path)
    latencies = measure(paths)  # all in this process, interleaved
    return [
        Candidate(s, p, round(ms, 3), round(evaluate(p), 4))
        for s, p, ms in zip(settings, paths, latencies, strict=True)
    ]


def _choose(candidates: list[Candidate], best_agreement: float) -> Candidate:
    """The fastest candidate within AGREEMENT_SLACK of the best agreement."""
    return min(
        (c for c in candidates if c.agreement >= best_agreement - AGREEMENT_SLACK), key=lambda c: c.latency_ms
    )


def quantize_static(
    prepared: Path,
    dst: Path,
    ranges: Path,
    cfg: QuantizationConfig,
    evaluate: Evaluate,
    measure: Measure,
    exclude: list[str] | None = None,
    fixed: Setting | None = None,
) -> tuple[dict[str, Any], Setting]:
    """Quantize the candidate settings from one set of calibration ranges, keep the fastest
    that agrees; returns the stats and the setting kept.

    Two rounds, each timed in one process, interleaved: the graph form and per-channel
    setting with every op type quantized, then, on the winner, which ops stay float
    (only the weighted layers quantized; depthwise convolutions kept float). A ``fixed``
    setting (a fallback step: only the float nodes change) is quantized alone, untimed."""
    exclude = list(exclude or [])
    work = dst.parent / "candidates"
    work.mkdir(parents=True, exist_ok=True)
    if fixed is not None:
        setting = replace(fixed, exclude=tuple(dict.fromkeys([*fixed.exclude, *exclude])))
        _static(prepared, dst, ranges, cfg, setting)
        return _stats(cfg, setting, round(evaluate(dst), 4), []), setting
    formats = ["qoperator", "qdq"] if cfg.quant_format == "auto" else [cfg.quant_format]
    channels = [False, True] if cfg.per_channel is None else [cfg.per_channel]
    first = [Setting(f, c, "all", tuple(exclude)) for f in formats for c in channels]
    candidates = _measured(prepared, ranges, cfg, first, work, evaluate, measure)
    base = _choose(candidates, max(c.agreement for c in candidates)).setting
    variants = [
        Setting(base.quant_format, base.per_channel, "weighted-only", base.exclude, tuple(WEIGHTED_OP_TYPES))
    ]
    depthwise = [n for n in depthwise_convs(prepared) if n not in exclude]
    if depthwise:
        variants.append(
            Setting(base.quant_format, base.per_channel, "float-depthwise", (*base.exclude, *depthwise))
        )
    # the first round's winner is timed again beside the variants: one comparison, one process
    second = _measured(prepared, ranges, cfg, [base, *variants], work, evaluate, measure)
    candidates = [c for c in candidates if c.setting != base] + second  # the base as timed last
    chosen = _choose(second, max(c.agreement for c in candidates))
    shutil.copyfile(chosen.path, dst)
    shutil.rmtree(work, ignore_errors=True)
    return _stats(cfg, chosen.setting, chosen.agreement, candidates), chosen.setting


def _stats(
    cfg: QuantizationConfig, setting: Setting, agreement: float, candidates: list[Candidate]
) -> dict[str, Any]:
    stats: dict[str, Any] = {
        "method": "static",
        "calibration_method": cfg.calibration_method,
        "quant_format": setting.quant_format,
        "per_channel": setting.per_channel,
        "quantized_ops": setting.ops,
        "agreement": agreement,
        "kept_in_float": list(setting.exclude),
    }
    if candidates:
        stats["candidates"] = [c.report() for c in candidates]
    return stats


WEIGHTED_OPS = {"Conv", "ConvTranspose", "Gemm", "MatMul"}


def is_fixed_projection(weights: np.ndarray) -> bool:
    """Weights 0, 1, …, n-1: a decoding step written as a layer (YOLO's DFL), not learned."""
    flat = np.asarray(weights, dtype=np.float64).ravel()
    return flat.size > 1 and bool(np.array_equal(flat, np.arange(flat.size)))


def postprocessing_nodes(prepared: Path) -> list[str]:
    """The nodes that feed no weighted layer: the decoding arithmetic after the model's
    last convolutions (anchors, strides, box coordinates in pixels), which INT8 would round
    to ~1/255 of its range. Cheap in float, and costly in mAP when quantized, so static INT8
    leaves them float. Found from the graph's edges, not the node order, which rewrites
    and pre-processing are free to change. A fixed projection (YOLO's DFL: a 1×1 conv
    whose weights are 0, 1, …, n-1, the expectation over distance bins) is decoding, not a
    learned layer: it and the softmax before it stay float too."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(prepared)).graph
    nodes = list(graph.node)
    initializers = {t.name: t for t in graph.initializer}

    def learned(node: onnx.NodeProto) -> bool:
        weight = initializers.get(node.input[1]) if len(node.input) > 1 else None
        return weight is None or not is_fixed_projection(numpy_helper.to_array(weight))

    producers = {out: node for node in nodes for out in node.output}
    feeds_weights: set[int] = set()
    stack = [n for n in nodes if n.op_type in WEIGHTED_OPS and learned(n)]
    while stack:  # walk upstream from every weighted layer
        node = stack.pop()
        if id(node) in feeds_weights:
            continue
        feeds_weights.add(id(node))
        stack.extend(producers[name] for name in node.input if name in producers)
    if not feeds_weights:
        return []
    return [n.name for n in nodes if id(n) not in feeds_weights]


def _worst_channel_sqnr(before: list[np.ndarray], after: list[np.ndarray], shape: list[int] | None) -> float:
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


def sensitive_nodes(
    prepared: Path, tensors: list[np.ndarray], ranges: Path, cfg: QuantizationConfig, work: Path
) -> list[str]:
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
    _static(prepared, qdq, ranges, cfg, Setting("qdq", bool(cfg.per_channel), "all", ()))
    augmented = work / "sensitivity_augmented.onnx"
    modify_model_output_intermediate_tensors(str(qdq), str(augmented))
    sample = tensors[: min(len(tensors), 8)]
    activations = collect_activations(str(augmented), _Reader(_input_name(prepared), sample))
    graph = onnx.load(str(prepared)).graph
    shapes = {
        v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in [*graph.value_info, *graph.output, *graph.input]
    }
    noise = {
        name: _worst_channel_sqnr(m["pre_qdq"], m["post_qdq"], shapes.get(name))
        for name, m in create_activation_matching(activations).items()
    }
    # a tensor stays float only if neither its producer nor any consumer quantizes it
    touching: dict[str, list[str]] = {}
    for node in graph.node:
        for tensor in [*node.input, *node.output]:
            touching.setdefault(tensor, []).append(node.name)
    order: list[str] = []
    for _, tensor in sorted((sqnr, name) for name, sqnr in noise.items() if name in touching):
        order.extend(n for n in touching[tensor] if n and n not in order)
    return order
