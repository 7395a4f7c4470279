"""Accuracy validation after export: the original and the exported model on the user's
labeled data, scored by one implementation (core.metrics), with a hard fail threshold.

Both models see the same images; the exported one through the package's own wrapper
(metadata-driven preprocessing, its runtime), the original PyTorch model through
the tensor the same metadata describes. Detections are decoded as validation does
it (confidence 0.001, up to 300 boxes, the model's NMS IoU), not at the display
threshold, so the mAP covers the whole precision-recall curve.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from core.datasets import Dataset, check_classes, labels_task, load_dataset
from core.errors import ValidationFailed
from core.inference import wrapper_module
from core.metrics import Detections, GroundTruth, classification_metrics, detection_metrics
from core.spec import ExportSpec
from exporters.loaders.base import LoadedModel
from exporters.parity import reference_processing

VALIDATION_CONF = 0.001
PRIMARY_METRIC = {"classify": "top1", "detect": "mAP50-95"}


def primary_metric(task: str, requested: list[str]) -> str:
    """The metric the threshold applies to: the first one the spec names that fits the task."""
    fits = {"classify": ("top1", "accuracy", "top5"), "detect": ("mAP50-95", "mAP50")}[labels_task(task)]
    for name in requested:
        if name in fits:
            return "top1" if name == "accuracy" else name
    return PRIMARY_METRIC[labels_task(task)]


def load_validation_data(spec: ExportSpec, model: LoadedModel) -> Dataset:
    """Read the dataset and check it against the model before any long work."""
    assert spec.validation_config.data is not None
    dataset = load_dataset(Path(spec.validation_config.data), labels_task(model.task))
    check_classes(dataset, model.class_names)
    return dataset


class _Scorer:
    """Collects one model's predictions over the dataset, then scores them."""

    def __init__(self, task: str, names: list[str]) -> None:
        self.task, self.names = task, names
        self.scores: list[np.ndarray] = []
        self.detections: list[Detections] = []

    def add(self, post: Any, outputs: list[np.ndarray], transform: dict[str, float],
            shape: tuple[int, int]) -> None:
        if self.task == "classify":
            self.scores.append(np.asarray(outputs[0], dtype=np.float64).reshape(-1))
            return
        found = post.decode(outputs, transform, shape, conf=VALIDATION_CONF)
        self.detections.append(Detections(
            boxes=np.array([d["bbox"] for d in found], dtype=np.float64).reshape(-1, 4),
            scores=np.array([d["confidence"] for d in found], dtype=np.float64),
            classes=np.array([d["class_id"] for d in found], dtype=np.int64),
        ))

    def metrics(self, truth: list[Any]) -> dict[str, Any]:
        if self.task == "classify":
            return classification_metrics(truth, np.stack(self.scores), self.names)
        return detection_metrics(self.detections, truth, self.names)


def score_package(wrapper: Any, dataset: Dataset, task: str, names: list[str]) -> dict[str, Any]:
    """One exported model's metrics on a labeled dataset, by the code validation uses (for
    benchmarks that score models Slipway did not export, such as a peer's, the same way)."""
    task = labels_task(task)
    scorer, truth = _Scorer(task, names), []
    for item in dataset.items:
        rgb = wrapper.load_image(str(item.image))
        outputs, transform = wrapper.run(rgb)
        scorer.add(wrapper.postprocess, outputs, transform, rgb.shape[:2])
        height, width = rgb.shape[:2]
        truth.append(item.class_id if task == "classify" else
                     GroundTruth(boxes=item.boxes_xyxy(width, height), classes=item.classes))
    return scorer.metrics(truth)


def run_validation(model: LoadedModel, model_path: Path, metadata_path: Path, spec: ExportSpec,
                   dataset: Dataset, progress: Callable[[float, str], None]) -> dict[str, Any]:
    """Validate; returns the report (validation_results.json), raises ValidationFailed past the
    threshold."""
    module = wrapper_module()
    wrapper = module.ModelWrapper(model_path, metadata_path, threads=2)
    reference_pre, reference_post = reference_processing(module, wrapper.metadata, model)
    task = labels_task(model.task)
    original, exported = _Scorer(task, model.class_names), _Scorer(task, model.class_names)
    truth: list[Any] = []
    items = dataset.items
    for index, item in enumerate(items):
        rgb = wrapper.load_image(str(item.image))
        shape = rgb.shape[:2]
        outputs, transform = wrapper.run(rgb)
        exported.add(wrapper.postprocess, outputs, transform, shape)
        tensor, _ = reference_pre(rgb)
        original.add(reference_post, model.forward(tensor, checkpoint=True), transform, shape)
        if task == "classify":
            truth.append(item.class_id)
        else:
            truth.append(GroundTruth(boxes=item.boxes_xyxy(shape[1], shape[0]), classes=item.classes))
        if index % 8 == 7 or index == len(items) - 1:
            progress((index + 1) / len(items), f"image {index + 1}/{len(items)}")
    cfg = spec.validation_config
    metric = primary_metric(model.task, list(cfg.metrics))
    before, after = original.metrics(truth), exported.metrics(truth)
    drop = float(before[metric] - after[metric])
    limit = cfg.fail_threshold.accuracy_drop_max
    report = {
        "dataset": {"path": str(dataset.root), "format": dataset.source, "images": len(items),
                    "classes": len(dataset.class_names)},
        "metric": metric,
        "original": before,
        "exported": after,
        "original_metric": before[metric],
        "exported_metric": after[metric],
        "accuracy_drop": drop,
        "accuracy_drop_max": limit,
        "passed": drop <= limit,
        "decoding": None if task == "classify" else {"confidence_threshold": VALIDATION_CONF,
                                                     "iou_threshold": reference_post.iou,
                                                     "max_detections": reference_post.max_det},
    }
    if not report["passed"]:
        raise ValidationFailed(
            f"validation failed on {len(items)} images of {dataset.root.name}: {metric} dropped by "
            f"{drop:.4f} ({before[metric]:.4f} → {after[metric]:.4f}), more than "
            f"validation_config.fail_threshold.accuracy_drop_max {limit}",
            details={"validation": report},
        )
    return report
