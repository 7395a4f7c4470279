"""Static INT8 for OpenVINO: NNCF post-training quantization with the options that fit the
model, chosen by measuring.

Fixed by the model's structure:
- the decoding tail stays float (an ignored scope, as Ultralytics does for its detection
  head): every operation that feeds no learned weighted layer, found from the graph's
  edges; YOLO's DFL (a fixed 0..n-1 projection) counts as decoding, so it stays float too;
- ``model_type`` TRANSFORMER for transformers (attention, and mostly matrix-product
  layers), as NNCF asks;
- fast bias correction (NNCF's default; the full one costs minutes on a 2-core machine).

Measured: the preset. MIXED (asymmetric activations: SiLU outputs are far from symmetric
around zero) against PERFORMANCE (symmetric), both quantized from one pass of statistics
over the calibration images (``quantized_once``), each one's agreement with the float model
taken on those images, both timed together (interleaved) through the package's runtime.
MIXED (Ultralytics' choice too) is kept unless PERFORMANCE agrees within a point of the
best and is faster by the speed gate's margin.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from exporters.optimize.onnx_quant import AGREEMENT_SLACK, is_fixed_projection
from exporters.optimize.speed import MIN_SPEEDUP

WEIGHTED_OV_OPS = {"Convolution", "GroupConvolution", "MatMul", "ConvolutionBackpropData"}
PASS_THROUGH = {"Convert", "Reshape", "Transpose", "Unsqueeze", "Squeeze"}
STRUCTURAL = {"Constant", "Parameter", "Result"}
PRESETS = ("mixed", "performance")
ACCURACY_CONTROL_ROUNDS = 20  # rounds of putting operations back in float, each one scored on the data


def _constant(output: Any) -> Any:
    """The constant array behind an op input (through converts and reshapes), or None."""
    node = output.get_node()
    while node.get_type_name() in PASS_THROUGH:
        node = node.input_value(0).get_node()
    return node.get_data() if node.get_type_name() == "Constant" else None


def _learned(op: Any) -> bool:
    if op.get_type_name() not in WEIGHTED_OV_OPS:
        return False
    weights = _constant(op.input_value(1))
    if weights is None:
        return op.get_type_name() != "MatMul"  # activation × activation: attention, not a layer
    return not is_fixed_projection(weights)


def postprocessing(model: Any) -> list[str]:
    """Names of the IR's operations that feed no learned weighted layer (see onnx_quant)."""
    ops = [op for op in model.get_ordered_ops() if op.get_type_name() not in STRUCTURAL]
    feeds: set[str] = set()
    stack = [op for op in ops if _learned(op)]
    while stack:  # walk upstream from every learned weighted layer
        op = stack.pop()
        name = op.get_friendly_name()
        if name in feeds:
            continue
        feeds.add(name)
        stack.extend(value.get_node() for value in op.input_values())
    if not feeds:
        return []
    return [
        op.get_friendly_name()
        for op in ops
        if op.get_friendly_name() not in feeds and _constant(op.output(0)) is None
    ]


def is_transformer(model: Any) -> bool:
    """Attention (a MatMul of two activations) in a network whose learned layers are mostly
    matrix products: a ViT or DeiT, not a CNN with one attention block (YOLO11's PSA)."""
    ops = model.get_ordered_ops()
    attention = any(
        op.get_type_name() == "MatMul"
        and _constant(op.input_value(0)) is None
        and _constant(op.input_value(1)) is None
        for op in ops
    )
    learned = [op.get_type_name() for op in ops if _learned(op)]
    return attention and learned.count("MatMul") > len(learned) - learned.count("MatMul")


def preferred(agreements: list[float], latencies: list[float]) -> int:
    """Index of the candidate kept: the first (the option that fits the model) among those
    within AGREEMENT_SLACK of the best agreement, unless a later one is faster by at least
    the speed gate's margin (a few percent either way is the noise of a shared machine)."""
    best = max(agreements)
    good = [i for i, a in enumerate(agreements) if a >= best - AGREEMENT_SLACK]
    chosen = good[0]
    for i in good[1:]:
        if latencies[i] * MIN_SPEEDUP <= latencies[chosen]:
            chosen = i
    return chosen


def nncf_options(preset: str, transformer: bool, tail: list[str], exclude: list[str]) -> dict[str, Any]:
    """The NNCF options of one candidate: its preset, the model type, the float operations
    (the decoding tail, then what a fallback excludes), and fast bias correction."""
    import nncf

    return {
        "fast_bias_correction": True,
        "preset": {"mixed": nncf.QuantizationPreset.MIXED,
                   "performance": nncf.QuantizationPreset.PERFORMANCE}[preset],
        "model_type": nncf.ModelType.TRANSFORMER if transformer else None,
        "ignored_scope": nncf.IgnoredScope(names=[*tail, *(n for n in exclude if n not in tail)],
                                           validate=False),
    }


def quantize_candidates(
    source: Path, work: Path, tensors: list[Any], exclude: list[str], evaluate: Any, measure: Any
) -> tuple[Path, dict[str, Any]]:
    """(the chosen quantized IR, its stats)."""
    import nncf
    import openvino as ov

    core = ov.Core()
    model = core.read_model(str(source))
    tail = postprocessing(model)
    transformer = is_transformer(model)
    candidates = [nncf_options(name, transformer, tail, exclude) for name in PRESETS]
    paths: list[Path] = []
    for name, quantized in zip(PRESETS, quantized_once(model, tensors, candidates), strict=True):
        paths.append(work / f"static_{name}.xml")
        ov.save_model(quantized, str(paths[-1]), compress_to_fp16=False)
    latencies = measure(paths)
    agreements = [round(evaluate(path), 4) for path in paths]
    chosen = preferred(agreements, latencies)
    stats = {
        "method": "static",
        "tool": f"NNCF {nncf.__version__} post-training quantization",
        "calibration_images": len(tensors),
        "postprocessing_in_float": tail,
        "preset": PRESETS[chosen],
        "model_type": "transformer" if transformer else "default",
        "fast_bias_correction": candidates[chosen]["fast_bias_correction"],
        "agreement": agreements[chosen],
        "candidates": [
            {"preset": name, "latency_ms": round(ms, 3), "agreement": agreement}
            for name, ms, agreement in zip(PRESETS, latencies, agreements, strict=True)
        ],
    }
    return paths[chosen], stats


def quantized_once(model: Any, tensors: list[Any], candidates: list[dict[str, Any]]) -> list[Any]:
    """The model quantized with each candidate's options, from one pass over the calibration
    images: what ``nncf.quantize`` does per call, with every candidate's statistic points
    registered on one aggregator (the candidates differ in how ranges become quantizers, not in
    what is measured). A later pipeline step (SmoothQuant's, for transformers) still collects
    its own statistics on its own model. Models with ``If`` go through ``nncf.quantize``."""
    import nncf
    from nncf.openvino.graph.model_utils import remove_friendly_name_duplicates
    from nncf.openvino.graph.nncf_graph_builder import GraphConverter
    from nncf.openvino.graph.node_utils import get_number_if_op
    from nncf.quantization.algorithms.pipeline import collect_statistics
    from nncf.quantization.algorithms.post_training.algorithm import PostTrainingQuantization
    from openvino._offline_transformations import compress_quantize_weights_transformation

    dataset = nncf.Dataset(tensors)
    if get_number_if_op(model) > 0:
        return [nncf.quantize(model.clone(), dataset, subset_size=len(tensors), **options)
                for options in candidates]
    model = remove_friendly_name_duplicates(model)
    graph = GraphConverter.create_nncf_graph(model)
    algorithms = [PostTrainingQuantization(subset_size=len(tensors), **options)
                  for options in candidates]
    statistics = collect_statistics([a.get_statistic_points(model, graph) for a in algorithms],
                                    model, graph, dataset)
    quantized = [a.apply(model, graph, statistics, dataset) for a in algorithms]
    for each in quantized:
        compress_quantize_weights_transformation(each)  # int8 weights, as nncf.quantize stores them
    return quantized


def fake_quantize_count(path: Path) -> int:
    import openvino as ov

    ops = ov.Core().read_model(str(path)).get_ordered_ops()
    return sum(op.get_type_name() == "FakeQuantize" for op in ops)


def quantize_with_accuracy_control(
    source: Path, work: Path, tensors: list[Any], exclude: list[str], items: list[Any],
    score: Any, max_drop: float, chosen: dict[str, Any],
) -> tuple[Path, dict[str, Any]]:
    """NNCF's accuracy-aware quantization with the options the first round chose (preset,
    model type, float tail): quantized, scored on the user's labeled ``items`` against the
    float IR, and operations put back in float, most harmful first, until the drop is within
    ``max_drop``. ``score(runtime, items)`` is the validation's metric of a runtime."""
    import nncf
    import openvino as ov
    from nncf.quantization.advanced_parameters import AdvancedAccuracyRestorerParameters

    def validate(compiled: Any, subset: Any) -> float:
        request = compiled.create_infer_request()

        def runtime(tensor: Any) -> list[Any]:
            result = request.infer({0: tensor})
            return [result[port] for port in compiled.outputs]

        return float(score(runtime, list(subset)))

    quantized = nncf.quantize_with_accuracy_control(
        ov.Core().read_model(str(source)),
        nncf.Dataset(tensors),
        nncf.Dataset(items),
        validate,
        max_drop=max_drop,
        drop_type=nncf.DropType.ABSOLUTE,
        subset_size=len(tensors),
        **nncf_options(chosen["preset"], chosen["model_type"] == "transformer",
                       list(chosen["postprocessing_in_float"]), exclude),
        advanced_accuracy_restorer_parameters=AdvancedAccuracyRestorerParameters(
            max_num_iterations=ACCURACY_CONTROL_ROUNDS
        ),
    )
    target = work / "static_accuracy_control.xml"
    ov.save_model(quantized, str(target), compress_to_fp16=False)
    return target, {
        "tool": f"NNCF {nncf.__version__} quantize_with_accuracy_control",
        "max_drop": max_drop,
        "validation_images": len(items),
        "fake_quantize_nodes": fake_quantize_count(target),
    }
