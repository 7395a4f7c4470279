"""`slipway benchmark`: formats x precisions of one checkpoint, measured in one run."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from core.samples import sample
from tests.helpers import slipway

pytestmark = pytest.mark.slow


def test_benchmark_reports_size_speed_and_accuracy_per_variant(tmp_path: Path) -> None:
    timm = sample("digits-timm")
    out = tmp_path / "bench"
    run = slipway("benchmark", str(timm.checkpoint), "--model-name", "mobilenetv3_small_050",
                  "--formats", "onnx", "torchscript", "--precisions", "fp32", "int8-dynamic", "fp16",
                  "--validate", str(timm.dataset), "--max-drop", "0.05", "--out", str(out), "--json",
                  home=tmp_path / "home", timeout=900)
    assert run.code == 0, run.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    rows = {r["variant"]: r for r in report["rows"]}
    assert list(rows) == ["onnx-fp32", "onnx-int8-dynamic", "onnx-fp16", "torchscript-fp32",
                          "torchscript-int8-dynamic", "torchscript-fp16"]
    for name in ("onnx-fp32", "onnx-fp16", "torchscript-fp32"):
        row = rows[name]
        assert row["status"] == "passed", row
        assert row["latency_ms_p95"] >= row["latency_ms_p50"] > 0
        assert row["metric"] == "top1" and row["metric_value"] > 0.9
        assert abs(row["original_metric"] - row["metric_value"] - row["accuracy_drop"]) < 1e-9
        assert Path(row["package_dir"], "metadata.json").is_file()
        # the report travels with each package, in its folder and in its zip
        assert json.loads(Path(row["package_dir"], "report.json").read_text()) == report
        with zipfile.ZipFile(Path(row["package_dir"], "export-package.zip")) as archive:
            assert {"report.json", "report.png"} <= set(archive.namelist())
    dynamic = rows["onnx-int8-dynamic"]  # the gate may refuse it: then the row says why
    assert dynamic["status"] in ("passed", "failed")
    assert dynamic["status"] == "passed" or "gate failed" in dynamic["reason"]
    assert rows["torchscript-fp16"]["status"] == "unsupported" and rows["torchscript-fp16"]["reason"]
    assert rows["torchscript-int8-dynamic"]["status"] == "unsupported"
    assert "available for: onnx" in rows["torchscript-int8-dynamic"]["reason"]
    assert rows["onnx-fp32"]["speed_vs_first"] == 1.0
    png = out / "report.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    listing = json.loads(slipway("jobs", "list", "--json", home=tmp_path / "home").stdout)
    # the exports are ordinary jobs (a gate-refused one too); the variants the format cannot
    # make (torchscript-fp16, torchscript-int8-dynamic) are refused before a job exists
    assert len(listing) == 4
