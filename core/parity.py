"""Parity arithmetic: how far an exported model's answers are from the original's.

Pure numpy, no model code: the worker runs both models and hands the outputs
here. Two questions are asked of every export:

* raw outputs: ``max|exported - original| <= atol + rtol * max|original|`` for
  each output tensor, on the same input tensor;
* task agreement: the same top-1 class (classifiers), or every confident
  reference box matched by an exported box of the same class at IoU >= box_iou
  (detectors).
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


def match_boxes(
    reference: list[dict[str, Any]], candidates: list[dict[str, Any]], min_iou: float
) -> tuple[int, float]:
    """How many reference boxes a candidate of the same class covers at IoU >= min_iou.

    Returns (matched count, lowest IoU among the matches). Each candidate matches
    at most one reference box, best IoU first.
    """
    if not reference:
        return 0, 1.0
    ref = np.asarray([p["bbox"] for p in reference], dtype=np.float64).reshape(-1, 4)
    cand = np.asarray([p["bbox"] for p in candidates], dtype=np.float64).reshape(-1, 4)
    iou = box_iou(ref, cand)
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
            matched += 1
            worst = min(worst, float(iou[i, j]))
            break
    return matched, worst


@dataclass
class Agreement:
    """Task-level agreement, accumulated image by image."""

    metric: str  # top1_agreement | box_agreement
    agreed: int = 0
    total: int = 0
    images_disagreeing: list[str] = field(default_factory=list)
    worst_iou: float = 1.0

    def add(self, image: str, agreed: int, total: int, worst_iou: float = 1.0) -> None:
        self.agreed += agreed
        self.total += total
        self.worst_iou = min(self.worst_iou, worst_iou)
        if agreed < total:
            self.images_disagreeing.append(image)

    @property
    def value(self) -> float:
        return self.agreed / self.total if self.total else 1.0

    def report(self, required: float) -> dict[str, Any]:
        out: dict[str, Any] = {
            "metric": self.metric,
            "value": self.value,
            "agreed": self.agreed,
            "total": self.total,
            "required": required,
            "passed": self.value >= required,
        }
        if self.metric == "box_agreement":
            out["lowest_matched_iou"] = self.worst_iou
        if self.images_disagreeing:
            out["images_disagreeing"] = self.images_disagreeing[:10]
        return out


def top1_agrees(reference: list[dict[str, Any]], exported: list[dict[str, Any]]) -> bool:
    return bool(reference and exported and reference[0]["class_id"] == exported[0]["class_id"])
