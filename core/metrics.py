"""Accuracy metrics for an original model and its exported copy, from one implementation.

Why this exists: a parity check says the exported model answers like the original on a
handful of inputs; users also want the familiar dataset-level numbers (top-1/top-5, mAP)
for both. If the original's numbers came from its training framework and the export's from
somewhere else, any gap could be a metric difference rather than an export difference. So
both models' outputs are scored here, by the same numpy code.

The detection numbers reproduce what Ultralytics' validator reports (checked against its own
functions in the tests), because that is the number users already know for their model:

* matching, per image and per IoU threshold t in 0.50:0.95 (step 0.05): predictions are taken
  in descending score order; each claims the not-yet-claimed ground-truth box of its own class
  with the highest IoU, and is a true positive if that IoU >= t (one-to-one per threshold);
* AP per class and threshold: predictions of the class over all images sorted by descending
  score, cumulative precision/recall, the curve (0, 1) + points + (last recall, 0) + (1, 0),
  its precision envelope made non-increasing from the right, sampled at 101 recall points and
  integrated with the trapezoid rule. Like Ultralytics (and unlike pycocotools), a perfect
  detector scores 0.995, not 1.0: the envelope is 0 at recall 1.0 itself;
* mAP: mean over the classes that have at least one ground-truth instance;
* precision/recall: each class's P and R at IoU 0.5, read off a 1000-point confidence grid
  (scores are assumed to be confidences in [0, 1]) at the confidence that maximises the
  box-filter-smoothed, class-averaged F1 curve, then averaged over the same classes.

Stdlib and numpy only: ``core`` never imports an ML framework.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

# Decimal-exact thresholds, so an IoU that is exactly 0.55 (integer boxes) counts at 0.55.
IOU_THRESHOLDS = np.round(np.linspace(0.5, 0.95, 10), 2)
_RECALL_POINTS = np.linspace(0.0, 1.0, 101)  # COCO's 101 recall samples
_CONFIDENCE_GRID = np.linspace(0.0, 1.0, 1000)  # where P, R and F1 are read
_F1_SMOOTHING = 0.1  # box filter width, as a fraction of the grid
_EPS = 1e-16


@dataclass(frozen=True, eq=False)
class Detections:
    """One image's predictions: boxes (M, 4) xyxy in pixels, scores (M,), classes (M,)."""

    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray

    def __post_init__(self) -> None:
        boxes = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4)
        scores = np.asarray(self.scores, dtype=np.float64).reshape(-1)
        classes = np.asarray(self.classes).astype(np.int64).reshape(-1)
        if not len(boxes) == len(scores) == len(classes):
            raise ValueError(f"{len(boxes)} boxes, {len(scores)} scores and {len(classes)} classes")
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "classes", classes)


@dataclass(frozen=True, eq=False)
class GroundTruth:
    """One image's labels: boxes (N, 4) xyxy in pixels, classes (N,)."""

    boxes: np.ndarray
    classes: np.ndarray

    def __post_init__(self) -> None:
        boxes = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4)
        classes = np.asarray(self.classes).astype(np.int64).reshape(-1)
        if len(boxes) != len(classes):
            raise ValueError(f"{len(boxes)} boxes but {len(classes)} classes")
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "classes", classes)


def _check_ids(ids: np.ndarray, n_classes: int, what: str) -> None:
    if ids.size and (ids.min() < 0 or ids.max() >= n_classes):
        raise ValueError(f"{what} class ids must lie in [0, {n_classes}); got {ids.min()}..{ids.max()}")


# --------------------------------------------------------------------------- classification


def classification_metrics(
    true_ids: Sequence[int], scores: np.ndarray, class_names: list[str]
) -> dict[str, Any]:
    """Top-1 / top-5 accuracy overall and top-1 per class.

    scores: (N, C) per-image class scores (logits or probabilities; only the ranking matters).
    Exact ties rank the lower class index first (what ``argmax`` does); NaN ranks last and a
    NaN score for the true class is never a hit, so a broken export cannot look right.
    top5 uses min(5, C) classes. Classes with no images are left out of per_class.
    """
    truth = np.asarray(true_ids, dtype=np.int64).reshape(-1)
    table = np.asarray(scores, dtype=np.float64)
    if table.shape != (len(truth), len(class_names)):
        expected = (len(truth), len(class_names))
        raise ValueError(f"scores must have shape (images, classes) = {expected}, not {table.shape}")
    _check_ids(truth, len(class_names), "true")
    rows = np.arange(len(truth))
    broken = np.isnan(table[rows, truth])  # a NaN score for the true class is never a hit
    table = np.where(np.isnan(table), -np.inf, table)
    own = table[rows, truth][:, None]
    columns = np.arange(table.shape[1])[None, :]
    # How many classes rank before the true one.
    rank = ((table > own) | ((table == own) & (columns < truth[:, None]))).sum(axis=1)
    hit1, hit5 = (rank < 1) & ~broken, (rank < min(5, table.shape[1])) & ~broken
    per_class = {
        name: {"images": int(mask.sum()), "top1": float(hit1[mask].mean())}
        for cls, name in enumerate(class_names)
        if (mask := truth == cls).any()
    }
    return {
        "images": len(truth),
        "top1": float(hit1.mean()) if len(truth) else 0.0,
        "top5": float(hit5.mean()) if len(truth) else 0.0,
        "per_class": per_class,
    }


# --------------------------------------------------------------------------- detection


def pairwise_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in a (N, 4) with every box in b (M, 4), xyxy, as (N, M)."""
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(bottom_right - top_left, 0.0, None)
    inter = wh[..., 0] * wh[..., 1]
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _true_positives(pred: Detections, order: np.ndarray, gt: GroundTruth) -> np.ndarray:
    """(M, T) hits for one image's predictions taken in ``order`` (descending score).

    For each threshold separately, a prediction claims the best still-unclaimed box of its
    class; it is a hit when that box overlaps it by at least the threshold.
    """
    hits = np.zeros((len(order), len(IOU_THRESHOLDS)), dtype=bool)
    if not len(order) or not len(gt.classes):
        return hits
    iou = pairwise_iou(pred.boxes[order], gt.boxes)  # (M, N)
    iou[pred.classes[order][:, None] != gt.classes[None, :]] = 0.0
    claimed = np.zeros((len(gt.classes), len(IOU_THRESHOLDS)), dtype=bool)
    columns = np.arange(len(IOU_THRESHOLDS))
    for m in np.flatnonzero(iou.max(axis=1) >= IOU_THRESHOLDS[0]):
        free = np.where(claimed, -1.0, iou[m][:, None])  # (N, T)
        best = free.argmax(axis=0)  # lowest index on ties
        hits[m] = free[best, columns] >= IOU_THRESHOLDS
        claimed[best[hits[m]], columns[hits[m]]] = True
    return hits


def _average_precision(recall: np.ndarray, precision: np.ndarray) -> float:
    """101-point interpolated AP of one precision/recall curve (see the module docstring)."""
    last_recall = recall[-1] if len(recall) else 1.0
    r = np.concatenate(([0.0], recall, [last_recall, 1.0]))
    p = np.concatenate(([1.0], precision, [0.0, 0.0]))
    envelope = np.maximum.accumulate(p[::-1])[::-1]
    return float(np.trapezoid(np.interp(_RECALL_POINTS, r, envelope), _RECALL_POINTS))


def _box_smooth(y: np.ndarray, fraction: float) -> np.ndarray:
    """Moving average over an odd window of ``fraction`` of len(y) each side, edges held flat."""
    width = round(len(y) * fraction * 2) // 2 + 1
    pad = width // 2
    padded = np.concatenate((np.full(pad, y[0]), y, np.full(pad, y[-1])))
    return np.convolve(padded, np.ones(width) / width, mode="valid")


def detection_metrics(
    predictions: Sequence[Detections], ground_truth: Sequence[GroundTruth], class_names: list[str]
) -> dict[str, Any]:
    """Precision, recall, mAP50 and mAP50-95 over a dataset, as Ultralytics' validator reports them.

    predictions[i] and ground_truth[i] describe the same image. Predictions of images without
    labels are false positives. per_class lists the classes with at least one instance (the
    ones averaged into the means). Exact score ties are broken by image order, then by order
    within the image (Ultralytics' unstable sort may order exact ties differently).
    """
    if len(predictions) != len(ground_truth):
        raise ValueError(f"{len(predictions)} prediction sets for {len(ground_truth)} images")
    n_classes = len(class_names)
    hit_rows: list[np.ndarray] = []
    score_rows: list[np.ndarray] = []
    class_rows: list[np.ndarray] = []
    for pred, gt in zip(predictions, ground_truth, strict=True):
        _check_ids(pred.classes, n_classes, "predicted")
        _check_ids(gt.classes, n_classes, "ground-truth")
        order = np.argsort(-pred.scores, kind="stable")
        hit_rows.append(_true_positives(pred, order, gt))
        score_rows.append(pred.scores[order])
        class_rows.append(pred.classes[order])
    instances = np.bincount(
        np.concatenate([gt.classes for gt in ground_truth] or [np.zeros(0, np.int64)]), minlength=n_classes
    )
    result: dict[str, Any] = {
        "images": len(ground_truth),
        "instances": int(instances.sum()),
        "precision": 0.0,
        "recall": 0.0,
        "mAP50": 0.0,
        "mAP50-95": 0.0,
        "per_class": {},
    }
    labelled = np.flatnonzero(instances)
    if not len(labelled):
        return result
    hits = np.concatenate(hit_rows) if hit_rows else np.zeros((0, len(IOU_THRESHOLDS)), bool)
    scores = np.concatenate(score_rows) if score_rows else np.zeros(0)
    classes = np.concatenate(class_rows) if class_rows else np.zeros(0, np.int64)
    ranking = np.argsort(-scores, kind="stable")
    hits, scores, classes = hits[ranking], scores[ranking], classes[ranking]

    ap = np.zeros((len(labelled), len(IOU_THRESHOLDS)))
    p_curve = np.zeros((len(labelled), len(_CONFIDENCE_GRID)))
    r_curve = np.zeros_like(p_curve)
    for row, cls in enumerate(labelled):
        mine = classes == cls
        if not mine.any():
            continue  # labelled but never predicted: AP 0, and P = R = 0 at every confidence
        tp = np.cumsum(hits[mine], axis=0, dtype=np.float64)
        fp = np.cumsum(~hits[mine], axis=0, dtype=np.float64)
        recall = tp / instances[cls]
        precision = tp / (tp + fp)
        for t in range(len(IOU_THRESHOLDS)):
            ap[row, t] = _average_precision(recall[:, t], precision[:, t])
        # Scores descend, so interpolate on their negatives; above the top score P=1, R=0.
        p_curve[row] = np.interp(-_CONFIDENCE_GRID, -scores[mine], precision[:, 0], left=1.0)
        r_curve[row] = np.interp(-_CONFIDENCE_GRID, -scores[mine], recall[:, 0], left=0.0)

    f1 = 2 * p_curve * r_curve / (p_curve + r_curve + _EPS)
    best = int(_box_smooth(f1.mean(axis=0), _F1_SMOOTHING).argmax())
    result["precision"] = float(p_curve[:, best].mean())
    result["recall"] = float(r_curve[:, best].mean())
    result["mAP50"] = float(ap[:, 0].mean())
    result["mAP50-95"] = float(ap.mean())
    result["per_class"] = {
        class_names[cls]: {
            "instances": int(instances[cls]),
            "AP50": float(ap[row, 0]),
            "AP50-95": float(ap[row].mean()),
        }
        for row, cls in enumerate(labelled)
    }
    return result
