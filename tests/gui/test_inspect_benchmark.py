"""Inspect and Benchmark in the main window, on the bundled samples and their real exports: the
facts are read in a child process and checked against the model read directly here; the
benchmark runs the real CLI as a child, shows its rows in the table and chart, and Cancel
stops it and the export it was running."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import onnx
import pytest
from pytestqt.qtbot import QtBot

from core.db import JobStatus
from core.launch import process_alive
from gui.main_window import MainWindow
from gui.widgets import inspect_dialog
from gui.widgets.benchmark_panel import BenchmarkDialog, BenchmarkPanel
from gui.widgets.inspect_dialog import NETRON_MISSING, InspectDialog
from tests.gui.test_compare_view import register
from tests.helpers import CliRun

pytestmark = pytest.mark.slow  # real exports and model loads in child processes


def select_sample(window: MainWindow, name: str) -> None:
    window.show_page("Models")
    checkpoint = next(c for c in window.models.model.items if c.sample == name)
    window.models.select(checkpoint.id)


def opened(qtbot: QtBot, parent: object, kind: type) -> object:
    qtbot.waitUntil(lambda: parent.findChild(kind) is not None, timeout=5_000)  # type: ignore[attr-defined]
    return parent.findChild(kind)  # type: ignore[attr-defined]


def cells(table: object, column: int) -> list[str]:
    return [table.item(r, column).text() for r in range(table.rowCount())]  # type: ignore[attr-defined]


def test_inspect_the_checkpoint_from_the_models_page(qtbot: QtBot, window: MainWindow,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import timm
    import torch

    monkeypatch.setattr(inspect_dialog, "netron_available", lambda: False)  # as when it is not installed
    select_sample(window, "digits-timm")
    window.models.inspect_button.click()
    dialog = opened(qtbot, window.models, InspectDialog)
    assert isinstance(dialog, InspectDialog)
    qtbot.waitUntil(lambda: dialog.ended, timeout=180_000)
    assert dialog.error is None and dialog.facts is not None
    model = timm.create_model("mobilenetv3_small_050", num_classes=10)  # the sample's architecture
    convs = sum(isinstance(m, torch.nn.Conv2d) for m in model.modules())
    assert cells(dialog.io_table, 0) == ["input", "output"]
    assert cells(dialog.io_table, 2) == ["[1, 3, 224, 224]", "[1, 10]"]
    assert cells(dialog.io_table, 3) == ["float32", "float32"]
    ops = dict(zip(cells(dialog.ops_table, 0), cells(dialog.ops_table, 1), strict=True))
    assert ops["Conv2d"] == str(convs)
    assert dialog.facts["parameters"]["total"] == sum(p.numel() for p in model.parameters())
    assert "torch" in cells(dialog.versions_table, 0) and "timm" in cells(dialog.versions_table, 0)
    assert not dialog.netron_button.isEnabled() and "pip install netron" in dialog.netron_button.toolTip()
    assert dialog.netron_button.toolTip() == NETRON_MISSING
    dialog.close()


def fake_netron(root: Path) -> Path:
    """An importable ``netron`` whose ``python -m netron FILE`` records the file it was given."""
    package = root / "netron"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    record = root / "opened.txt"
    (package / "__main__.py").write_text(
        f"import sys, pathlib\npathlib.Path({str(record)!r}).write_text(sys.argv[1])\n")
    return record


def test_inspect_an_onnx_export_equals_onnx_read_directly(
        qtbot: QtBot, window: MainWindow, exported: Callable[[str], CliRun], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    run = exported("timm-onnx")
    export_id = register(window.service, "digits-timm", Path(run.result["package_dir"]))
    record = fake_netron(tmp_path / "site")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))  # netron importable: the button is on
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path / "site"), os.environ["PYTHONPATH"]]))
    select_sample(window, "digits-timm")
    window.show_page("Exports")
    window.history.refresh()
    window.history.select(export_id)
    inspect = window.history.actions_by_name["inspect"]
    assert inspect.isEnabled()
    inspect.trigger()
    dialog = opened(qtbot, window.history, InspectDialog)
    assert isinstance(dialog, InspectDialog)
    qtbot.waitUntil(lambda: dialog.ended, timeout=120_000)
    assert dialog.error is None
    model = onnx.load(run.result["model_path"])
    first = model.graph.input[0]
    dims = [d.dim_param or d.dim_value for d in first.type.tensor_type.shape.dim]
    dtype = onnx.helper.tensor_dtype_to_np_dtype(first.type.tensor_type.elem_type).name
    assert cells(dialog.io_table, 1)[0] == first.name
    assert cells(dialog.io_table, 2)[0] == str(dims) and cells(dialog.io_table, 3)[0] == dtype
    expected = Counter(node.op_type for node in model.graph.node)
    shown = dict(zip(cells(dialog.ops_table, 0), map(int, cells(dialog.ops_table, 1)), strict=True))
    assert shown == dict(expected)
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    assert f"ai.onnx {opset}" in dialog.summary.text()
    assert dialog.netron_button.isEnabled()
    dialog.netron_button.click()  # detached: the click returns at once
    qtbot.waitUntil(record.exists, timeout=30_000)
    assert record.read_text() == run.result["model_path"]
    dialog.close()


def benchmark_panel(qtbot: QtBot, window: MainWindow, precisions: tuple[str, ...]) -> BenchmarkPanel:
    select_sample(window, "digits-timm")
    window.models.benchmark_button.click()
    dialog = opened(qtbot, window.models, BenchmarkDialog)
    assert isinstance(dialog, BenchmarkDialog)
    panel = dialog.panel
    for name, box in panel.format_boxes.items():
        box.setChecked(name == "onnx")
    for name, box in panel.precision_boxes.items():
        box.setChecked(name in precisions)
    assert panel.run_button.isEnabled()
    return panel


def test_benchmark_two_variants_from_the_panel(qtbot: QtBot, window: MainWindow) -> None:
    panel = benchmark_panel(qtbot, window, ("fp32", "fp16"))
    panel.run_button.click()
    assert panel.running and panel.cancel_button.isEnabled() and not panel.run_button.isEnabled()
    qtbot.waitUntil(lambda: panel.outcome != "", timeout=600_000)
    assert panel.outcome == "done", panel.status.text()
    assert cells(panel.table, 0) == ["onnx-fp32", "onnx-fp16"]
    assert cells(panel.table, 1) == ["passed", "passed"]
    assert [name for name, _status, _values in panel.chart.bars] == ["onnx-fp32", "onnx-fp16"]
    assert all(values[0] and values[1] for _name, _status, values in panel.chart.bars)  # size, latency
    # each variant is an ordinary export of the model, and the report reopens in a new panel
    assert {j.export_format for j in window.service.list_jobs()} == {"onnx"}
    assert panel.report_path is not None and panel.report_path.is_file()
    again = BenchmarkPanel()
    qtbot.addWidget(again)
    assert again.open_report(panel.report_path)
    assert cells(again.table, 0) == ["onnx-fp32", "onnx-fp16"] and len(again.chart.bars) == 2


def test_cancel_stops_the_benchmark_and_its_export(qtbot: QtBot, window: MainWindow) -> None:
    panel = benchmark_panel(qtbot, window, ("fp32", "fp16"))
    panel.run_button.click()
    service = window.service
    qtbot.waitUntil(lambda: any(j.process_id for j in service.list_jobs()), timeout=120_000)
    worker = next(j for j in service.list_jobs() if j.process_id)
    child = panel.child
    assert child is not None and panel.cancel_button.isEnabled()
    panel.cancel_button.click()
    qtbot.waitUntil(lambda: panel.outcome != "", timeout=60_000)
    assert panel.outcome == "cancelled" and not child.running
    assert not panel.cancel_button.isEnabled() and panel.run_button.isEnabled()
    assert service.get(worker.id).status == JobStatus.CANCELLED
    assert not process_alive(worker.process_id)
    assert len(service.list_jobs()) == 1, "the run went on to the next variant after Cancel"


def test_the_report_chart_tab_opens_the_benchmark_panel(qtbot: QtBot, window: MainWindow,
                                                        exported: Callable[[str], CliRun]) -> None:
    export_id = register(window.service, "digits-timm", Path(exported("timm-onnx").result["package_dir"]))
    select_sample(window, "digits-timm")
    window.history.refresh()
    window.history.select(export_id)
    button = window.history.detail.benchmark_button
    assert button.isEnabled() and button.text() == "Benchmark this model…"
    button.click()
    dialog = opened(qtbot, window.history, BenchmarkDialog)
    assert isinstance(dialog, BenchmarkDialog)
    assert dialog.panel.checkpoint is not None and dialog.panel.checkpoint.sample == "digits-timm"
    assert dialog.panel.run_button.isEnabled()
    dialog.close()

