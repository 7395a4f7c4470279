from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from core.metrics import Detections, GroundTruth, classification_metrics, detection_metrics

# Ultralytics' AP never reaches 1.0: its precision envelope is 0 at recall 1.0 itself, so the
# last of the 101 trapezoids is half empty. A perfect class scores 1 - 0.5 * 0.01.
PERFECT_AP = 0.995
# One true positive ranked behind one false positive, all instances found: the envelope is 0.5
# from recall 0 (the later of the two recall-0 points wins) up to just below recall 1.
FP_FIRST_AP = 0.01 * (0.5 * 99 + 0.25)


def gt(boxes: list[list[float]], classes: list[int]) -> GroundTruth:
    return GroundTruth(np.array(boxes, dtype=float).reshape(-1, 4), np.array(classes, dtype=int))


def det(boxes: list[list[float]], scores: list[float], classes: list[int]) -> Detections:
    box_array = np.array(boxes, dtype=float).reshape(-1, 4)
    return Detections(box_array, np.array(scores, dtype=float), np.array(classes, dtype=int))


# --------------------------------------------------------------------------- classification


def test_top1_top5_and_per_class_on_a_hand_made_matrix() -> None:
    names = ["a", "b", "c", "d", "e", "f", "g"]  # "g" has no image
    scores = np.array(
        [
            [9.0, 1, 2, 3, 4, 5, 6],  # true a: rank 0 -> top1, top5
            [6.0, 5, 4, 3, 2, 1, 0],  # true b: rank 1 -> top5 only
            [6.0, 5, 4, 3, 2, 1, 0],  # true f: rank 5 -> neither
            [0.0, 1, 2, 3, 4, 5, 6],  # true c: rank 4 -> top5 only
            [1.0, 1, 0, 0, 0, 0, 0],  # true b, tied with a: the lower index ranks first -> top5 only
            [1.0, 1, 0, 0, 0, 0, 0],  # true a, tied with b -> top1
            [np.nan, 0, 0, 0, 0, 0, 0],  # true a, NaN score: ranks last -> neither
            [np.nan] * 7,  # true a, all NaN: neither
        ]
    )
    result = classification_metrics([0, 1, 5, 2, 1, 0, 0, 0], scores, names)
    assert result["images"] == 8
    assert result["top1"] == pytest.approx(2 / 8)
    assert result["top5"] == pytest.approx(5 / 8)
    assert result["per_class"] == {
        "a": {"images": 4, "top1": pytest.approx(2 / 4)},
        "b": {"images": 2, "top1": 0.0},
        "c": {"images": 1, "top1": 0.0},
        "f": {"images": 1, "top1": 0.0},
    }


def test_top5_uses_all_classes_when_there_are_fewer_than_five() -> None:
    scores = np.array([[3.0, 2, 1], [3.0, 2, 1]])
    result = classification_metrics([2, 1], scores, ["x", "y", "z"])
    assert (result["top1"], result["top5"]) == (0.0, 1.0)


def test_classification_with_no_images_is_all_zero() -> None:
    assert classification_metrics([], np.zeros((0, 3)), ["x", "y", "z"]) == {
        "images": 0, "top1": 0.0, "top5": 0.0, "per_class": {}
    }


def test_classification_rejects_mismatched_inputs() -> None:
    with pytest.raises(ValueError, match="shape"):
        classification_metrics([0, 1], np.zeros((2, 4)), ["x", "y", "z"])
    with pytest.raises(ValueError, match="shape"):
        classification_metrics([0], np.zeros((2, 3)), ["x", "y", "z"])
    with pytest.raises(ValueError, match="class ids"):
        classification_metrics([0, 3], np.zeros((2, 3)), ["x", "y", "z"])


# --------------------------------------------------------------------------- detection, by hand


def test_perfect_predictions_reach_the_ultralytics_maximum() -> None:
    truth = [gt([[0, 0, 50, 50], [100, 100, 180, 160]], [0, 1]), gt([[10, 20, 40, 90]], [1])]
    preds = [
        det([[100, 100, 180, 160], [0, 0, 50, 50]], [0.8, 0.9], [1, 0]),
        det([[10, 20, 40, 90]], [0.7], [1]),
    ]
    result = detection_metrics(preds, truth, ["cat", "dog", "bird"])
    assert result["images"] == 2 and result["instances"] == 3
    assert result["mAP50"] == pytest.approx(PERFECT_AP)
    assert result["mAP50-95"] == pytest.approx(PERFECT_AP)
    assert (result["precision"], result["recall"]) == (pytest.approx(1.0), pytest.approx(1.0))
    assert result["per_class"] == {  # "bird" has no instance: left out
        "cat": {"instances": 1, "AP50": pytest.approx(PERFECT_AP), "AP50-95": pytest.approx(PERFECT_AP)},
        "dog": {"instances": 2, "AP50": pytest.approx(PERFECT_AP), "AP50-95": pytest.approx(PERFECT_AP)},
    }


@pytest.mark.parametrize(
    ("height", "thresholds_met"),
    [(62, 3), (55, 2), (75, 6), (49, 0)],  # IoU 0.62 -> 0.50..0.60; exactly 0.55 and 0.75 count
)
def test_a_loose_box_counts_only_at_thresholds_up_to_its_iou(height: int, thresholds_met: int) -> None:
    result = detection_metrics([det([[0, 0, 100, height]], [0.9], [0])], [gt([[0, 0, 100, 100]], [0])], ["a"])
    assert result["mAP50"] == pytest.approx(PERFECT_AP if thresholds_met else 0.0)
    assert result["mAP50-95"] == pytest.approx(PERFECT_AP * thresholds_met / 10)


def test_the_wrong_class_scores_zero() -> None:
    result = detection_metrics([det([[0, 0, 10, 10]], [0.9], [1])], [gt([[0, 0, 10, 10]], [0])], ["a", "b"])
    assert (result["mAP50"], result["mAP50-95"], result["precision"], result["recall"]) == (0, 0, 0, 0)
    assert result["per_class"] == {"a": {"instances": 1, "AP50": 0.0, "AP50-95": 0.0}}


def test_no_predictions_at_all_is_all_zero() -> None:
    empty = Detections(np.zeros((0, 4)), np.zeros(0), np.zeros(0, dtype=int))
    result = detection_metrics([empty, empty], [gt([[0, 0, 10, 10]], [0]), gt([], [])], ["a"])
    assert result == {
        "images": 2, "instances": 1, "precision": 0.0, "recall": 0.0, "mAP50": 0.0, "mAP50-95": 0.0,
        "per_class": {"a": {"instances": 1, "AP50": 0.0, "AP50-95": 0.0}},
    }


def test_predictions_on_an_unlabelled_image_are_false_positives() -> None:
    truth = [gt([[0, 0, 10, 10]], [0]), gt([], [])]
    hit = det([[0, 0, 10, 10]], [0.5], [0])
    stray = det([[50, 50, 60, 60]], [0.9], [0])
    empty = det([], [], [])
    assert detection_metrics([hit, empty], truth, ["a"])["mAP50"] == pytest.approx(PERFECT_AP)
    result = detection_metrics([hit, stray], truth, ["a"])
    assert result["mAP50"] == pytest.approx(FP_FIRST_AP)
    assert result["mAP50-95"] == pytest.approx(FP_FIRST_AP)


def test_matching_is_one_to_one_in_score_order_at_each_threshold() -> None:
    """The higher-scored loose box (IoU 0.7) claims the object up to 0.70; above that it cannot,
    and the exact box scored lower takes it. Matching by IoU instead would give the exact box the
    object at every threshold and FP_FIRST_AP throughout."""
    truth = [gt([[0, 0, 100, 100]], [0])]
    preds = [det([[0, 0, 100, 70], [0, 0, 100, 100]], [0.9, 0.8], [0, 0])]
    result = detection_metrics(preds, truth, ["a"])
    assert result["mAP50"] == pytest.approx(PERFECT_AP)
    assert result["mAP50-95"] == pytest.approx((5 * PERFECT_AP + 5 * FP_FIRST_AP) / 10)
    duplicates = [det([[0, 0, 100, 100], [0, 0, 100, 100]], [0.9, 0.8], [0, 0])]
    result = detection_metrics(duplicates, truth, ["a"])
    assert result["mAP50-95"] == pytest.approx(PERFECT_AP)  # the duplicate ranks after full recall
    assert result["recall"] == pytest.approx(1.0) and 0.5 < result["precision"] < 1.0  # ...but is an FP


def test_detection_rejects_mismatched_inputs() -> None:
    with pytest.raises(ValueError, match="images"):
        detection_metrics([det([], [], [])], [], ["a"])
    with pytest.raises(ValueError, match="class ids"):
        detection_metrics([det([[0, 0, 1, 1]], [0.5], [2])], [gt([], [])], ["a", "b"])
    with pytest.raises(ValueError, match="class ids"):
        detection_metrics([det([], [], [])], [gt([[0, 0, 1, 1]], [-1])], ["a", "b"])
    with pytest.raises(ValueError, match="scores"):
        Detections(np.zeros((2, 4)), np.zeros(1), np.zeros(2, dtype=int))


# --------------------------------------------------------------------------- detection vs Ultralytics

NAMES = ["person", "car", "dog", "cat", "bike", "kite"]  # "kite" is never labelled, only predicted


def synthetic_dataset(
    seed: int, integer_boxes: bool
) -> tuple[list[Detections], list[GroundTruth]]:
    """~30 images with a few hundred objects over 5 classes and noisy detections of them:
    jittered boxes, some wrong classes, duplicates, misses and stray boxes. Class 4 is never
    detected in the even seeds."""
    rng = np.random.default_rng(seed)
    preds: list[Detections] = []
    truth: list[GroundTruth] = []

    def random_boxes(n: int) -> np.ndarray:
        xy = rng.uniform(0, 500, (n, 2))
        return np.concatenate([xy, xy + rng.uniform(8, 140, (n, 2))], axis=1)

    for image in range(30):
        n_gt = 0 if image % 10 == 3 else int(rng.integers(1, 20))
        gt_boxes, gt_cls = random_boxes(n_gt), rng.integers(0, 5, n_gt)
        boxes, classes, scores = [], [], []
        for box, cls in zip(gt_boxes, gt_cls, strict=True):
            if (seed % 2 == 0 and cls == 4) or rng.random() < 0.15:
                continue  # missed
            for _ in range(1 + int(rng.random() < 0.2)):  # sometimes a duplicate
                centre, size = (box[:2] + box[2:]) / 2, box[2:] - box[:2]
                centre = centre + rng.normal(0, 0.06, 2) * size
                size = size * np.exp(rng.normal(0, 0.1, 2))
                boxes.append(np.concatenate([centre - size / 2, centre + size / 2]))
                classes.append(cls if rng.random() < 0.9 else int(rng.integers(0, 6)))
                scores.append(rng.beta(5, 2))
        n_stray = 0 if image % 10 == 7 else int(rng.integers(0, 5))
        boxes.extend(random_boxes(n_stray))
        classes.extend(rng.integers(0, 6, n_stray).tolist())
        scores.extend(rng.beta(2, 5, n_stray).tolist())
        pred_boxes = np.array(boxes).reshape(-1, 4)
        if integer_boxes:  # exact rational IoUs land on the thresholds themselves
            gt_boxes, pred_boxes = np.round(gt_boxes), np.round(pred_boxes)
        truth.append(GroundTruth(gt_boxes, gt_cls))
        preds.append(Detections(pred_boxes, np.array(scores), np.array(classes, dtype=int)))
    return preds, truth


def ultralytics_metrics(
    preds: list[Detections], truth: list[GroundTruth], monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """The numbers Ultralytics' detection validator would print, from its own functions; only the
    glue that its validator does per image (sorting, empty cases) is written here."""
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    import torch
    from ultralytics.engine.validator import BaseValidator
    from ultralytics.utils.metrics import DetMetrics, box_iou

    matcher = SimpleNamespace(iouv=torch.linspace(0.5, 0.95, 10))  # what DetectionValidator sets
    metrics = DetMetrics(names=dict(enumerate(NAMES)))
    for index, (pred, label) in enumerate(zip(preds, truth, strict=True)):
        order = np.argsort(-pred.scores, kind="stable")  # NMS output comes in descending confidence
        boxes, conf, cls = pred.boxes[order], pred.scores[order], pred.classes[order].astype(np.float32)
        target_cls = label.classes.astype(np.float32)
        if len(cls) and len(target_cls):
            iou = box_iou(torch.from_numpy(label.boxes), torch.from_numpy(boxes))
            tp = BaseValidator.match_predictions(
                matcher, torch.from_numpy(cls), torch.from_numpy(target_cls), iou
            ).numpy()
        else:
            tp = np.zeros((len(cls), 10), dtype=bool)
        metrics.update_stats({
            "tp": tp, "conf": conf, "pred_cls": cls, "target_cls": target_cls,
            "target_img": np.unique(target_cls), "im_name": f"{index}.jpg",
        })
    metrics.process()
    precision, recall, map50, map50_95 = metrics.mean_results()
    per_class = {}
    for i, cls_index in enumerate(metrics.ap_class_index):
        _, _, ap50, ap = metrics.class_result(i)
        per_class[NAMES[cls_index]] = {"AP50": ap50, "AP50-95": ap}
    return {"precision": precision, "recall": recall, "mAP50": map50, "mAP50-95": map50_95,
            "per_class": per_class}


@pytest.mark.parametrize(
    ("seed", "integer_boxes"), [(0, False), (1, False), (2, False), (3, True), (4, True)]
)
def test_detection_metrics_equal_ultralytics(
    seed: int, integer_boxes: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    preds, truth = synthetic_dataset(seed, integer_boxes)
    ours = detection_metrics(preds, truth, NAMES)
    theirs = ultralytics_metrics(preds, truth, monkeypatch)

    assert ours["instances"] > 150 and 0.2 < ours["mAP50-95"] < ours["mAP50"] < 0.95  # not a trivial case
    for key in ("mAP50", "mAP50-95", "precision", "recall"):
        assert ours[key] == pytest.approx(theirs[key], abs=1e-6), key
    assert set(ours["per_class"]) == set(theirs["per_class"]) == set(NAMES[:5])
    for name, row in theirs["per_class"].items():
        assert ours["per_class"][name]["AP50"] == pytest.approx(row["AP50"], abs=1e-6), name
        assert ours["per_class"][name]["AP50-95"] == pytest.approx(row["AP50-95"], abs=1e-6), name
    if seed % 2 == 0:
        assert ours["per_class"]["bike"]["AP50"] == 0.0 < ours["per_class"]["bike"]["instances"]
