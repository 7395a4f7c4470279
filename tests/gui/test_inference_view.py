"""The inference test view on real exports of the samples (ONNX in-process; TorchScript, OpenVINO
and TFLite in a child process)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from core.db import JobStatus
from core.inference import open_package
from core.jobs import JobService
from core.samples import sample
from core.spec import ExportSpec
from gui.views.inference import InferenceView
from tests.helpers import CliRun

pytestmark = pytest.mark.slow  # needs real exports (shared per session)


def register(jobs: JobService, run: CliRun, sample_name: str, export_format: str) -> str:
    """Record a finished CLI export in this test's database (its package stays where it is)."""
    spec = ExportSpec(checkpoint=sample(sample_name).checkpoint, export_format=export_format,
                      model_name=sample(sample_name).model_name)
    job = jobs.create_job(spec, out_dir=Path(run.result["package_dir"]))
    finished = jobs.finish(job.id, 0, None)  # reads the package's result.json
    assert finished.status == JobStatus.COMPLETED
    return job.id


def shown_view(qtbot: QtBot, jobs: JobService, export_id: str, image: Path) -> InferenceView:
    view = InferenceView(jobs)
    qtbot.addWidget(view)
    view.resize(1100, 700)
    view.show()
    view.set_export(export_id)
    view.load_image(image)
    qtbot.waitUntil(lambda: view.result is not None, timeout=60_000)
    return view


def test_detector_boxes_and_sliders_equal_predict(qtbot: QtBot, exported: Callable[[str], CliRun],
                                                  tmp_path: Path) -> None:
    jobs = JobService()
    export_id = register(jobs, exported("det-onnx"), "shapes-yolo11n", "onnx")
    image = sample("shapes-yolo11n").image_files()[0]
    view = shown_view(qtbot, jobs, export_id, image)
    wrapper = open_package(Path(exported("det-onnx").result["package_dir"]))
    assert view.shown, "no boxes for the sample detector on its own validation image"
    assert view.canvas.box_count == len(view.shown)
    assert view.result is not None and view.result.latency_ms > 0
    assert "ms" in view.latency.text()
    assert view.conf.isVisible() and view.iou.isVisible() and view.classes.isVisible()
    assert not view.topk.isVisible() and not view.labels_button.isVisible()

    def same(a: list[dict], b: list[dict]) -> bool:
        return [(d["class_id"], round(d["confidence"], 5), [round(v, 3) for v in d["bbox"]]) for d in a] == \
               [(d["class_id"], round(d["confidence"], 5), [round(v, 3) for v in d["bbox"]]) for d in b]

    counts = set()
    for conf, iou in ((0.05, 0.7), (0.25, 0.5), (0.5, 0.3), (0.9, 0.7), (0.02, 0.95)):
        view.conf.setValue(round(conf * 100))
        view.iou.setValue(round(iou * 100))
        expected = wrapper.predict(str(image), conf=conf, iou=iou)
        assert same(view.shown, expected), (conf, iou)
        assert view.canvas.box_count == len(expected)
        counts.add(len(expected))
    assert len(counts) > 1, "the settings tried should change what is shown"

    # per-class toggles: switching a present class off hides exactly its boxes
    view.conf.setValue(5)
    present = sorted({d["class_id"] for d in view.shown})
    before = len(view.shown)
    view.classes.item(present[0]).setCheckState(Qt.CheckState.Unchecked)
    assert all(d["class_id"] != present[0] for d in view.shown)
    assert len(view.shown) < before
    view.classes.item(present[0]).setCheckState(Qt.CheckState.Checked)
    assert len(view.shown) == before
    assert view.grab().save(str(tmp_path / "inference.png"))


def test_classifier_shows_the_image_with_topk_beside_it_and_takes_a_labels_file(
        qtbot: QtBot, exported: Callable[[str], CliRun], tmp_path: Path) -> None:
    jobs = JobService()
    export_id = register(jobs, exported("timm-onnx"), "digits-timm", "onnx")
    image = sample("digits-timm").image_files()[0]
    view = shown_view(qtbot, jobs, export_id, image)
    expected = open_package(Path(exported("timm-onnx").result["package_dir"])).predict(str(image))
    assert view.canvas.isVisible() and view.topk.isVisible()  # the image stays, the top-k beside it
    assert view.canvas.box_count == 0
    assert [name for name, _ in view.topk.rows] == [p["class_name"] for p in expected]
    assert view.topk.rows[0][1] == pytest.approx(expected[0]["confidence"], rel=1e-5)
    # thresholds and class toggles do nothing for a classifier: they are not shown
    assert not view.conf.isVisible() and not view.iou.isVisible() and not view.classes.isVisible()
    # the digits' classes are only numbers: the view offers a labels file
    assert view.labels_hint.isVisible() and view.labels_button.isVisible()
    short = tmp_path / "short.txt"
    short.write_text("zero\none\n")
    assert not view.load_labels(short)
    assert "has 2 names but the model has 10 classes" in view.status.text()
    words = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(words) + "\n")
    assert view.load_labels(labels)
    assert [name for name, _ in view.topk.rows] == [words[int(p["class_id"])] for p in expected]
    assert not view.labels_hint.isVisible()
    again = shown_view(qtbot, jobs, export_id, image)  # the next time this export is tested
    assert [name for name, _ in again.topk.rows] == [words[int(p["class_id"])] for p in expected]
    assert not again.labels_hint.isVisible()


@pytest.mark.parametrize(("name", "export_format"), [("det-torchscript", "torchscript"),
                                                      ("det-openvino", "openvino"),
                                                      ("det-tflite", "tflite")])
def test_runtimes_the_gui_must_not_load_run_in_a_child_process(
        qtbot: QtBot, exported: Callable[[str], CliRun], name: str, export_format: str) -> None:
    """torch, OpenVINO and LiteRT stay out of the GUI process: a child runs those packages,
    and what the view shows is what the package's wrapper predicts."""
    jobs = JobService()
    run = exported(name)
    export_id = register(jobs, run, "shapes-yolo11n", export_format)
    image = sample("shapes-yolo11n").image_files()[0]
    view = shown_view(qtbot, jobs, export_id, image)
    child = view.runner._child
    assert child is not None and child.running
    view.conf.setValue(25)
    assert view.shown and view.canvas.box_count == len(view.shown)
    expected = open_package(Path(run.result["package_dir"])).predict(
        str(image), conf=view.confidence, iou=view.iou_threshold)
    assert [p["class_name"] for p in view.shown] == [p["class_name"] for p in expected]
    view.runner.shutdown()
