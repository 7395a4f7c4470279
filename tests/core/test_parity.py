from __future__ import annotations

import numpy as np
import pytest

from core.parity import Agreement, OutputDiff, box_iou, match_boxes, pixel_agreement, polygon_iou


def det(cls: int, box: list[float]) -> dict[str, object]:
    return {"class_id": cls, "bbox": box}


def test_box_iou() -> None:
    a = np.array([[0, 0, 10, 10]], dtype=float)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], dtype=float)
    assert box_iou(a, b).round(3).tolist() == [[1.0, 0.333, 0.0]]


def test_boxes_match_only_same_class_and_high_iou() -> None:
    ref = [det(0, [0, 0, 10, 10]), det(1, [20, 20, 40, 40])]
    assert match_boxes(ref, [det(0, [0, 0, 10, 10.2]), det(1, [20, 20, 40, 40])], 0.9)[0] == 2
    assert match_boxes(ref, [det(1, [0, 0, 10, 10]), det(1, [20, 20, 40, 40])], 0.9)[0] == 1
    assert match_boxes(ref, [det(0, [0, 0, 10, 14]), det(1, [20, 20, 40, 40])], 0.9)[0] == 1
    assert match_boxes(ref, [], 0.9)[0] == 0
    assert match_boxes([], [det(0, [0, 0, 1, 1])], 0.9) == (0, 1.0)


def test_one_candidate_cannot_match_two_references() -> None:
    ref = [det(0, [0, 0, 10, 10]), det(0, [0, 0, 10, 10.1])]
    assert match_boxes(ref, [det(0, [0, 0, 10, 10])], 0.9)[0] == 1


def test_output_diff_tolerance_scales_with_magnitude() -> None:
    diff = OutputDiff("out")
    ref = np.array([[600.0, 0.5]])
    diff.add(ref, ref + np.array([[0.3, 0.0]]))
    report = diff.report(atol=1e-4, rtol=1e-3)
    assert report["passed"] and report["max_abs_diff"] == pytest.approx(0.3)
    diff.add(ref, ref + np.array([[0.0, 0.7]]))
    assert not diff.report(atol=1e-4, rtol=1e-3)["passed"]
    with pytest.raises(ValueError, match="shape"):
        diff.add(ref, ref[:, :1])


def test_agreement_report() -> None:
    agreement = Agreement("top1_agreement")
    agreement.add("a.jpg", 1, 1)
    agreement.add("b.jpg", 0, 1)
    report = agreement.report(required=1.0)
    assert report["value"] == 0.5 and not report["passed"]
    assert report["images_disagreeing"] == ["b.jpg"]


def test_nothing_compared_never_passes() -> None:
    """'0 of 0 boxes agree' is not agreement: the report says nothing was compared."""
    report = Agreement("box_agreement").report(required=0.9)
    assert not report["passed"] and report["total"] == 0 and report["note"] == "nothing was compared"


def rotated(cls: int, cx: float, cy: float, w: float, h: float, angle: float) -> dict[str, object]:
    c, s = np.cos(angle), np.sin(angle)
    corners = [(cx + dx * c - dy * s, cy + dx * s + dy * c)
               for dx, dy in ((-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2))]
    xs, ys = [p[0] for p in corners], [p[1] for p in corners]
    return {"class_id": cls, "bbox": [min(xs), min(ys), max(xs), max(ys)], "polygon": corners}


def test_rotated_boxes_match_as_polygons() -> None:
    """Two boxes at 0 and 45 degrees share their axis-aligned bounds only loosely; as polygons
    a 45-degree turn of a square leaves an IoU of about 0.71."""
    square = rotated(0, 50, 50, 20, 20, 0.0)
    turned = rotated(0, 50, 50, 20, 20, np.pi / 4)
    assert polygon_iou(np.asarray(square["polygon"]), np.asarray(turned["polygon"])) == pytest.approx(
        0.7071, abs=1e-3)
    assert match_boxes([square], [turned], 0.9)[0] == 0
    assert match_boxes([square], [rotated(0, 50.2, 50, 20, 20, 0.01)], 0.9)[0] == 1
    long_box = rotated(0, 50, 50, 40, 4, 0.3)
    assert match_boxes([long_box], [rotated(0, 50, 50, 40, 4, 0.3 + np.pi / 2)], 0.5)[0] == 0


def test_a_matched_box_must_carry_the_same_mask_and_keypoints() -> None:
    mask = np.zeros((20, 20), bool)
    mask[2:10, 2:10] = True
    other = np.zeros((20, 20), bool)
    other[10:18, 10:18] = True
    ref = {**det(0, [0, 0, 10, 10]), "mask": mask}
    assert match_boxes([ref], [{**det(0, [0, 0, 10, 10]), "mask": mask.copy()}], 0.9)[0] == 1
    assert match_boxes([ref], [{**det(0, [0, 0, 10, 10]), "mask": other}], 0.9)[0] == 0
    kp = [[2.0, 2.0, 1.0], [8.0, 8.0, 0.0]]
    pose = {**det(0, [0, 0, 10, 10]), "keypoints": kp}
    near = {**det(0, [0, 0, 10, 10]), "keypoints": [[2.5, 2, 1], [0, 0, 0]]}  # the unseen one moved
    far = {**det(0, [0, 0, 10, 10]), "keypoints": [[6.0, 2, 1], [8, 8, 0]]}
    assert match_boxes([pose], [near], 0.9)[0] == 1
    assert match_boxes([pose], [far], 0.9)[0] == 0


def test_pixel_agreement() -> None:
    a = np.zeros((10, 10), int)
    b = a.copy()
    b[0, :5] = 3
    assert pixel_agreement(a, b) == pytest.approx(0.95)
    assert pixel_agreement(a, b[:5]) == 0.0


def test_queries_picked_in_another_order_are_aligned_by_one_permutation() -> None:
    """RT-DETR picks its queries with a top-k; two runtimes may list them in different orders.
    Logits and boxes move together: aligned, they equal the reference row for row."""
    from core.parity import align_queries

    rng = np.random.default_rng(0)
    logits, boxes = rng.normal(size=(2, 6, 3)), rng.uniform(size=(2, 6, 4))
    perm = np.array([3, 0, 5, 1, 4, 2])
    aligned = align_queries([logits, boxes], [logits[:, perm], boxes[:, perm]])
    assert np.array_equal(aligned[0], logits) and np.array_equal(aligned[1], boxes)
    # a query that really differs still differs after alignment
    changed = boxes.copy()
    changed[0, 2] += 0.5
    assert np.abs(align_queries([logits, boxes], [logits, changed])[1] - boxes).max() >= 0.5
