"""The parity gate: the exported package against the original model, on real images.

For every image:
1. the package's own wrapper (metadata-driven preprocessing, the exported
   model, the wrapper's decoding) gives raw outputs and predictions;
2. the original PyTorch model runs on the tensor the same metadata describes;
   raw outputs and predictions are compared with the exported ones;
3. the original model also runs on the framework's *own* preprocessing (timm's
   transforms, the HF image processor, Ultralytics' letterbox): its predictions
   must agree with step 2, which catches a wrong resize or normalization in
   metadata.json even when the graph itself converted perfectly.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import ValidationFailed
from core.inference import wrapper_module
from core.parity import Agreement, OutputDiff, match_boxes, top1_agrees
from core.spec import ExportSpec
from exporters.images import parity_images
from exporters.loaders.base import LoadedModel

# detectors: exported candidates are decoded at a lower threshold, so a box that
# sits right at the confidence threshold in the original is not a false alarm
CANDIDATE_CONF_FACTOR = 0.5


def reference_processing(module: Any, meta: dict[str, Any]) -> tuple[Any, Any]:
    """The pre- and post-processing of the *original* model, from the package's metadata:
    RGB, NCHW float32, not embedded, and outputs decoded before any in-graph NMS."""
    rgb_planes = {**meta["preprocessing"]["format"], "color_space": "RGB"}
    pre = module.Preprocessor({**meta["preprocessing"], "embedded": False, "format": rgb_planes},
                              {"dtype": "float32", "format": "NCHW"})
    post = meta["postprocessing"]
    return pre, module.Postprocessor({**post, "type": post.get("decoded_type", post["type"])},
                                     meta["classes"])


def predict(post: Any, task: str, outputs: list[np.ndarray], transform: dict[str, float],
             shape: tuple[int, int], conf: float | None = None) -> list[dict[str, Any]]:
    if task == "classify":
        result: list[dict[str, Any]] = post.classify(outputs)
        return result
    detections: list[dict[str, Any]] = post.detect(outputs, transform, shape, conf=conf)
    return detections


def _agree(task: str, agreement: Agreement, name: str, reference: list[dict[str, Any]],
           candidates: list[dict[str, Any]], box_iou: float) -> None:
    if task == "classify":
        agreement.add(name, int(top1_agrees(reference, candidates)), 1)
    else:
        matched, worst = match_boxes(reference, candidates, box_iou)
        agreement.add(name, matched, len(reference), worst)


def run_parity(
    model: LoadedModel,
    model_path: Path,
    metadata_path: Path,
    spec: ExportSpec,
    progress: Callable[[float, str], None],
) -> dict[str, Any]:
    """Run the gate; returns the parity report, raises ValidationFailed when it fails."""
    module = wrapper_module()
    wrapper = module.ModelWrapper(model_path, metadata_path, threads=2)
    meta = wrapper.metadata
    reference_pre, reference_post = reference_processing(module, meta)
    post = meta["postprocessing"]
    comparable = post["type"] == post.get("decoded_type", post["type"])
    task, cfg = model.task, spec.parity_for_precision()
    # the preprocessing check compares the original with itself: fp32 strictness always
    preprocessing_iou = float(spec.parity_for_precision("fp32").box_iou or 0.9)
    metric = "top1_agreement" if task == "classify" else "box_agreement"
    diffs = [OutputDiff(name) for name in model.output_names]
    exported_vs_original = Agreement(metric)
    preprocessing = Agreement(metric)
    input_diff = 0.0
    input_gaps: list[float] = []
    latencies: list[float] = []
    images = parity_images(spec, task)
    conf = float(post.get("nms", {}).get("confidence_threshold", 0.25))
    for index, (name, rgb) in enumerate(images):
        start = time.perf_counter()
        exported_out, transform = wrapper.run(rgb)
        latencies.append((time.perf_counter() - start) * 1000)
        tensor, _ = reference_pre(rgb)
        original_out = model.forward(tensor)
        if comparable:
            if len(exported_out) != len(original_out):
                raise ValidationFailed(
                    f"the export has {len(exported_out)} outputs; the original has {len(original_out)}"
                )
            for diff, ref, exp in zip(diffs, original_out, exported_out, strict=True):
                diff.add(ref, exp)
        shape = rgb.shape[:2]
        reference = predict(reference_post, task, original_out, transform, shape)
        candidates = predict(wrapper.postprocess, task, exported_out, transform, shape,
                              conf * CANDIDATE_CONF_FACTOR)
        _agree(task, exported_vs_original, name, reference, candidates, float(cfg.box_iou or 0.9))
        framework_tensor = model.framework_preprocess(rgb)
        if framework_tensor.shape == tensor.shape:
            gap = np.abs(framework_tensor - tensor)
            input_diff = max(input_diff, float(gap.max()))
            input_gaps.append(float(gap.mean()))
        framework_out = model.forward(framework_tensor)
        framework_pred = predict(reference_post, task, framework_out, transform, shape)
        ours = predict(reference_post, task, original_out, transform, shape,
                        conf * CANDIDATE_CONF_FACTOR)
        _agree(task, preprocessing, name, framework_pred, ours, preprocessing_iou)
        progress((index + 1) / len(images), f"image {index + 1}/{len(images)}")
    atol, rtol = cfg.atol, cfg.rtol
    outputs = {d.name: d.report(atol, rtol) for d in diffs} if comparable else {}
    report: dict[str, Any] = {
        "images": len(images),
        "image_names": [n for n, _ in images],
        "runtime": wrapper.runtime.__class__.__name__.strip("_"),
        "precision": spec.precision,
        "tolerance": {"atol": atol, "rtol": rtol},
        "outputs": outputs,
        "task_agreement": exported_vs_original.report(float(cfg.min_task_agreement or 1.0)),
        "preprocessing_agreement": {
            **preprocessing.report(cfg.min_preprocessing_agreement),
            "max_abs_input_diff": input_diff,
            "mean_abs_input_diff": float(np.mean(input_gaps)) if input_gaps else None,
        },
        "latency_ms_median": float(np.median(latencies)) if latencies else None,
    }
    if not comparable:
        report["outputs_note"] = "raw outputs not compared: NMS runs inside the exported graph"
    report["passed"] = all(o["passed"] for o in outputs.values()) and bool(
        report["task_agreement"]["passed"] and report["preprocessing_agreement"]["passed"]
    )
    if not report["passed"]:
        raise ValidationFailed(_failure_message(report), details={"parity": report})
    return report


def _failure_message(report: dict[str, Any]) -> str:
    problems = []
    for name, out in report["outputs"].items():
        if not out["passed"]:
            problems.append(
                f"output '{name}' diverged: max abs diff {out['max_abs_diff']:.3g} > tolerance "
                f"{out['tolerance']:.3g} (mean {out['mean_abs_diff']:.3g})"
            )
    task = report["task_agreement"]
    if not task["passed"]:
        problems.append(
            f"{task['metric']} {task['value']:.1%} < required {task['required']:.0%} "
            f"({task['agreed']}/{task['total']})"
        )
    pre = report["preprocessing_agreement"]
    if not pre["passed"]:
        problems.append(
            f"the preprocessing in metadata.json disagrees with the framework's own: "
            f"{pre['metric']} {pre['value']:.1%} < {pre['required']:.0%} "
            f"(max input difference {pre['max_abs_input_diff']:.3g})"
        )
    return (
        f"parity gate failed on {report['images']} images: " + "; ".join(problems)
        + ". Loosen it explicitly in the spec's 'parity' section if this is expected."
    )


NOT_RUN_REASON = "needs macOS: Core ML models run only on macOS and iOS"


def coreml_structure_report(model: LoadedModel, model_file: Path, metadata: dict[str, Any]) -> dict[str, Any]:
    """Core ML has no runtime on Linux: verify what can be verified, and never call it passed."""
    from exporters.steps.coreml import SPEC_TARGET, check_structure

    original = [list(t.shape) for t in model.forward(model.dummy_input(1).numpy())]
    result = check_structure(model_file, metadata, original)
    report: dict[str, Any] = {
        "status": "not_run",
        "reason": NOT_RUN_REASON,
        "passed": None,
        "images": 0,
        "runtime": "none",
        "structure_checks": result["checks"],
        "structure_passed": result["passed"],
        "specification_version": result["described"]["specification_version"],
        "loads_on": SPEC_TARGET.get(result["described"]["specification_version"], "newer than iOS18"),
    }
    if not result["passed"]:
        failed = [name for name, ok in result["checks"].items() if not ok]
        raise ValidationFailed(f"the Core ML model does not match metadata.json: {'; '.join(failed)}",
                               details={"parity": report})
    return report
