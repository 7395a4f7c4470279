"""A model over a labelled folder: its metrics, confusion matrix and worst images; batch predictions.

One loop for every caller: the app's Evaluate view and ``slipway evaluate`` (through the
``exporters.evaluate_process`` child, which also runs the original checkpoint) and the
accuracy gate after an export (``exporters.validation``). A model here is anything with
``run(rgb) -> (raw outputs, transform)`` and a ``postprocess`` (the package's wrapper, or
the original model behind the package's reference processing), so exports and originals
are scored by the same code. The numbers come from ``core.metrics``; the readers of the
labelled data from ``core.datasets``.

* Detections are decoded as validation does it (confidence 0.001, the model's NMS IoU), so
  mAP covers the whole precision-recall curve. The confusion matrix and the per-image
  errors use the boxes a user sees: those at the model's own confidence threshold.
* Confusion matrix: rows are the true class, columns the predicted one. Classifiers: one
  count per image, so the counts sum to the image count. Detectors (as Ultralytics draws
  it): a last "background" row and column; a predicted box and a labelled one pair up,
  class-blind, when their IoU reaches ``CONFUSION_IOU`` (largest IoU first, each box once);
  an unpaired label counts as (class, background), an unpaired prediction as
  (background, class). The counts sum to the labels plus the unpaired predictions.
* Worst images: classifiers by the probability the model gave the true class (lowest
  first); detectors by their missed, spurious and mislabelled boxes, then by how loosely
  the correct boxes fit.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from core.datasets import Dataset, labels_task
from core.metrics import Detections, GroundTruth, classification_metrics, detection_metrics, pairwise_iou

VALIDATION_CONF = 0.001
CONFUSION_IOU = 0.45
WORST_IMAGES = 24
BACKGROUND = "background"
PARTIAL_SUFFIX = ".part"  # a file being written; renamed over the real name only when complete

Progress = Callable[[int, int], None]
"""(images done, images in all)."""


class Model(Protocol):
    postprocess: Any

    def run(self, rgb: np.ndarray) -> tuple[list[np.ndarray], dict[str, float]]: ...


def read_image(path: Path) -> np.ndarray:
    """An image as the wrapper reads it (RGB, HxWx3 uint8)."""
    from core.inference import wrapper_module

    image: np.ndarray = wrapper_module().ModelWrapper.load_image(str(path))
    return image


def detections(found: Iterable[dict[str, Any]]) -> Detections:
    """The wrapper's decoded boxes as core.metrics takes them."""
    rows = list(found)
    return Detections(boxes=np.array([d["bbox"] for d in rows], dtype=np.float64).reshape(-1, 4),
                      scores=np.array([d["confidence"] for d in rows], dtype=np.float64),
                      classes=np.array([d["class_id"] for d in rows], dtype=np.int64))


class Scorer:
    """One model's predictions over a dataset, collected image by image, then scored."""

    def __init__(self, task: str, names: list[str]) -> None:
        self.task, self.names = labels_task(task), names
        self.scores: list[np.ndarray] = []
        self.detections: list[Detections] = []

    def add(self, post: Any, outputs: list[np.ndarray], transform: dict[str, float],
            shape: tuple[int, int]) -> None:
        if self.task == "classify":
            self.scores.append(np.asarray(outputs[0], dtype=np.float64).reshape(-1))
            return
        self.detections.append(detections(post.decode(outputs, transform, shape, conf=VALIDATION_CONF)))

    def metrics(self, truth: Sequence[Any]) -> dict[str, Any]:
        if self.task == "classify":
            table = np.stack(self.scores) if self.scores else np.zeros((0, len(self.names)))
            return classification_metrics(list(truth), table, self.names)
        return detection_metrics(self.detections, list(truth), self.names)


def truth_of(item: Any, shape: tuple[int, int]) -> Any:
    """A dataset item's ground truth as core.metrics takes it, for an image of this (h, w)."""
    if hasattr(item, "class_id"):
        return int(item.class_id)
    return GroundTruth(boxes=item.boxes_xyxy(shape[1], shape[0]), classes=item.classes)


# --------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class ImageError:
    """How wrong the model was on one image, for the error gallery."""

    image: str
    error: float
    truth: str
    predicted: str


def probabilities(post: Any, row: np.ndarray) -> np.ndarray:
    """Class probabilities from a classifier's raw scores (softmax when they are logits)."""
    if getattr(post, "kind", "logits") != "logits":
        return row
    shifted = np.exp(row - np.max(row))
    return np.asarray(shifted / shifted.sum())


def classification_confusion(truth: Sequence[int], scores: Sequence[np.ndarray], n: int) -> np.ndarray:
    """(true, predicted top-1) counts: one per image."""
    matrix = np.zeros((n, n), dtype=np.int64)
    for true, row in zip(truth, scores, strict=True):
        matrix[int(true), int(np.argmax(np.where(np.isnan(row), -np.inf, row)))] += 1
    return matrix


def pair_boxes(pred: Detections, gt: GroundTruth, iou_min: float) -> list[tuple[int, int, float]]:
    """Class-blind (label, prediction, IoU) pairs, largest IoU first, each box used once."""
    if not len(pred.classes) or not len(gt.classes):
        return []
    iou = pairwise_iou(gt.boxes, pred.boxes)
    labels, preds = np.nonzero(iou >= iou_min)
    order = np.argsort(-iou[labels, preds], kind="stable")
    pairs, used_label, used_pred = [], set(), set()
    for k in order:
        a, b = int(labels[k]), int(preds[k])
        if a not in used_label and b not in used_pred:
            used_label.add(a)
            used_pred.add(b)
            pairs.append((a, b, float(iou[a, b])))
    return pairs


def detection_confusion(pred: Detections, gt: GroundTruth, matrix: np.ndarray) -> tuple[int, float]:
    """Add one image to the (C+1)x(C+1) matrix; its error count and the mean IoU of its correct pairs."""
    background = matrix.shape[0] - 1
    pairs = pair_boxes(pred, gt, CONFUSION_IOU)
    for a, b, _ in pairs:
        matrix[gt.classes[a], pred.classes[b]] += 1
    paired_labels, paired_preds = {a for a, _, _ in pairs}, {b for _, b, _ in pairs}
    for a in set(range(len(gt.classes))) - paired_labels:
        matrix[gt.classes[a], background] += 1
    for b in set(range(len(pred.classes))) - paired_preds:
        matrix[background, pred.classes[b]] += 1
    right = [iou for a, b, iou in pairs if gt.classes[a] == pred.classes[b]]
    errors = len(gt.classes) + len(pred.classes) - 2 * len(right)
    return errors, float(np.mean(right)) if right else 1.0


def _count(names: list[str], classes: np.ndarray) -> str:
    counts = np.bincount(classes, minlength=len(names)) if len(classes) else np.zeros(len(names), int)
    shown = [f"{counts[i]} {names[i]}" for i in np.flatnonzero(counts)]
    return ", ".join(shown) if shown else "nothing"


def evaluate(model: Model, dataset: Dataset, names: list[str], progress: Progress | None = None,
             worst: int = WORST_IMAGES) -> dict[str, Any]:
    """Run the model over every image of the dataset; the report (plain JSON types)."""
    task, post = dataset.task, model.postprocess
    scorer, truth = Scorer(task, names), []
    matrix = np.zeros((len(names), len(names)) if task == "classify" else (len(names) + 1,) * 2, np.int64)
    errors: list[ImageError] = []
    display_conf = float(getattr(post, "conf", 0.25))
    total = len(dataset.items)
    for index, item in enumerate(dataset.items):
        rgb = read_image(item.image)
        shape = (int(rgb.shape[0]), int(rgb.shape[1]))
        outputs, transform = model.run(rgb)
        scorer.add(post, outputs, transform, shape)
        truth.append(truth_of(item, shape))
        if task == "classify":
            row = scorer.scores[-1]
            p = probabilities(post, row)
            top = int(np.argmax(np.where(np.isnan(row), -np.inf, row)))
            errors.append(ImageError(str(item.image), float(1.0 - p[item.class_id]), names[item.class_id],
                                     f"{names[top]} ({p[top]:.2f})"))
        else:
            found = scorer.detections[-1]
            seen = found.scores >= display_conf
            shown = Detections(found.boxes[seen], found.scores[seen], found.classes[seen])
            count, fit = detection_confusion(shown, truth[-1], matrix)
            errors.append(ImageError(str(item.image), count + (1.0 - fit), _count(names, truth[-1].classes),
                                     _count(names, shown.classes)))
        if progress is not None:
            progress(index + 1, total)
    if task == "classify":
        matrix = classification_confusion(truth, scorer.scores, len(names))
    ranked = sorted(range(len(errors)), key=lambda i: (-errors[i].error, i))[:worst]
    labels = list(names) if task == "classify" else [*names, BACKGROUND]
    return {
        "task": task,
        "dataset": {"path": str(dataset.root), "format": dataset.source, "images": total,
                    "classes": len(names)},
        "metrics": scorer.metrics(truth),
        "confusion": {"labels": labels, "matrix": matrix.tolist(), "rows": "true", "columns": "predicted",
                      **({} if task == "classify" else {"confidence": display_conf, "iou": CONFUSION_IOU})},
        "worst": [errors[i].__dict__ for i in ranked],
        "decoding": None if task == "classify" else {"confidence_threshold": VALIDATION_CONF,
                                                     "iou_threshold": float(post.iou)},
    }


# --------------------------------------------------------------------------- batch prediction

def image_files(paths: Sequence[Path]) -> list[Path]:
    """The images named: files as given, folders searched recursively (sorted)."""
    from core.errors import BadInput
    from core.samples import list_images

    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found += list_images(path)
        elif path.is_file():
            found.append(path)
        else:
            raise BadInput(f"{path} does not exist")
    if not found:
        raise BadInput(f"no images in {', '.join(map(str, paths))}")
    return found


CSV_COLUMNS = ("image", "class_id", "class_name", "confidence", "x1", "y1", "x2", "y2")


def predict_images(model: Model, images: Sequence[Path], conf: float | None = None, iou: float | None = None,
                   progress: Progress | None = None) -> list[dict[str, Any]]:
    """``{"image", "predictions"}`` per image: what ``ModelWrapper.predict(image, conf, iou)`` gives."""
    rows = []
    for index, image in enumerate(images):
        rgb = read_image(image)
        outputs, transform = model.run(rgb)
        shape = (int(rgb.shape[0]), int(rgb.shape[1]))
        found = model.postprocess.decode(outputs, transform, shape, conf, iou)
        rows.append({"image": str(image), "predictions": [_plain(p) for p in found]})
        if progress is not None:
            progress(index + 1, len(images))
    return rows


def _plain(prediction: dict[str, Any]) -> dict[str, Any]:
    """A prediction without its mask array (JSON and CSV carry boxes, classes and scores)."""
    return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in prediction.items() if k != "mask"}


def csv_text(rows: Sequence[dict[str, Any]], task: str) -> str:
    """One line per detection (an image without any: one line with empty fields); one per image
    for classifiers, its top-1."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    columns = CSV_COLUMNS if task != "classify" else CSV_COLUMNS[:4]
    writer.writerow(columns)
    for row in rows:
        found = row["predictions"][:1] if task == "classify" else row["predictions"]
        if not found:
            writer.writerow([row["image"], *[""] * (len(columns) - 1)])
        for p in found:
            box = [f"{v:.2f}" for v in p.get("bbox", [])][: len(columns) - 4]
            writer.writerow([row["image"], p["class_id"], p["class_name"], f"{p['confidence']:.6f}", *box])
    return out.getvalue()


def write_predictions(rows: Sequence[dict[str, Any]], task: str, path: Path) -> Path:
    """CSV or JSON by the suffix, written whole or not at all (a partial file is renamed at the end)."""
    path = Path(path)
    text = csv_text(rows, task) if path.suffix.lower() == ".csv" else json.dumps(list(rows), indent=1) + "\n"
    write_whole(path, text)
    return path


def write_whole(path: Path, text: str) -> None:
    partial = path.with_name(path.name + PARTIAL_SUFFIX)
    try:
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
