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

from core.datasets import Dataset, check_classes, labels_task, load_dataset
from core.errors import ValidationFailed
from core.evaluation import VALIDATION_CONF, Scorer, truth_of
from core.inference import wrapper_module
from core.spec import ExportSpec
from exporters.loaders.base import LoadedModel
from exporters.parity import reference_processing

PRIMARY_METRIC = {"classify": "top1", "detect": "mAP50-95"}
Runtime = Callable[[Any], list[Any]]  # an input tensor → the model's outputs


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


def run_validation(model: LoadedModel, model_path: Path, metadata_path: Path, spec: ExportSpec,
                   dataset: Dataset, progress: Callable[[float, str], None]) -> dict[str, Any]:
    """Validate; returns the report (validation_results.json), raises ValidationFailed past the
    threshold."""
    module = wrapper_module()
    wrapper = module.ModelWrapper(model_path, metadata_path, threads=2)
    reference_pre, reference_post = reference_processing(module, wrapper.metadata, model)
    task = labels_task(model.task)
    original, exported = Scorer(task, model.class_names), Scorer(task, model.class_names)
    truth: list[Any] = []
    items = dataset.items
    for index, item in enumerate(items):
        rgb = wrapper.load_image(str(item.image))
        shape = rgb.shape[:2]
        outputs, transform = wrapper.run(rgb)
        exported.add(wrapper.postprocess, outputs, transform, shape)
        tensor, _ = reference_pre(rgb)
        original.add(reference_post, model.reference(tensor, checkpoint=True), transform, shape)
        truth.append(truth_of(item, shape))
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


def dataset_metric(wrapper: Any, task: str, metric: str) -> Callable[[Runtime, Any], float]:
    """``metric`` of the model a runtime runs (tensor → outputs) over dataset items, through the
    package wrapper's pre- and post-processing and the validation's own scoring: what NNCF's
    accuracy control asks of a candidate model, on the subsets it chooses."""

    def score(runtime: Runtime, items: Any) -> float:
        scorer, truth = Scorer(task, wrapper.class_names), []
        for item in items:
            rgb = wrapper.load_image(str(item.image))
            tensor, transform = wrapper.preprocess(rgb)
            outputs = wrapper.forward(tensor, runtime=runtime)
            scorer.add(wrapper.postprocess, outputs, transform, rgb.shape[:2])
            truth.append(truth_of(item, rgb.shape[:2]))
        return float(scorer.metrics(truth)[metric])

    return score
