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

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import ValidationFailed
from core.inference import wrapper_module
from core.parity import (
    Agreement,
    OutputDiff,
    SelectionTies,
    align_queries,
    box_iou,
    compare,
    pixel_agreement,
)
from core.spec import ExportSpec
from exporters import localize
from exporters.images import parity_images
from exporters.loaders.base import LoadedModel
from exporters.preprocessing import tensor_preprocessor

# detectors: exported candidates are decoded at a lower threshold, so a box that
# sits right at the confidence threshold in the original is not a false alarm
CANDIDATE_CONF_FACTOR = 0.5
# a failed gate compares the layers on this many of its images (a YOLO11n at 640 in seconds)
LOCALIZE_IMAGES = 4


def reference_processing(module: Any, meta: dict[str, Any], model: LoadedModel) -> tuple[Any, Any]:
    """The pre- and post-processing of the *original* model, from the package's metadata:
    NCHW float32, not embedded, outputs decoded before any in-graph NMS, and the channel
    order the framework feeds the original (MobileViT's flipped channels are BGR), whatever
    the export turned it into (OpenVINO's reversed input channels)."""
    color_space = model.preprocessing.get("format", {}).get("color_space", "RGB")
    planes = {**meta["preprocessing"]["format"], "color_space": color_space}
    pre = tensor_preprocessor({**meta["preprocessing"], "format": planes})
    post = meta["postprocessing"]
    return pre, module.Postprocessor({**post, "type": post.get("decoded_type", post["type"])},
                                     meta["classes"])


def predict(post: Any, task: str, outputs: list[np.ndarray], transform: dict[str, float],
            shape: tuple[int, int], conf: float | None = None) -> list[dict[str, Any]]:
    """Decoded predictions, with instance masks when the task has them (the gate compares them)."""
    result: list[dict[str, Any]] = post.decode(outputs, transform, shape, conf=conf,
                                               masks=task == "segment")
    return result


# Boxes compared when the original finds none at its confidence threshold (random
# weights, or images without the model's objects): its most confident boxes, so the
# gate compares something instead of agreeing on nothing.
FALLBACK_TOP_K = 5
CLASS_TIE = 1e-3  # confidences this close on the same box: two classes tied
BOX_TASKS = ("detect", "segment", "pose", "obb")
FALLBACK_CONF = 0.001


class TaskComparison:
    """Compares the predictions of two runs of one image, the way the task needs."""

    def __init__(self, task: str, cfg: Any, conf: float, filtered: bool = False) -> None:
        """``filtered``: the export drops boxes below ``conf`` itself (NMS in the graph), so
        the original's weaker boxes cannot be looked for in it."""
        self.task, self.conf, self.filtered = task, conf, filtered
        self.box_iou = float(cfg.box_iou or 0.9)
        self.pixels = float(cfg.pixel_agreement or 0.99)
        self.metric = {"classify": "top1_agreement", "semantic": "pixel_agreement"}.get(task, "box_agreement")
        self.fallback_images: list[str] = []
        # two classes scoring the same on one box (random weights do this): the argmax may fall
        # either way between runs whose raw outputs agree. Only where the raw outputs are held
        # to a tolerance (not INT8) and the two confidences are this close
        self.class_tie = CLASS_TIE if cfg.atol is not None and task in BOX_TASKS else None
        self.class_ties = 0

    def add(self, agreement: Agreement, name: str, reference_post: Any, reference_out: list[np.ndarray],
            post: Any, outputs: list[np.ndarray], transform: dict[str, float],
            shape: tuple[int, int]) -> None:
        if self.task == "semantic":
            share = pixel_agreement(reference_post.decoder.class_map(reference_out, transform, shape),
                                    post.decoder.class_map(outputs, transform, shape))
            agreement.add(name, int(share >= self.pixels), 1, share)
            return
        reference = predict(reference_post, self.task, reference_out, transform, shape, self.conf)
        floor = self.conf * CANDIDATE_CONF_FACTOR
        if not reference and self.task != "classify" and not self.filtered:
            reference = predict(reference_post, self.task, reference_out, transform, shape,
                                FALLBACK_CONF)[:FALLBACK_TOP_K]
            floor = min((p["confidence"] for p in reference), default=FALLBACK_CONF) * CANDIDATE_CONF_FACTOR
            if name not in self.fallback_images:
                self.fallback_images.append(name)
        candidates = predict(post, self.task, outputs, transform, shape, floor)
        if self.class_tie is not None:
            candidates = self._untie(reference, candidates)
        agreed, total, worst = compare(self.task, reference, candidates, self.box_iou)
        agreement.add(name, agreed, total, worst)

    def _untie(self, reference: list[dict[str, Any]],
               candidates: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """An original box with no same-class counterpart in the export, whose closest exported
        box (IoU >= box_iou) has another class at the same confidence (within ``class_tie``):
        two classes tied, and that box takes the original's class (counted in the note)."""
        if not reference or not candidates:
            return candidates
        iou = box_iou(np.array([r["bbox"] for r in reference], dtype=np.float64),
                      np.array([c["bbox"] for c in candidates], dtype=np.float64))
        untied = list(candidates)
        for i, ref in enumerate(reference):
            if any(c["class_id"] == ref["class_id"] and iou[i, j] >= self.box_iou
                   for j, c in enumerate(candidates)):
                continue
            j = int(np.argmax(iou[i]))
            tied = abs(ref["confidence"] - candidates[j]["confidence"]) <= float(self.class_tie or 0)
            if iou[i, j] >= self.box_iou and tied:
                untied[j] = {**candidates[j], "class_id": ref["class_id"],
                             "class_name": ref.get("class_name")}
                self.class_ties += 1
        return untied

    def note(self) -> str | None:
        notes = []
        if self.fallback_images:
            notes.append(f"the original found nothing above confidence {self.conf} on "
                         f"{len(self.fallback_images)} image(s); its {FALLBACK_TOP_K} most confident "
                         "boxes there were compared instead")
        if self.class_ties:
            notes.append(f"{self.class_ties} box(es) had two classes tied (confidences within "
                         f"{self.class_tie}); the export's choice counted as the original's")
        return "; ".join(notes) or None


def _framework_tensor(model: LoadedModel, rgb: np.ndarray, tensor: np.ndarray) -> np.ndarray:
    framework_tensor = model.framework_preprocess(rgb)
    if framework_tensor.shape != tensor.shape:
        raise ValidationFailed(
            f"the preprocessing in metadata.json gives a {list(tensor.shape)} tensor; "
            f"{model.framework}'s own preprocessing gives {list(framework_tensor.shape)}",
            details={"parity": {"passed": False, "tensor_shape": list(tensor.shape),
                                "framework_tensor_shape": list(framework_tensor.shape)}})
    return framework_tensor


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
    reference_pre, reference_post = reference_processing(module, meta, model)
    post = meta["postprocessing"]
    comparable = post["type"] == post.get("decoded_type", post["type"])
    task, cfg = model.task, spec.parity_for_precision()
    conf = float(post.get("nms", {}).get("confidence_threshold", post.get("confidence_threshold", 0.25)))
    exported = TaskComparison(task, cfg, conf, filtered=bool(post.get("nms", {}).get("in_model")))
    # the preprocessing check compares the original with itself: fp32 strictness always
    framework = TaskComparison(task, spec.parity_for_precision("fp32"), conf)
    diffs = [OutputDiff(name) for name in model.output_names]
    ties = SelectionTies(cfg.atol, cfg.rtol)
    exported_vs_original = Agreement(exported.metric)
    preprocessing = Agreement(exported.metric)
    input_diff = 0.0
    input_gaps: list[float] = []
    latencies: list[float] = []
    images = parity_images(spec, task)
    for index, (name, rgb) in enumerate(images):
        start = time.perf_counter()
        exported_out, transform = wrapper.run(rgb)
        latencies.append((time.perf_counter() - start) * 1000)
        tensor, _ = reference_pre(rgb)
        original_out = model.reference(tensor)
        boxes_of = original_out
        if comparable:
            if len(exported_out) != len(original_out):
                raise ValidationFailed(
                    f"the export has {len(exported_out)} outputs; the original has {len(original_out)}"
                )
            compared, reference = exported_out, original_out
            if post["type"] == "yolo_end2end":  # top-k rows: the order of near-equal scores is free
                rows, keep = ties.paired(original_out[0], exported_out[0])
                compared = [rows[keep], *exported_out[1:]]
                reference = [original_out[0][keep], *original_out[1:]]
                # and a row only one run selected is no box of either (see SelectionTies)
                boxes_of = [ties.silenced(original_out[0], keep), *original_out[1:]]
                exported_out = [ties.silenced(rows, keep), *exported_out[1:]]
            elif post["type"] == "set_prediction":  # queries picked by a top-k (RT-DETR): the same
                compared = align_queries(original_out, exported_out)
            for diff, ref, exp in zip(diffs, reference, compared, strict=True):
                diff.add(ref, exp)
        shape = rgb.shape[:2]
        exported.add(exported_vs_original, name, reference_post, boxes_of, wrapper.postprocess,
                      exported_out, transform, shape)
        framework_tensor = _framework_tensor(model, rgb, tensor)
        gap = np.abs(framework_tensor - tensor)
        input_diff = max(input_diff, float(gap.max(initial=0.0)))
        input_gaps.append(float(gap.mean()) if gap.size else 0.0)
        framework.add(preprocessing, name, reference_post, model.reference(framework_tensor), reference_post,
                      original_out, transform, shape)
        progress((index + 1) / len(images), f"image {index + 1}/{len(images)}")
    atol, rtol = cfg.atol, cfg.rtol
    outputs = {d.name: d.report(atol, rtol) for d in diffs} if comparable else {}
    required = float(cfg.min_task_agreement or 1.0)
    report: dict[str, Any] = {
        "images": len(images),
        "image_names": [n for n, _ in images],
        "runtime": wrapper.runtime.__class__.__name__.strip("_"),
        "precision": spec.precision,
        "tolerance": {"atol": atol, "rtol": rtol},
        "outputs": outputs,
        "task_agreement": exported_vs_original.report(required),
        "preprocessing_agreement": {
            **preprocessing.report(cfg.min_preprocessing_agreement),
            "max_abs_input_diff": input_diff,
            "mean_abs_input_diff": float(np.mean(input_gaps)) if input_gaps else None,
        },
        "latency_ms_median": float(np.median(latencies)) if latencies else None,
    }
    if task == "semantic":
        report["task_agreement"]["pixel_agreement_required"] = exported.pixels
    if note := exported.note():
        report["task_agreement"]["note"] = note
    if not comparable:
        report["outputs_note"] = "raw outputs not compared: NMS runs inside the exported graph"
    elif ties.rows:
        report["outputs_note"] = ties.note()
    report["passed"] = all(o["passed"] for o in outputs.values()) and bool(
        report["task_agreement"]["passed"] and report["preprocessing_agreement"]["passed"]
    )
    model_diverged = not all(o["passed"] for o in outputs.values()) or not report["task_agreement"]["passed"]
    if not report["passed"] and model_diverged and spec.export_format in localize.FORMATS:
        report["layers"] = _localize(model, model_path, wrapper, reference_pre, images, spec)
    if not report["passed"]:
        raise ValidationFailed(_failure_message(report), details={"parity": report})
    return report


def _localize(model: LoadedModel, model_path: Path, wrapper: Any, reference_pre: Any,
              images: list[tuple[str, np.ndarray]], spec: ExportSpec) -> dict[str, Any]:
    """Where the export starts to differ, layer by layer, on the gate's first images."""
    cfg = spec.parity_for_precision()
    pairs = [(reference_pre(rgb)[0], wrapper.preprocess(rgb)[0]) for _, rgb in images[:LOCALIZE_IMAGES]]
    runtime = dict(wrapper.metadata.get("runtime", {}).get("openvino", {}))
    with tempfile.TemporaryDirectory(prefix="slipway-localize-") as work:
        return localize.localize(model.module, model_path, spec.export_format, pairs, cfg.atol, cfg.rtol,
                                 Path(work), batch=wrapper.fixed_batch, runtime_config=runtime)


def _failure_message(report: dict[str, Any]) -> str:
    problems = []
    for name, out in report["outputs"].items():
        if not out["passed"]:
            problems.append(
                f"output '{name}' diverged: max abs diff {out['max_abs_diff']:.3g} > tolerance "
                f"{out['tolerance']:.3g} (mean {out['mean_abs_diff']:.3g})"
            )
    task = report["task_agreement"]
    if not task["passed"] and task["total"] == 0:
        problems.append(f"{task['metric']}: nothing was compared, so agreement is not shown")
    elif not task["passed"]:
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
    if where := localize.summary(report.get("layers") or {}):
        problems.append(where)
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
