"""The Compare view in the main window, on real exports of the samples: the original model runs in
its own child process, every export through its package's wrapper, and a package whose weights a
test altered (a seeded difference) is marked where it differs."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDropEvent
from pytestqt.qtbot import QtBot

from core.db import JobStatus
from core.inference import open_package
from core.jobs import JobService
from core.samples import sample
from core.spec import ExportSpec
from gui.main_window import MainWindow
from gui.views.compare import ROW_AGREES, ROW_DIFFERS, CompareView
from tests.helpers import CliRun

pytestmark = pytest.mark.slow  # real exports (shared per session) and the original in a child


def register(jobs: JobService, sample_name: str, package: Path) -> str:
    """Record a finished CLI export (or a test's altered copy of one) in this test's database."""
    spec = ExportSpec(checkpoint=sample(sample_name).checkpoint, export_format="onnx",
                      model_name=sample(sample_name).model_name)
    job = jobs.create_job(spec, out_dir=package)
    assert jobs.finish(job.id, 0, None).status == JobStatus.COMPLETED
    return job.id


def seeded_copy(run: CliRun, target: Path, initializer: Callable[[list[str]], str], factor: float) -> Path:
    """The package copied, one weight tensor of its model.onnx multiplied by ``factor``."""
    shutil.copytree(Path(run.result["package_dir"]), target)
    model = onnx.load(str(target / "model.onnx"))
    names = [t.name for t in model.graph.initializer]
    chosen = initializer(names)
    for tensor in model.graph.initializer:
        if tensor.name == chosen:
            values = numpy_helper.to_array(tensor)
            tensor.CopyFrom(numpy_helper.from_array((values * factor).astype(values.dtype), tensor.name))
    onnx.save(model, str(target / "model.onnx"))
    return target


def drop(view: CompareView, image: Path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(image))])
    event = QDropEvent(QPoint(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    view.dropEvent(event)
    assert event.isAccepted()


def compared(qtbot: QtBot, window: MainWindow, checkpoint_name: str, image: Path) -> CompareView:
    """The Compare page, reached through the main window's navigation, after an image is dropped."""
    window.show_page("Compare")
    view = window.compare
    assert window.stack.currentWidget() is view
    checkpoint = next(c for c in window.models.model.items if c.sample == checkpoint_name)
    window.models.select(checkpoint.id)  # the selection follows into the Compare page
    assert view.checkpoint_id == checkpoint.id
    drop(view, image)
    qtbot.waitUntil(lambda: view.done, timeout=120_000)
    return view


def stop(qtbot: QtBot, view: CompareView) -> None:
    child = view.runner._child
    view.runner.shutdown()
    if child is not None:
        qtbot.waitUntil(lambda: not child.running, timeout=15_000)


def test_detector_original_and_exports_side_by_side_with_a_seeded_difference_marked(
        qtbot: QtBot, window: MainWindow, exported: Callable[[str], CliRun], tmp_path: Path) -> None:
    run = exported("det-onnx")
    jobs = window.service
    good = register(jobs, "shapes-yolo11n", Path(run.result["package_dir"]))
    # the head's distribution-to-distance weights scaled by 0.8: every box shrinks about its anchor
    bad = register(jobs, "shapes-yolo11n", seeded_copy(run, tmp_path / "seeded",
                                                       lambda _names: "model.23.dfl.conv.weight", 0.8))
    image = sample("shapes-yolo11n").image_files()[0]
    view = compared(qtbot, window, "shapes-yolo11n", image)
    assert not any(row.errors for row in view.rows.values()), [r.errors for r in view.rows.values()]

    # the export as its wrapper predicts it, and the original, both drawn on the image
    row = view.rows[good]
    assert row.original is not None and row.exported is not None and row.comparison is not None
    wrapper = open_package(Path(run.result["package_dir"]))
    expected = wrapper.predict(str(image))
    assert expected, "the sample detector finds nothing on its own sample image"
    panel = view.panels[good]
    assert [(p["class_id"], round(p["confidence"], 4)) for p in panel.shown] == \
           [(p["class_id"], round(p["confidence"], 4)) for p in expected]
    assert panel.canvas.box_count == len(expected)
    assert view.panels["original"].canvas.box_count == len(view.panels["original"].shown) > 0
    # the error figure is the largest difference between the two runs' real raw outputs
    recomputed = max(float(np.max(np.abs(a - b))) for a, b in zip(row.original.outputs, row.exported.outputs,
                                                                     strict=True))
    assert row.comparison.max_abs_diff == pytest.approx(recomputed)
    assert 0 < recomputed < run.result["parity"]["outputs"]["output0"]["tolerance"]
    assert len(run.result["parity"]["task_agreement"]["per_image"]) == run.result["parity"]["images"]
    assert row.comparison.agreement == 1.0 and not row.comparison.differs
    assert panel.state == "agrees" and panel.canvas.marks == []
    assert row.original.latency_ms > 0 and row.exported.latency_ms > 0

    # the seeded package: its boxes differ and each difference is outlined on its image
    seeded = view.rows[bad]
    assert seeded.comparison is not None and seeded.comparison.differs
    assert seeded.comparison.max_abs_diff is not None and seeded.comparison.max_abs_diff > 100 * recomputed
    changed = [b for b in seeded.comparison.boxes if b.status != "same"]
    assert changed and {b.status for b in changed} <= {"moved", "missing", "extra"}
    assert len(view.panels[bad].canvas.marks) == len(changed)
    assert seeded.comparison.within_tolerance is False and row.comparison.within_tolerance is True
    assert seeded.comparison.differences[0].startswith("raw outputs beyond the gate's tolerance")
    assert view.panels[bad].state == "differs"
    assert (seeded.comparison.agreement or 0.0) < 1.0

    # the table: original first, then a row per export, coloured by what the comparison found
    labels = [view.table.item(i, 0).text() for i in range(view.table.rowCount())]
    assert labels[0] == "original" and len(labels) == 3
    colour = {view.table.item(i, 0).text(): view.table.item(i, 0).background().color().name()
              for i in range(1, view.table.rowCount())}
    assert sorted(colour.values()) == sorted([ROW_AGREES.name(), ROW_DIFFERS.name()])
    differences = [view.table.item(i, 5).text() for i in range(1, view.table.rowCount())]
    assert "none" in differences and any("box" in d for d in differences)
    assert "differing:" in view.status.text()
    assert view.grab().save(str(tmp_path / "compare.png"))

    # two images dropped back to back: the answers still running for the first are dropped
    first, second = sample("shapes-yolo11n").image_files()[1:3]
    drop(view, first)
    drop(view, second)
    qtbot.waitUntil(lambda: view.done, timeout=120_000)
    assert view.image is not None
    for row in view.rows.values():
        assert row.original is not None and row.exported is not None
        assert row.original.shape == row.exported.shape == view.image.shape[:2]
    latest = [(p["class_id"], round(p["confidence"], 4)) for p in wrapper.predict(str(second))]
    assert latest != [(p["class_id"], round(p["confidence"], 4)) for p in wrapper.predict(str(first))]
    assert [(p["class_id"], round(p["confidence"], 4)) for p in view.panels[good].shown] == latest
    stop(qtbot, view)


def test_classifier_top_k_and_a_changed_top1(qtbot: QtBot, window: MainWindow,
                                             exported: Callable[[str], CliRun], tmp_path: Path) -> None:
    run = exported("timm-onnx")
    jobs = window.service
    good = register(jobs, "digits-timm", Path(run.result["package_dir"]))

    def classifier_weight(names: list[str]) -> str:
        return next(n for n in reversed(names) if n.endswith("weight") and "classifier" in n)

    # the classifier's weights negated: the ranking of the classes turns over
    bad = register(jobs, "digits-timm", seeded_copy(run, tmp_path / "seeded", classifier_weight, -1.0))
    image = sample("digits-timm").image_files()[0]
    view = compared(qtbot, window, "digits-timm", image)
    assert not any(row.errors for row in view.rows.values()), [r.errors for r in view.rows.values()]
    expected = open_package(Path(run.result["package_dir"])).predict(str(image))
    panel = view.panels[good]
    assert panel.view.currentWidget() is panel.topk
    assert [name for name, _ in panel.topk.rows] == [p["class_name"] for p in expected]
    original_top1 = view.panels["original"].topk.rows[0][0]
    assert view.rows[good].comparison is not None
    assert view.rows[good].comparison.top1 == (original_top1, expected[0]["class_name"])
    assert original_top1 == expected[0]["class_name"] and panel.state == "agrees"
    seeded = view.rows[bad].comparison
    assert seeded is not None and seeded.top1[0] == original_top1 and seeded.top1[1] != original_top1
    assert f"top-1 changed: {original_top1} → {seeded.top1[1]}" in seeded.differences
    assert view.panels[bad].state == "differs"
    stop(qtbot, view)
