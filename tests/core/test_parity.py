from __future__ import annotations

import numpy as np
import pytest

from core.parity import Agreement, OutputDiff, box_iou, match_boxes


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
