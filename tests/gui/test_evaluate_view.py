"""The Evaluate page on real exports of the samples, over labelled folders the tests write: the
digits classifier on scikit-learn's digits (ImageFolder), the shapes detector on its validation
split (images/ + labels/). The numbers are checked against core.metrics run directly on the
package's own predictions; the gallery opens an image in the Inference test view; Cancel stops the
child and leaves nothing; batch predictions are written as CSV and JSON and read back."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog
from pytestqt.qtbot import QtBot

from core.datasets import load_dataset
from core.evaluation import PARTIAL_SUFFIX, VALIDATION_CONF, detections
from core.inference import open_package
from core.metrics import GroundTruth, classification_metrics, detection_metrics
from gui.main_window import MainWindow
from gui.views.evaluate import EvaluateView
from gui.views.inference import read_rgb
from tests.helpers import CliRun, digit_folder, register_export, shapes_folder

pytestmark = pytest.mark.slow  # real exports (shared per session) and a child process per run

RUN_TIMEOUT_MS = 180_000


def run_evaluation(qtbot: QtBot, view: EvaluateView, folder: Path) -> dict:
    view.folder.setText(str(folder))
    with qtbot.waitSignal(view.runner.sig_report, timeout=RUN_TIMEOUT_MS) as done:
        qtbot.mouseClick(view.evaluate_button, Qt.MouseButton.LeftButton)
        assert view.cancel_button.isEnabled() and not view.evaluate_button.isEnabled()
    report: dict = done.args[0]
    assert view.report == report
    assert view.progress.value() == view.progress.maximum() == report["dataset"]["images"]
    return report


def test_classifier_metrics_gallery_cancel_and_batch_predictions(
        qtbot: QtBot, window: MainWindow, exported: Callable[[str], CliRun], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    package = Path(exported("timm-onnx").result["package_dir"])
    export_id = register_export(window.service, "digits-timm", package)
    folder = digit_folder(tmp_path / "digits", per_class=12)

    # reached from the Models page: the export's "Evaluate on a folder…" action
    window.models.refresh()
    window.models.select(window.service.get(export_id).checkpoint_id)
    window.models.refresh_exports()
    window.models.exports.selectRow(window.models.exports_model.row_of(export_id))
    window.models.evaluate_action.trigger()
    view = window.evaluate
    assert window.stack.currentWidget() is view and view.export_id == export_id

    report = run_evaluation(qtbot, view, folder)

    # the same numbers from core.metrics on the package's own scores, computed here
    wrapper = open_package(package)
    dataset = load_dataset(folder, "classify")
    scores = np.stack([np.asarray(wrapper.run(read_rgb(item.image))[0][0]).reshape(-1)
                       for item in dataset.classifications()])
    truth = [item.class_id for item in dataset.classifications()]
    expected = classification_metrics(truth, scores, wrapper.class_names)
    assert report["metrics"]["top1"] == expected["top1"] and report["metrics"]["top5"] == expected["top5"]
    assert report["dataset"]["images"] == len(truth) == 120
    assert f"top-1 {expected['top1']:.2%}" in view.metrics.text()
    matrix = np.array(report["confusion"]["matrix"])
    assert matrix.sum() == len(truth)
    assert np.trace(matrix) == round(expected["top1"] * len(truth))
    assert matrix.sum(axis=1).tolist() == np.bincount(truth).tolist()
    assert view.confusion.rowCount() == view.confusion.columnCount() == 10
    cells = sum(int(view.confusion.item(r, c).text() or 0) for r in range(10) for c in range(10))
    assert cells == len(truth)

    # the gallery: worst first (the lowest probability of the true class); a click opens the image
    assert view.gallery.count() == min(24, len(truth))
    errors = [entry["error"] for entry in report["worst"]]
    assert errors == sorted(errors, reverse=True)
    worst = report["worst"][0]
    true_class = int(Path(worst["image"]).parent.name)
    index = next(i for i, item in enumerate(dataset.classifications()) if str(item.image) == worst["image"])
    assert int(np.argmax(scores[index])) != true_class or expected["top1"] == 1.0
    item = view.gallery.item(2)
    rect = view.gallery.visualItemRect(item)
    qtbot.mouseClick(view.gallery.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    inference = window.inference
    assert window.stack.currentWidget() is inference and inference.export_id == export_id
    qtbot.waitUntil(lambda: inference.result is not None, timeout=60_000)
    assert inference.image is not None
    assert np.array_equal(inference.image, read_rgb(Path(report["worst"][2]["image"])))

    # Cancel: the child is stopped, the last report stays, nothing new is shown
    window.show_page("Evaluate")
    with qtbot.waitSignal(view.runner.sig_cancelled, timeout=30_000):
        qtbot.mouseClick(view.evaluate_button, Qt.MouseButton.LeftButton)
        qtbot.mouseClick(view.cancel_button, Qt.MouseButton.LeftButton)
    assert view.report == report and not view.runner.busy
    assert view.evaluate_button.isEnabled() and not view.cancel_button.isEnabled()
    assert "Cancelled" in view.status.text()

    # a folder that is not there: the child's message, shown; the last report stays
    view.folder.setText(str(tmp_path / "nowhere"))
    with qtbot.waitSignal(view.runner.sig_failed, timeout=60_000) as failed:
        qtbot.mouseClick(view.evaluate_button, Qt.MouseButton.LeftButton)
    assert "does not exist" in failed.args[0] and view.status.text().startswith("Failed:")
    assert view.report == report and view.evaluate_button.isEnabled()
    view.folder.setText(str(folder))

    # a cancelled batch prediction writes nothing
    out = tmp_path / "out" / "digits.csv"
    out.parent.mkdir()
    with qtbot.waitSignal(view.runner.sig_cancelled, timeout=30_000):
        view.predict_to(out)
        view.cancel()
    assert list(out.parent.iterdir()) == []

    # batch prediction through the button (the save dialog answered), CSV then JSON, read back
    for name in ("digits.csv", "digits.json"):
        monkeypatch.setattr(QFileDialog, "getSaveFileName",
                            staticmethod(lambda *_a, n=name, **_k: (str(out.parent / n), "")))
        with qtbot.waitSignal(view.runner.sig_predicted, timeout=RUN_TIMEOUT_MS):
            qtbot.mouseClick(view.predict_button, Qt.MouseButton.LeftButton)
        assert view.predicted == out.parent / name
    assert not list(out.parent.glob(f"*{PARTIAL_SUFFIX}"))
    with (out.parent / "digits.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    images = sorted(str(item.image) for item in dataset.classifications())
    assert sorted(row["image"] for row in rows) == images  # one row per image: its top-1
    first = wrapper.predict(rows[0]["image"])[0]
    assert int(rows[0]["class_id"]) == first["class_id"] and rows[0]["class_name"] == first["class_name"]
    assert float(rows[0]["confidence"]) == pytest.approx(first["confidence"], abs=1e-6)
    written = json.loads((out.parent / "digits.json").read_text(encoding="utf-8"))
    assert sorted(entry["image"] for entry in written) == images
    by_image = {entry["image"]: entry["predictions"] for entry in written}
    assert [p["class_id"] for p in by_image[rows[0]["image"]]] == [
        p["class_id"] for p in wrapper.predict(rows[0]["image"])]


def test_detector_map_and_confusion_equal_core_metrics(
        qtbot: QtBot, window: MainWindow, exported: Callable[[str], CliRun], tmp_path: Path) -> None:
    package = Path(exported("det-onnx").result["package_dir"])
    export_id = register_export(window.service, "shapes-yolo11n", package)
    folder = shapes_folder(tmp_path / "shapes")
    window.evaluate_export(export_id)
    view = window.evaluate
    assert window.stack.currentWidget() is view

    report = run_evaluation(qtbot, view, folder)

    wrapper = open_package(package)
    dataset = load_dataset(folder, "detect")
    found, truth = [], []
    for item in dataset.detections():
        rgb = read_rgb(item.image)
        outputs, transform = wrapper.run(rgb)
        found.append(detections(wrapper.postprocess.decode(outputs, transform, rgb.shape[:2],
                                                           conf=VALIDATION_CONF)))
        truth.append(GroundTruth(item.boxes_xyxy(rgb.shape[1], rgb.shape[0]), item.classes))
    expected = detection_metrics(found, truth, wrapper.class_names)
    for key in ("mAP50", "mAP50-95", "precision", "recall", "instances"):
        assert report["metrics"][key] == expected[key], key
    assert f"mAP50 {expected['mAP50']:.3f}" in view.metrics.text()
    assert 0.5 < expected["mAP50"] <= 1.0  # the sample detector on its own validation split

    # rows are the true class (+ background): the labelled rows hold every label exactly once
    matrix = np.array(report["confusion"]["matrix"])
    labels = report["confusion"]["labels"]
    assert labels == [*wrapper.class_names, "background"] and matrix[-1, -1] == 0
    assert matrix[:-1].sum() == expected["instances"] == sum(len(t.classes) for t in truth)
    shown = sum(int((f.scores >= wrapper.postprocess.conf).sum()) for f in found)
    assert matrix[:, :-1].sum() == shown  # and the predicted columns every box a user sees
    assert view.confusion.rowCount() == len(labels)
    assert view.gallery.count() == min(24, len(truth))
