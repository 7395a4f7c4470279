"""core.evaluation: the confusion matrices, the batch files, and `slipway evaluate` / `predict --out`
on real exports (the original checkpoint too, in the Evaluate child)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from core.evaluation import (
    BACKGROUND,
    PARTIAL_SUFFIX,
    classification_confusion,
    csv_text,
    detection_confusion,
    write_whole,
)
from core.metrics import Detections, GroundTruth
from tests.helpers import CliRun, digit_folder, slipway


def test_detection_confusion_pairs_each_box_once_and_counts_the_rest_as_background() -> None:
    truth = GroundTruth(boxes=[[0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50]], classes=[0, 1, 1])
    found = Detections(boxes=[[0, 0, 10, 11], [20, 20, 30, 30], [100, 100, 110, 110], [1, 0, 10, 10]],
                       scores=[0.9, 0.8, 0.7, 0.6], classes=[0, 0, 1, 0])
    matrix = np.zeros((3, 3), np.int64)  # classes 0, 1 and background
    errors, fit = detection_confusion(found, truth, matrix)
    # label 0 ↔ box 0 (right), label 1 ↔ box 1 (class 1 called 0), label 2 unseen,
    # box 2 far away and box 3 a second box on label 0: two spurious boxes
    assert matrix.tolist() == [[1, 0, 0], [1, 0, 1], [1, 1, 0]]
    assert errors == 3 + 4 - 2 and fit == pytest.approx(100 / 110)
    assert matrix[:-1].sum() == len(truth.classes) and matrix[:, :-1].sum() == len(found.classes)
    clean = np.zeros((3, 3), np.int64)
    assert detection_confusion(Detections(np.zeros((0, 4)), [], []), GroundTruth(np.zeros((0, 4)), []),
                               clean) == (0, 1.0)
    assert BACKGROUND == "background"


def test_classification_confusion_has_one_count_per_image() -> None:
    scores = [np.array([0.1, 0.9, 0.0]), np.array([0.8, 0.1, 0.1]), np.array([np.nan, 0.2, 0.3])]
    matrix = classification_confusion([1, 1, 0], scores, 3)
    assert matrix.tolist() == [[0, 0, 1], [1, 1, 0], [0, 0, 0]] and matrix.sum() == 3


def test_csv_has_a_row_per_detection_and_one_for_an_image_without_any() -> None:
    rows = [{"image": "a.jpg", "predictions": [
        {"class_id": 1, "class_name": "square", "confidence": 0.5, "bbox": [1.0, 2.0, 3.0, 4.0]},
        {"class_id": 0, "class_name": "circle", "confidence": 0.25, "bbox": [5.0, 6.0, 7.0, 8.0]}]},
        {"image": "b.jpg", "predictions": []}]
    table = list(csv.DictReader(io.StringIO(csv_text(rows, "detect"))))
    assert [(r["image"], r["class_name"], r["x2"]) for r in table] == [
        ("a.jpg", "square", "3.00"), ("a.jpg", "circle", "7.00"), ("b.jpg", "", "")]
    top1 = list(csv.DictReader(io.StringIO(csv_text(rows, "classify"))))
    assert [(r["image"], r["class_name"]) for r in top1] == [("a.jpg", "square"), ("b.jpg", "")]
    assert "x1" not in top1[0]


def test_a_file_is_written_whole_or_not_at_all(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    write_whole(target, "{}\n")
    assert target.read_text() == "{}\n" and not (tmp_path / f"out.json{PARTIAL_SUFFIX}").exists()
    blocked = tmp_path / "folder.csv"
    blocked.mkdir()  # the rename onto a folder fails: the partial file goes, the folder stays empty
    with pytest.raises(OSError):
        write_whole(blocked, "a,b\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.csv", "out.json"]
    assert list(blocked.iterdir()) == []


@pytest.mark.slow
def test_cli_evaluates_an_export_and_its_original_and_predicts_a_folder(
        exported: Callable[[str], CliRun], export_home: Path, tmp_path: Path) -> None:
    run = exported("timm-onnx")
    folder = digit_folder(tmp_path / "digits", per_class=4)
    reports = {}
    for which in ("export", "original"):
        extra = ["--original"] if which == "original" else []
        answer = slipway("evaluate", run.result["export_id"][:10], str(folder), *extra, "--json",
                         home=export_home)
        assert answer.code == 0, answer.stderr[-2000:]
        assert "image 40/40" in answer.stderr
        reports[which] = answer.result
    export, original = reports["export"], reports["original"]
    assert export["model"]["original"] is False and original["model"]["original"] is True
    assert export["dataset"]["images"] == original["dataset"]["images"] == 40
    # the same checkpoint, exported with its parity gate passed: the same answers on digits
    assert abs(export["metrics"]["top1"] - original["metrics"]["top1"]) <= 0.05
    assert np.array(export["confusion"]["matrix"]).sum() == 40

    text = slipway("evaluate", run.result["package_dir"], str(folder), home=export_home)
    assert text.code == 0 and f"top-1 {export['metrics']['top1']:.4f}" in text.stdout
    wrong = slipway("evaluate", run.result["package_dir"], str(tmp_path / "nowhere"), home=export_home)
    assert wrong.code == 2 and "does not exist" in wrong.stderr

    out = tmp_path / "predictions.csv"
    predicted = slipway("predict", run.result["package_dir"], str(folder), "--out", str(out),
                        home=export_home)
    assert predicted.code == 0, predicted.stderr[-2000:]
    with out.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 40 and {Path(r["image"]).parent.name for r in rows} == {str(d) for d in range(10)}
    first = json.loads(slipway("predict", run.result["package_dir"], rows[0]["image"], "--json",
                               home=export_home).stdout)
    assert first["predictions"][0]["class_name"] == rows[0]["class_name"]
