"""Accuracy-aware fallback for static INT8: keep the most sensitive layers in float
until the model is good enough again, or nothing is left to revert.

"Good enough" is a check the caller supplies: agreement with the float model on
the calibration images (no labels needed: used right after quantizing), or the
accuracy drop on the user's labeled data within validation_config's threshold.
Sensitivity is measured, not guessed: each activation's worst per-channel signal-
to-quantization-noise ratio in a QDQ copy of the model on the calibration images
(onnx_quant.sensitive_nodes). The search doubles the number of reverted nodes
until the check passes, then bisects back, so few layers stay float.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.datasets import Dataset
from core.errors import ValidationFailed
from core.registry import move_model
from exporters.optimize import onnx_quant
from exporters.optimize.quantize import QuantizationJob, quantizer_for
from exporters.validation import dataset_metric, primary_metric

_SUMMARY = ("passed", "metric", "exported_metric", "accuracy_drop", "agreement")
Check = Callable[[], dict[str, Any]]  # judges the package's current model: {"passed": bool, ...}
Log = Callable[[str], None]
Settled = tuple[dict[str, Any], dict[str, Any]]  # (the passing check's report, the quantization stats)
Recovery = Callable[[Dataset, Check, Log], Settled | None]
BISECT_ROUNDS = 3


def can_fall_back(job: QuantizationJob | None) -> bool:
    return job is not None and job.spec.export_format == "onnx" and job.config.method == "static"


def accuracy_recovery(job: QuantizationJob | None, stats: dict[str, Any] | None) -> Recovery | None:
    """How a static INT8 model that failed validation gets its accuracy back, where its format
    has a way: ONNX keeps its most sensitive nodes in float (``fall_back``), OpenVINO runs
    NNCF's accuracy control (``control_accuracy``); None where neither applies."""
    if job is None or stats is None:
        return None
    if can_fall_back(job):
        return lambda _dataset, check, log: fall_back(job, stats, check, log)
    if job.spec.export_format == "openvino" and job.config.method == "static":
        return lambda dataset, check, log: control_accuracy(job, stats, dataset, check, log)
    return None


def control_accuracy(
    job: QuantizationJob, stats: dict[str, Any], dataset: Dataset, check: Check, log: Log
) -> Settled | None:
    """OpenVINO's counterpart of ``fall_back``: NNCF's accuracy-aware quantization on the user's
    labeled data, with the options the first round chose; (check report, stats) when the
    model it gives passes the validation, None when it does not."""
    from exporters.optimize import openvino_quant

    tensors, _ = job.calibration()
    cfg = job.spec.validation_config
    metric = primary_metric(job.task, list(cfg.metrics))
    limit = cfg.fail_threshold.accuracy_drop_max
    score = dataset_metric(job.wrapper, job.task, metric)
    before = openvino_quant.fake_quantize_count(job.model_file)
    log(f"quantizing again with NNCF's accuracy control: {metric} on {len(dataset.items)} labeled "
        f"images, operations back in float until the drop is within {limit}")
    with job.timed("accuracy control"):
        target, control = openvino_quant.quantize_with_accuracy_control(
            job.source, job.work, tensors, job.exclude, list(dataset.items), score, limit, stats
        )
    move_model(target, job.model_file, copy=True)
    report = check()
    control["fake_quantize_nodes"] = {"before": before, "after": control["fake_quantize_nodes"]}
    control["passed"] = bool(report["passed"])
    if not report["passed"]:
        return None
    return report, {**stats, "accuracy_control": control}


def fall_back(job: QuantizationJob, stats: dict[str, Any], check: Check, log: Log) -> Settled | None:
    """(check report, quantization stats) of the fewest float nodes that pass, or None
    when even reverting every sensitive node fails (the last failing setting stays)."""
    tensors, _ = job.calibration()
    # the setting the first round chose (job.setting) stays fixed: only the float nodes change,
    # and every step quantizes from the same calibrated ranges
    assert job.setting is not None
    config = job.config.model_copy(update={"per_channel": job.setting.per_channel})
    with job.timed("rank sensitive nodes"):
        order = onnx_quant.sensitive_nodes(job.prepared(), tensors, job.calibrated(), config, job.work)
    quantize = quantizer_for(job.spec)
    assert quantize is not None
    attempts: list[dict[str, Any]] = []

    def attempt(count: int) -> Settled:
        job.exclude = order[:count]
        log(f"keeping the {count} most sensitive of {len(order)} node(s) in float")
        result = quantize(job)
        report = check()
        attempts.append({"kept_in_float": count, **{k: report.get(k) for k in _SUMMARY if k in report}})
        return report, result

    failing, passing, best = 0, None, None
    count = 1
    while count <= len(order):
        report, result = attempt(count)
        if report["passed"]:
            passing, best = count, (report, result)
            break
        failing = count
        count = len(order) if count < len(order) < count * 2 else count * 2
    if passing is None or best is None:
        return None
    for _ in range(BISECT_ROUNDS):  # fewer float nodes, if a smaller count passes too
        middle = (failing + passing) // 2
        if middle <= failing:
            break
        report, result = attempt(middle)
        if report["passed"]:
            passing, best = middle, (report, result)
        else:
            failing = middle
    if job.exclude != order[:passing]:  # the last attempt failed: put the passing one back
        job.exclude = order[:passing]
        best = (best[0], quantize(job))
    report, result = best
    result["kept_in_float"] = list(job.exclude)
    result["fallback"] = {
        "sensitivity": "worst per-channel activation SQNR on the calibration images (lowest first)",
        "attempts": attempts,
    }
    return report, result


def agreement_fallback(job: QuantizationJob, stats: dict[str, Any], log: Log) -> dict[str, Any]:
    """Static INT8 that no longer agrees with the float model on the calibration images
    (a YOLO head whose boxes and scores share one INT8 range loses every box): keep
    sensitive layers in float until it agrees, before the gates judge it."""
    required = float(job.spec.parity_for_precision().min_task_agreement or 1.0)
    if not can_fall_back(job) or stats.get("agreement", 1.0) >= required:
        return stats
    log(
        f"INT8 agrees with the float model on {stats['agreement']:.0%} of the calibration "
        f"images (needs {required:.0%}); keeping the most sensitive layers in float"
    )
    _, probe = job.calibration()

    def agreement() -> dict[str, Any]:
        value = probe(job.model_file)
        return {"passed": value >= required, "agreement": value}

    settled = fall_back(job, stats, agreement, log)
    if settled is None:
        raise ValidationFailed(
            "static INT8 does not agree with the float model even with every "
            f"sensitive layer in float (needs {required:.0%}); export without "
            "quantization or with method 'fp16'"
        )
    report, stats = settled
    stats["agreement"] = report["agreement"]
    log(f"INT8 agrees on {report['agreement']:.0%} with {len(stats['kept_in_float'])} node(s) in float")
    return stats
