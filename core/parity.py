"""Parity arithmetic: how far an exported model's answers are from the original's.

Pure numpy, no model code: the worker runs both models and hands the outputs
here. Two questions are asked of every export:

* raw outputs: ``max|exported - original| <= atol + rtol * max|original|`` for
  each output tensor, on the same input tensor;
* task agreement: the same top-1 class (classifiers); every confident reference
  box matched by an exported box of the same class at IoU >= box_iou (detectors;
  rotated boxes as polygons), carrying the same mask and keypoints where the task
  has them; the same class on (nearly) every pixel (semantic segmentation).

An agreement that compared nothing (no box anywhere) never passes: it says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class OutputDiff:
    name: str
    max_abs_diff: float = 0.0
    sum_abs_diff: float = 0.0
    count: int = 0
    max_reference: float = 0.0

    def add(self, reference: np.ndarray, exported: np.ndarray) -> None:
        if reference.shape != exported.shape:
            raise ValueError(
                f"output '{self.name}' has shape {exported.shape}; the original has {reference.shape}"
            )
        diff = np.abs(reference.astype(np.float64) - exported.astype(np.float64))
        self.max_abs_diff = max(self.max_abs_diff, float(diff.max(initial=0.0)))
        self.sum_abs_diff += float(diff.sum())
        self.count += diff.size
        self.max_reference = max(self.max_reference, float(np.abs(reference).max(initial=0.0)))

    def tolerance(self, atol: float, rtol: float) -> float:
        return atol + rtol * self.max_reference

    def report(self, atol: float | None, rtol: float | None) -> dict[str, Any]:
        """With no tolerance (INT8 exports) the difference is reported, not judged."""
        tol = None if atol is None or rtol is None else self.tolerance(atol, rtol)
        return {
            "max_abs_diff": self.max_abs_diff,
            "mean_abs_diff": self.sum_abs_diff / max(self.count, 1),
            "max_abs_reference": self.max_reference,
            "tolerance": tol,
            "passed": tol is None or self.max_abs_diff <= tol,
        }


def _row_order(reference: np.ndarray, exported: np.ndarray) -> list[int]:
    """For each reference row (rows, values) the exported row paired with it: first the
    pairs that are each other's closest, then, best first, the closest unused row. (Pairing
    greedily from the start, a row that only one run has would take another's counterpart,
    and that one the next: one odd row would spoil a chain of pairs.)"""
    dist = np.abs(reference[:, None, :].astype(np.float64) - exported[None, :, :]).max(axis=-1)
    nearest, nearest_back = dist.argmin(axis=1), dist.argmin(axis=0)
    order = [int(j) if nearest_back[j] == i else -1 for i, j in enumerate(nearest)]
    free = np.ones(dist.shape[1], dtype=bool)
    free[[j for j in order if j >= 0]] = False
    for i, j in enumerate(order):
        if j < 0:
            order[i] = int(np.argmin(np.where(free, dist[i], np.inf)))
            free[order[i]] = False
    return order


def align_rows(reference: np.ndarray, exported: np.ndarray) -> np.ndarray:
    """Rows of final detections (batch, rows, values), best first, come out of a top-k
    (NMS-free heads, RT-DETR) whose order among nearly equal scores is not defined: two
    runtimes list the same detections in different orders. Returns the exported rows
    reordered so each reference row, best first, is paired with the closest unused
    exported row (max abs difference), so the raw outputs can be compared row by row."""
    if reference.shape != exported.shape or reference.ndim != 3:
        return exported
    return np.stack([exported[b][_row_order(reference[b], exported[b])] for b in range(len(reference))])


def align_queries(reference: list[np.ndarray], exported: list[np.ndarray]) -> list[np.ndarray]:
    """Set-prediction outputs (batch, queries, values) of a detector that picks its queries
    with a top-k (Hugging Face RT-DETR, D-FINE): as with ``align_rows``, the order of
    near-equal picks is not defined. The exported outputs, reordered by one permutation of
    the queries (the same for every output), found on the outputs side by side."""
    if len(reference) != len(exported) or any(r.shape[:2] != e.shape[:2] or r.ndim != 3
                                              for r, e in zip(reference, exported, strict=True)):
        return exported
    joined_ref, joined_exp = np.concatenate(reference, axis=-1), np.concatenate(exported, axis=-1)
    orders = [_row_order(joined_ref[b], joined_exp[b]) for b in range(len(joined_ref))]
    return [np.stack([e[b][order] for b, order in enumerate(orders)]) for e in exported]


ROW_SCORE = 4  # the score's column in rows of final detections (box, score, class, extras)


@dataclass
class SelectionTies:
    """Rows of a top-k output (RT-DETR's queries, an NMS-free head's detections) that only
    one run selected. A graph that picks its rows with a top-k keeps, at the cut, whichever
    of two near-equal scores rounds higher: one runtime's row is another query than the
    original's, and nothing pairs it (nor the box it decodes to). Up to ``max(2, rows // 100)``
    such rows per image are left out of the raw and the box comparison, and counted in the
    report; more than that is a divergence, compared as it is. Only where the raw outputs are
    held to a tolerance (not INT8)."""

    atol: float | None
    rtol: float | None
    rows: int = 0

    def paired(self, reference: np.ndarray, exported: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(the exported rows aligned to the reference's, the mask of the pairs to compare)."""
        rows = align_rows(reference, exported)
        return rows, self.keep(reference, rows)

    def keep(self, reference: np.ndarray, exported: np.ndarray) -> np.ndarray:
        """A (batch, rows) mask of the row pairs to compare, exported rows already aligned."""
        mask = np.ones(reference.shape[:2], dtype=bool)
        if self.atol is None or self.rtol is None or reference.shape != exported.shape or reference.ndim != 3:
            return mask
        tolerance = self.atol + self.rtol * float(np.abs(reference).max(initial=0.0))
        distance = np.abs(reference.astype(np.float64) - exported.astype(np.float64)).max(axis=-1)
        limit = max(2, reference.shape[1] // 100)
        for b, row_distance in enumerate(distance):
            unpaired = np.flatnonzero(row_distance > tolerance)
            if 0 < len(unpaired) <= limit:
                mask[b, unpaired] = False
                self.rows += len(unpaired)
        return mask

    @staticmethod
    def silenced(rows: np.ndarray, keep: np.ndarray) -> np.ndarray:
        """``rows`` (box, score, class, extras) with the score of the rows left out set to 0: a
        detection only one run selected is not compared as a box either."""
        if keep.all():
            return rows
        quiet = rows.copy()
        quiet[..., ROW_SCORE][~keep] = 0
        return quiet

    def note(self) -> str | None:
        if not self.rows:
            return None
        return (f"{self.rows} row(s) of the top-k output had no counterpart (near-equal scores at "
                "the selection cut: another query in each run); raw values and boxes compared "
                "over the rest")


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix between xyxy boxes a (N, 4) and b (M, 4)."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return np.asarray(inter / (area_a[:, None] + area_b[None, :] - inter + 1e-9))


def polygon_area(poly: np.ndarray) -> float:
    x, y = poly[:, 0], poly[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def _clip(subject: np.ndarray, a: np.ndarray, b: np.ndarray, sign: float) -> np.ndarray:
    """The part of a polygon on the inner side of the edge a→b (Sutherland–Hodgman)."""
    def inside(p: np.ndarray) -> bool:
        return bool(sign * ((b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])) >= 0)

    def crossing(p: np.ndarray, q: np.ndarray) -> np.ndarray:
        d1, d2 = p - q, a - b
        denom = d1[0] * d2[1] - d1[1] * d2[0]
        if denom == 0:
            return q
        t = ((p[0] - a[0]) * d2[1] - (p[1] - a[1]) * d2[0]) / denom
        return np.asarray(p - t * d1)

    out: list[np.ndarray] = []
    for i in range(len(subject)):
        p, q = subject[i], subject[i - 1]
        if inside(p):
            if not inside(q):
                out.append(crossing(q, p))
            out.append(p)
        elif inside(q):
            out.append(crossing(q, p))
    return np.asarray(out).reshape(-1, 2)


def polygon_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two convex polygons (rotated boxes as their four corners)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    area_a, area_b = polygon_area(a), polygon_area(b)
    if area_a <= 0 or area_b <= 0:
        return 0.0
    (ax, ay), (bx, by) = b[1] - b[0], b[2] - b[1]
    sign = 1.0 if ax * by - ay * bx >= 0 else -1.0
    inter = a
    for i in range(len(b)):
        if len(inter) == 0:
            return 0.0
        inter = _clip(inter, b[i - 1], b[i], sign)
    common = polygon_area(inter) if len(inter) >= 3 else 0.0
    return common / (area_a + area_b - common + 1e-9)


def _iou_matrix(reference: list[dict[str, Any]], candidates: list[dict[str, Any]]) -> np.ndarray:
    if reference and "polygon" in reference[0]:  # rotated boxes
        return np.asarray([[polygon_iou(np.asarray(r["polygon"]), np.asarray(c["polygon"]))
                            for c in candidates] for r in reference]).reshape(len(reference), -1)
    ref = np.asarray([p["bbox"] for p in reference], dtype=np.float64).reshape(-1, 4)
    cand = np.asarray([p["bbox"] for p in candidates], dtype=np.float64).reshape(-1, 4)
    return box_iou(ref, cand)


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def keypoints_close(reference: dict[str, Any], candidate: dict[str, Any], min_iou: float) -> bool:
    """Every keypoint the reference sees lies within (1 - min_iou) of the box diagonal."""
    ref = np.asarray(reference["keypoints"], dtype=np.float64)
    cand = np.asarray(candidate["keypoints"], dtype=np.float64)
    if ref.shape != cand.shape:
        return False
    x1, y1, x2, y2 = reference["bbox"]
    limit = (1.0 - min_iou) * max(float(np.hypot(x2 - x1, y2 - y1)), 1.0)
    seen = ref[:, 2] > 0.5 if ref.shape[1] > 2 else np.ones(len(ref), dtype=bool)
    distance = np.hypot(*(ref[:, :2] - cand[:, :2]).T)
    return bool((distance[seen] <= limit).all())


def same_instance(reference: dict[str, Any], candidate: dict[str, Any], min_iou: float) -> bool:
    """A matched box also carries the same mask and keypoints, when the task has them."""
    masks = "mask" in reference and "mask" in candidate
    if masks and mask_iou(reference["mask"], candidate["mask"]) < min_iou:
        return False
    return not ("keypoints" in reference and not keypoints_close(reference, candidate, min_iou))


def match_boxes(
    reference: list[dict[str, Any]], candidates: list[dict[str, Any]], min_iou: float
) -> tuple[int, float]:
    """How many reference boxes a candidate of the same class covers at IoU >= min_iou.

    Rotated boxes (a ``polygon`` key) are compared as polygons; a match also needs the
    same mask (mask IoU >= min_iou) and keypoints (within (1 - min_iou) of the box
    diagonal) when the predictions carry them. Returns (matched count, lowest IoU
    among the matches). Each candidate matches at most one reference box, best IoU first.
    """
    if not reference:
        return 0, 1.0
    iou = _iou_matrix(reference, candidates)
    same = np.asarray([[r["class_id"] == c["class_id"] for c in candidates] for r in reference])
    if iou.size:
        iou = np.where(same.reshape(iou.shape), iou, 0.0)
    matched, worst = 0, 1.0
    used: set[int] = set()
    for i in np.argsort(-iou.max(axis=1, initial=0.0)) if iou.size else []:
        for j in np.argsort(-iou[i]):
            if int(j) in used or iou[i, j] < min_iou:
                continue
            used.add(int(j))
            if same_instance(reference[int(i)], candidates[int(j)], min_iou):
                matched += 1
                worst = min(worst, float(iou[i, j]))
            break
    return matched, worst


def pixel_agreement(reference: np.ndarray, candidate: np.ndarray) -> float:
    """The share of pixels two class maps label the same."""
    if reference.shape != candidate.shape:
        return 0.0
    return float((reference == candidate).mean()) if reference.size else 1.0


PER_IMAGE_MAX = 200  # images listed one by one in a report (the gate checks 16 by default)


@dataclass
class Agreement:
    """Task-level agreement, accumulated image by image."""

    metric: str  # top1_agreement | box_agreement | pixel_agreement
    agreed: int = 0
    total: int = 0
    images_disagreeing: list[str] = field(default_factory=list)
    worst_iou: float = 1.0  # the lowest matched IoU (boxes) or pixel agreement (class maps)
    per_image: list[dict[str, Any]] = field(default_factory=list)  # the app's per-image chart

    def add(self, image: str, agreed: int, total: int, worst_iou: float = 1.0) -> None:
        self.agreed += agreed
        self.total += total
        self.per_image.append({"image": image, "agreed": agreed, "total": total})
        self.worst_iou = min(self.worst_iou, worst_iou)
        if agreed < total:
            self.images_disagreeing.append(image)

    @property
    def value(self) -> float:
        return self.agreed / self.total if self.total else 0.0

    def report(self, required: float) -> dict[str, Any]:
        """A check that compared nothing is reported as such and never passes."""
        out: dict[str, Any] = {
            "metric": self.metric,
            "value": self.value,
            "agreed": self.agreed,
            "total": self.total,
            "required": required,
            "passed": self.total > 0 and self.value >= required,
        }
        if self.total == 0:
            out["note"] = "nothing was compared"
        if self.metric == "box_agreement":
            out["lowest_matched_iou"] = self.worst_iou
        if self.metric == "pixel_agreement":
            out["lowest_pixel_agreement"] = self.worst_iou
        if self.images_disagreeing:
            out["images_disagreeing"] = self.images_disagreeing[:10]
        out["per_image"] = self.per_image[:PER_IMAGE_MAX]
        return out


def top1_agrees(reference: list[dict[str, Any]], exported: list[dict[str, Any]]) -> bool:
    return bool(reference and exported and reference[0]["class_id"] == exported[0]["class_id"])


def compare(task: str, reference: list[dict[str, Any]], candidates: list[dict[str, Any]],
            min_iou: float) -> tuple[int, int, float]:
    """(agreed, compared, lowest matched IoU) of two sets of predictions of one image."""
    if task == "classify":
        return int(top1_agrees(reference, candidates)), 1, 1.0
    matched, worst = match_boxes(reference, candidates, min_iou)
    return matched, len(reference), worst
