"""One image, the original model against one export: what the Compare view shows.

Pure arithmetic over what the two runs produced (raw outputs, decoded predictions):

* the output error: ``max|exported - original|`` over every raw output, on the same
  input tensor (top-k rows and set-prediction queries paired first, as the parity gate
  pairs them), and whether each output is within the gate's tolerance for the export's
  precision; not computed when NMS runs inside the exported graph;
* for classifiers, the top-1 of each and whether it changed;
* for box tasks, every box put in one group: ``same`` (same class, IoU >= ``box_iou``),
  ``moved`` (same class, IoU >= ``MOVED_IOU`` but below ``box_iou``), ``relabelled``
  (another class at IoU >= ``box_iou``), ``missing`` (an original box the export lacks)
  and ``extra`` (an export box the original lacks); pairs are taken best IoU first;
* for semantic segmentation, the share of pixels given the same class.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.parity import SelectionTies, align_queries, box_iou

BOX_IOU = 0.9  # the parity gate's default: a box at least this close is the same box
MOVED_IOU = 0.3  # a same-class box overlapping at least this much, but less than BOX_IOU: moved
BOX_TASKS = ("detect", "segment", "pose", "obb")
STATUSES = ("same", "moved", "relabelled", "missing", "extra")
Tolerance = tuple[float | None, float | None] | None  # the gate's (atol, rtol); None for INT8


@dataclass(frozen=True)
class BoxDiff:
    status: str  # one of STATUSES
    original: dict[str, Any] | None
    exported: dict[str, Any] | None
    iou: float = 0.0


@dataclass
class ImageComparison:
    """The original's and one export's answers on one image, compared."""

    task: str
    max_abs_diff: float | None
    outputs_note: str | None = None
    within_tolerance: bool | None = None  # raw outputs within the gate's tolerance (None: no tolerance)
    top1: tuple[str | None, str | None] = (None, None)  # (original, exported) top-1 class names
    boxes: list[BoxDiff] = field(default_factory=list)
    pixel_agreement: float | None = None

    def count(self, status: str) -> int:
        return sum(1 for b in self.boxes if b.status == status)

    @property
    def agreement(self) -> float | None:
        """Top-1 agreement (0 or 1), the share of the original's boxes found unchanged, or the
        pixel agreement; None when there was nothing to compare."""
        if self.task == "classify":
            return None if self.top1[0] is None else float(self.top1[0] == self.top1[1])
        if self.task == "semantic":
            return self.pixel_agreement
        originals = [b for b in self.boxes if b.original is not None]
        return self.count("same") / len(originals) if originals else None

    @property
    def differences(self) -> list[str]:
        """What differs, in words (empty when the export answers as the original does)."""
        found = []
        if self.within_tolerance is False:
            found.append(f"raw outputs beyond the gate's tolerance (max abs diff {self.max_abs_diff:.3g})")
        if self.task == "classify" and self.top1[0] != self.top1[1]:
            found.append(f"top-1 changed: {self.top1[0]} → {self.top1[1]}")
        if self.task == "semantic" and self.pixel_agreement is not None and self.pixel_agreement < 1.0:
            found.append(f"{1 - self.pixel_agreement:.1%} of pixels change class")
        for status in STATUSES[1:]:
            if n := self.count(status):
                found.append(f"{n} box{'es' if n > 1 else ''} {status}")
        return found

    @property
    def differs(self) -> bool:
        return bool(self.differences)


def output_error(original: list[np.ndarray], exported: list[np.ndarray], post_type: str,
                 tolerance: Tolerance = None) -> tuple[float | None, bool | None, str | None]:
    """(max abs difference over the raw outputs, whether every output is within the gate's
    tolerance ``atol + rtol·max|original|`` when one is given, a note: why it was not computed,
    or the top-k rows left out as the gate leaves them out, see ``SelectionTies``)."""
    if len(original) != len(exported):
        return None, None, f"the export has {len(exported)} outputs, the original {len(original)}"
    atol, rtol = tolerance or (None, None)
    ties = SelectionTies(atol, rtol)
    if post_type == "yolo_end2end":
        rows, keep = ties.paired(original[0], exported[0])
        original, exported = [original[0][keep], *original[1:]], [rows[keep], *exported[1:]]
    elif post_type == "set_prediction":
        exported = align_queries(original, exported)
    worst, within = 0.0, True
    for ref, exp in zip(original, exported, strict=True):
        if ref.shape != exp.shape:
            return None, None, f"output shapes differ: {list(exp.shape)} exported, {list(ref.shape)} original"
        if ref.size:
            diff = float(np.max(np.abs(ref.astype(np.float64) - exp.astype(np.float64))))
            worst = max(worst, diff)
            if atol is not None and rtol is not None:
                within = within and diff <= atol + rtol * float(np.max(np.abs(ref)))
    return worst, (within if atol is not None and rtol is not None else None), ties.note()


def match_boxes(original: list[dict[str, Any]], exported: list[dict[str, Any]],
                box_iou_min: float = BOX_IOU) -> list[BoxDiff]:
    """Every box of both runs in one group (see the module's docstring), best IoU first."""
    a = np.array([p["bbox"] for p in original], dtype=np.float64).reshape(-1, 4)
    b = np.array([p["bbox"] for p in exported], dtype=np.float64).reshape(-1, 4)
    iou = box_iou(a, b)
    free_a, free_b = set(range(len(original))), set(range(len(exported)))
    diffs: list[BoxDiff] = []
    rounds = (("same", box_iou_min, True), ("moved", MOVED_IOU, True), ("relabelled", box_iou_min, False))
    for status, floor, same_class in rounds:
        pairs = sorted(((iou[i, j], i, j) for i in free_a for j in free_b
                        if iou[i, j] >= floor
                        and (original[i]["class_id"] == exported[j]["class_id"]) == same_class),
                       reverse=True)
        for value, i, j in pairs:
            if i in free_a and j in free_b:
                free_a.discard(i)
                free_b.discard(j)
                diffs.append(BoxDiff(status, original[i], exported[j], float(value)))
    diffs += [BoxDiff("missing", original[i], None) for i in sorted(free_a)]
    diffs += [BoxDiff("extra", None, exported[j]) for j in sorted(free_b)]
    return diffs


def class_map(predictions: list[dict[str, Any]]) -> np.ndarray | None:
    """A semantic segmentation's class per pixel (-1 where no segment), from its masks."""
    with_masks = [p for p in predictions if p.get("mask") is not None]
    if not with_masks:
        return None
    labels = np.full(np.asarray(with_masks[0]["mask"]).shape, -1, dtype=np.int64)
    for p in with_masks:
        labels[np.asarray(p["mask"], dtype=bool)] = int(p["class_id"])
    return labels


def compare_image(task: str, original_outputs: list[np.ndarray], exported_outputs: list[np.ndarray],
                  original: list[dict[str, Any]], exported: list[dict[str, Any]], post_type: str,
                  outputs_comparable: bool = True, box_iou_min: float = BOX_IOU,
                  tolerance: Tolerance = None) -> ImageComparison:
    """Compare one image's runs; ``outputs_comparable`` is False when NMS runs inside the export;
    ``tolerance`` is the gate's (atol, rtol) for the export's precision."""
    if outputs_comparable:
        diff, within, note = output_error(original_outputs, exported_outputs, post_type, tolerance)
    else:
        diff, within, note = None, None, "raw outputs not compared: NMS runs inside the exported graph"
    result = ImageComparison(task, diff, note, within)
    if task == "classify":
        result.top1 = (original[0]["class_name"] if original else None,
                       exported[0]["class_name"] if exported else None)
    elif task == "semantic":
        ours, theirs = class_map(original), class_map(exported)
        if ours is not None and theirs is not None and ours.shape == theirs.shape:
            result.pixel_agreement = float(np.mean(ours == theirs))
    else:
        result.boxes = match_boxes(original, exported, box_iou_min)
    return result
