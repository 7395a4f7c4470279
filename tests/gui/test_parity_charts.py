"""The parity report's charts: the error along the network with the first divergent layer
marked and named, and the agreement image by image, drawn from the report's own data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtGui import QColor
from pytestqt.qtbot import QtBot

from gui.widgets.job_detail import JobDetailPane
from gui.widgets.parity_charts import BAD, GOOD, MARK, AgreementChart, LayerErrorChart
from tests.gui.test_parity_report import failed_report, layer


def colours_in_column(chart: LayerErrorChart | AgreementChart, x: int) -> set[str]:
    image = chart.grab().toImage()
    ratio = image.devicePixelRatio()
    return {QColor(image.pixel(round(x * ratio), round(y * ratio))).name()
            for y in range(int(chart.plot_area().top()) + 20, int(chart.plot_area().bottom()))}


def test_the_layer_chart_plots_each_layer_against_its_tolerance_and_marks_the_first_divergent(
        qtbot: QtBot) -> None:
    chart = LayerErrorChart()
    qtbot.addWidget(chart)
    chart.resize(700, 220)
    chart.set_layers(failed_report()["layers"])
    chart.show()
    assert chart.measure == "max abs diff ÷ tolerance"
    assert [p.module for p in chart.points] == ["conv_stem", "blocks.1.0.conv_pw", "classifier"]
    # layer() sets max abs = 10 × rel and tolerance 0.01: the plotted ratio is 1000 × rel
    assert [p.value for p in chart.points] == pytest.approx([1e-4, 50.0, 200.0])
    assert [p.diverged for p in chart.points] == [False, True, True]
    assert chart.first == 1 and chart.first_module == "blocks.1.0.conv_pw"
    assert chart.limit == 1.0
    low, high = chart.decades()
    assert low <= -4 and high >= 3  # the log scale spans every point
    # drawn: the first divergent layer's marker line in its column, not in the others
    marked = chart.position(1, chart.points[1].value).x()
    assert MARK in colours_in_column(chart, round(marked))
    assert MARK not in colours_in_column(chart, round(chart.position(0, 1.0).x()))
    assert chart.index_at(marked) == 1

    # another first divergent layer moves the mark; a report without one has no mark
    report = failed_report()["layers"]
    report["first_divergent"] = report["layers"][2]
    chart.set_layers(report)
    assert chart.first_module == "classifier"
    report["first_divergent"] = None
    chart.set_layers(report)
    assert chart.first is None and chart.isVisible()
    chart.set_layers({"status": "not_supported", "reason": "tflite"})
    assert chart.points == [] and not chart.isVisible()


def test_without_tolerance_int8_plots_the_relative_error() -> None:
    layers = {"status": "compared", "first_divergent": None,
              "layers": [{**layer("a", "Conv2d", 0.02), "tolerance": None},
                         {**layer("b", "Linear", 0.3), "tolerance": None}]}
    chart = LayerErrorChart()
    chart.set_layers(layers)
    assert chart.measure == "max relative error" and chart.limit is None
    assert [p.value for p in chart.points] == pytest.approx([0.02, 0.3])


def test_the_agreement_chart_has_a_bar_per_image(qtbot: QtBot) -> None:
    chart = AgreementChart()
    qtbot.addWidget(chart)
    chart.resize(500, 180)
    report = failed_report()
    report["task_agreement"]["per_image"] = [{"image": "a.jpg", "agreed": 3, "total": 3},
                                             {"image": "b.jpg", "agreed": 1, "total": 4}]
    chart.set_report(report)
    chart.show()
    assert chart.bars == [("a.jpg", 1.0), ("b.jpg", 0.25)]
    assert "1/2 images agree" in chart.title
    area = chart.plot_area()
    assert GOOD in colours_in_column(chart, round(area.left() + area.width() * 0.25))
    assert BAD in colours_in_column(chart, round(area.left() + area.width() * 0.75))
    # a report from before per-image counts: the names and which of them disagreed
    older = {"image_names": ["x", "y", "z"], "task_agreement": {"metric": "top1_agreement",
                                                                "images_disagreeing": ["y"]}}
    chart.set_report(older)
    assert chart.bars == [("x", 1.0), ("y", 0.0), ("z", 1.0)]


def test_the_parity_tab_draws_the_charts_and_reads_an_inspected_packages_layers(
        qtbot: QtBot, tmp_path: Path) -> None:
    pane = JobDetailPane()
    qtbot.addWidget(pane)
    pane.show()
    job = {"id": "e" * 32, "version": 1, "export_format": "onnx", "status": "completed",
           "error_message": None, "framework": "timm", "task": "classify", "package_dir": str(tmp_path),
           "model_size_bytes": 1, "duration_s": 1.0, "validation_metrics": None, "timings": None,
           "optimization_stats": None,
           "parity": {**failed_report(), "passed": True, "layers": None, "image_names": ["a", "b"]}}
    pane.show_job(job)
    pane.setCurrentIndex(1)
    assert not pane.layer_chart.isVisible()  # the gate compared no layers
    assert pane.agreement_chart.isVisible() and len(pane.agreement_chart.bars) == 2
    # `slipway inspect` wrote the package's layer comparison: the tab draws it
    (tmp_path / "layer_report.json").write_text(json.dumps(failed_report()["layers"]))
    pane.show_job(job)
    assert pane.layer_chart.isVisible() and pane.layer_chart.first_module == "blocks.1.0.conv_pw"
    assert "First divergent layer: blocks.1.0.conv_pw" in pane.parity.toPlainText()
    assert "layers" not in json.loads(pane.parity_raw.toPlainText()) or \
        json.loads(pane.parity_raw.toPlainText())["layers"] is None  # the JSON is the report as stored
    pane.show_job(None)
    assert not pane.layer_chart.isVisible() and not pane.agreement_chart.isVisible()
