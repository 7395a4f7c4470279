"""The Compare view's arithmetic: boxes grouped as same / moved / relabelled / missing / extra,
a changed top-1, the raw-output error and the gate's tolerance."""

from __future__ import annotations

import numpy as np
import pytest

from core.compare import compare_image, match_boxes, output_error


def box(class_id: int, x1: float, y1: float, x2: float, y2: float, name: str = "") -> dict:
    return {"class_id": class_id, "class_name": name or f"c{class_id}", "confidence": 0.9,
            "bbox": [x1, y1, x2, y2]}


def test_every_box_lands_in_one_group_best_iou_first() -> None:
    original = [box(0, 0, 0, 100, 100), box(1, 200, 200, 300, 300), box(2, 400, 0, 500, 100),
                box(0, 0, 400, 50, 450)]
    exported = [box(0, 1, 1, 100, 100),        # the same box
                box(1, 230, 230, 330, 330),    # moved: IoU about 0.32
                box(3, 400, 0, 500, 100),      # another class in the same place
                box(4, 600, 600, 650, 650)]    # found only by the export
    diffs = match_boxes(original, exported)
    by_status = {d.status: d for d in diffs}
    assert sorted(d.status for d in diffs) == ["extra", "missing", "moved", "relabelled", "same"]
    assert by_status["same"].iou > 0.95
    assert 0.3 <= by_status["moved"].iou < 0.9
    assert by_status["missing"].original == original[3] and by_status["missing"].exported is None
    assert by_status["extra"].exported == exported[3] and by_status["extra"].original is None
    result = compare_image("detect", [], [], original, exported, "yolo_detect", outputs_comparable=False)
    assert result.agreement == pytest.approx(1 / 4)
    assert result.differences == ["1 box moved", "1 box relabelled", "1 box missing", "1 box extra"]
    assert result.max_abs_diff is None and "NMS" in (result.outputs_note or "")


def test_a_box_taken_once() -> None:
    """Two original boxes over one exported box: one matches, the other is missing."""
    diffs = match_boxes([box(0, 0, 0, 10, 10), box(0, 0, 0, 10, 10.5)], [box(0, 0, 0, 10, 10)])
    assert sorted(d.status for d in diffs) == ["missing", "same"]


def test_a_changed_top1_and_the_output_error_against_the_tolerance() -> None:
    ref = [np.array([[1.0, 3.0, 2.0]], dtype=np.float32)]
    exp = [np.array([[1.0, 2.0, 3.5]], dtype=np.float32)]
    top = [{"class_id": 1, "class_name": "cat", "confidence": 0.6}]
    changed = [{"class_id": 2, "class_name": "dog", "confidence": 0.7}]
    result = compare_image("classify", ref, exp, top, changed, "classification", tolerance=(1e-4, 1e-3))
    assert result.max_abs_diff == pytest.approx(1.5)
    assert result.within_tolerance is False and result.agreement == 0.0
    assert result.differences == ["raw outputs beyond the gate's tolerance (max abs diff 1.5)",
                                  "top-1 changed: cat → dog"]
    same = compare_image("classify", ref, [ref[0] + 1e-4], top, top, "classification", tolerance=(1e-4, 1e-3))
    assert same.within_tolerance is True and not same.differs and same.agreement == 1.0
    # INT8 has no tolerance: the error is shown, not judged
    assert output_error(ref, exp, "classification", (None, None))[1] is None
    assert output_error(ref, [np.zeros((1, 4))], "classification")[0] is None


def test_semantic_class_maps_from_masks() -> None:
    left = np.zeros((4, 4), dtype=bool)
    left[:, :2] = True
    wider = np.zeros((4, 4), dtype=bool)
    wider[:, :3] = True
    original = [{"class_id": 1, "class_name": "road", "confidence": 0.9, "mask": left}]
    exported = [{"class_id": 1, "class_name": "road", "confidence": 0.9, "mask": wider}]
    result = compare_image("semantic", [], [], original, exported, "semantic_logits",
                           outputs_comparable=False)
    assert result.pixel_agreement == pytest.approx(0.75)
    assert result.differences == ["25.0% of pixels change class"]


def test_the_gates_agreement_lists_each_image_for_the_parity_tabs_chart() -> None:
    from core.parity import Agreement

    agreement = Agreement("box_agreement")
    agreement.add("a.jpg", 3, 3)
    agreement.add("b.jpg", 1, 2)
    report = agreement.report(required=1.0)
    assert report["per_image"] == [{"image": "a.jpg", "agreed": 3, "total": 3},
                                   {"image": "b.jpg", "agreed": 1, "total": 2}]
    assert report["images_disagreeing"] == ["b.jpg"]
