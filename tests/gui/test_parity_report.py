"""The parity report in the app: tables and the error along the network, with the first
divergent layer marked; the raw JSON one tab away (no longer a JSON dump)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pytestqt.qtbot import QtBot

from gui.widgets.job_detail import JobDetailPane
from gui.widgets.parity_report import FAIL, MARK, parity_html


def layer(module: str, kind: str, rel: float, diverged: bool = False, folded: list[str] | None = None
          ) -> dict[str, Any]:
    return {"module": module, "folded": folded or [], "type": kind, "shape": [1, 8, 16, 16],
            "max_abs_diff": rel * 10, "max_rel_diff": rel, "cosine": 1 - rel, "snr_db": 40.0,
            "tolerance": 0.01, "diverged": diverged}


def failed_report() -> dict[str, Any]:
    """A failed gate's report in the shape exporters/parity and exporters/localize write it."""
    first = layer("blocks.1.0.conv_pw", "Conv2d", 0.05, True, ["blocks.1.0.bn1"])
    return {
        "images": 16, "runtime": "OnnxRuntime", "precision": "fp32", "passed": False,
        "tolerance": {"atol": 1e-4, "rtol": 1e-3},
        "outputs": {"logits": {"max_abs_diff": 0.3, "mean_abs_diff": 0.02, "tolerance": 0.004,
                               "passed": False}},
        "task_agreement": {"metric": "top1_agreement", "value": 0.875, "required": 1.0, "agreed": 14,
                           "total": 16, "passed": False},
        "preprocessing_agreement": {"metric": "top1_agreement", "value": 1.0, "required": 1.0, "agreed": 16,
                                    "total": 16, "passed": True},
        "layers": {"status": "compared", "format": "onnx", "images": 4, "matched": 3, "unmatched": 1,
                   "tolerance": {"atol": 1e-4, "rtol": 1e-3}, "first_divergent": first,
                   "layers": [layer("conv_stem", "Conv2d", 1e-7), first,
                              layer("classifier", "Linear", 0.2, True)],
                   "unmatched_modules": [{"module": "bn1", "reason": "folded with conv_stem"}],
                   "seconds": 1.5},
    }


def test_a_failed_report_reads_as_tables_with_the_first_divergent_layer_marked() -> None:
    page = parity_html(failed_report())
    assert "Parity gate failed" in page and "on 16 images" in page
    assert "First divergent layer: blocks.1.0.conv_pw" in page and "with blocks.1.0.bn1 folded in" in page
    assert f"<tr bgcolor='{MARK}'><td><code>blocks.1.0.conv_pw</code>" in page  # its row, marked
    assert f"<tr bgcolor='{FAIL}'><td><code>classifier</code>" in page  # diverged after it
    assert "<tr><td><code>conv_stem</code>" in page  # agreeing, unmarked
    assert "top1_agreement 87.5% (required 100%), 14/16" in page
    assert '"max_abs_diff"' not in page and "{" not in page  # no JSON dump


def test_the_rows_left_out_of_the_raw_comparison_are_said_under_its_table() -> None:
    report = failed_report()
    report["outputs_note"] = "1 row(s) of the top-k output had no counterpart"
    page = parity_html(report)
    assert page.index("<code>logits</code>") < page.index("1 row(s) of the top-k output had no counterpart")
    assert "1 row(s)" not in parity_html(failed_report())


def test_an_int8_report_lists_the_layers_that_lose_most() -> None:
    report = failed_report()
    report["layers"].update(first_divergent=None, most_sensitive=["classifier", "blocks.1.0.conv_pw"],
                            tolerance={"atol": None, "rtol": None})
    page = parity_html(report)
    assert "the layers that lose most: <code>classifier</code>, <code>blocks.1.0.conv_pw</code>" in page


def test_the_history_pane_renders_a_failed_gates_report_and_keeps_its_json(qtbot: QtBot,
                                                                             tmp_path: Path) -> None:
    """A failed export has no parity in its job row; the package's parity_report.json is read."""
    (tmp_path / "parity_report.json").write_text(json.dumps(failed_report()))
    job = {"id": "f" * 32, "version": 3, "export_format": "onnx", "status": "failed",
           "error_message": "parity gate failed", "framework": "timm", "task": "classify",
           "package_dir": str(tmp_path), "model_size_bytes": None, "duration_s": 12.0, "parity": None,
           "validation_metrics": None, "timings": None, "optimization_stats": None}
    pane = JobDetailPane()
    qtbot.addWidget(pane)
    pane.show_job(job)
    titles = [pane.tabText(i) for i in range(pane.count())]
    assert titles[:3] == ["Details", "Parity", "Parity JSON"]
    text = pane.parity.toPlainText()
    assert "First divergent layer: blocks.1.0.conv_pw (Conv2d, with blocks.1.0.bn1 folded in)" in text
    assert json.loads(pane.parity_raw.toPlainText()) == failed_report()
    assert "max_abs_diff" not in pane.summary.toPlainText()  # the details no longer dump the report
    pane.show_job(None)
    assert pane.parity.toPlainText() == "" and pane.parity_raw.toPlainText() == ""
