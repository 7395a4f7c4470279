"""Issue 4's performance goals, measured side by side in one run (2 threads, batch 1):

- static INT8 ONNX vs FP32 ONNX, sample classifier and detector (goal >= 2x faster,
  <= 1 point top-1 / <= 1.5 points mAP50-95 lost);
- OpenVINO INT8 (NNCF) vs OpenVINO FP32 (goal >= 2x);
- structured pruning at sparsity 0.5 vs unpruned (goal: latency >= 1.5x lower, size
  >= 1.8x smaller).

Every package is exported by the CLI (so it passed the parity gate, and validation
on the sample's own labeled split), then all are timed in one process, in turn.

    python benchmarks/bench_optimization.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.samples import sample  # noqa: E402

DET, TIMM = sample("shapes-yolo11n"), sample("digits-timm")
TIMM_ARGS = [str(TIMM.checkpoint), "--model-name", "mobilenetv3_small_050"]
DET_INT8 = ["--int8", "static", "--calib", str(DET.images)]
CLS_INT8 = ["--int8", "static", "--calib", str(TIMM.images)]
VARIANTS: dict[str, list[str]] = {
    "det-onnx-fp32": [str(DET.checkpoint), "--format", "onnx"],
    "det-onnx-int8": [str(DET.checkpoint), "--format", "onnx", *DET_INT8],
    "det-openvino-fp32": [str(DET.checkpoint), "--format", "openvino"],
    "det-openvino-int8": [str(DET.checkpoint), "--format", "openvino", *DET_INT8],
    "cls-onnx-fp32": [*TIMM_ARGS, "--format", "onnx"],
    "cls-onnx-int8": [*TIMM_ARGS, "--format", "onnx", *CLS_INT8],
    "cls-openvino-fp32": [*TIMM_ARGS, "--format", "openvino"],
    "cls-openvino-int8": [*TIMM_ARGS, "--format", "openvino", *CLS_INT8],
    "cls-onnx-pruned-0.5": [*TIMM_ARGS, "--format", "onnx", "--prune", "structured:0.5", "--fine-tune",
                            str(TIMM.dataset), "--fine-tune-epochs", "3"],
}
PAIRS = [("det-onnx-int8", "det-onnx-fp32"), ("cls-onnx-int8", "cls-onnx-fp32"),
         ("det-openvino-int8", "det-openvino-fp32"), ("cls-openvino-int8", "cls-openvino-fp32"),
         ("cls-onnx-pruned-0.5", "cls-onnx-fp32")]


def export(name: str, args: list[str], tmp: Path) -> dict[str, Any]:
    data = DET.dataset if name.startswith("det") else TIMM.dataset
    out = tmp / name
    run = subprocess.run([sys.executable, "-m", "gui.launcher", "export", *args, "--validate", str(data),
                          "--max-drop", "1", "--out", str(out), "--json"],
                         capture_output=True, text=True, cwd=ROOT)
    if run.returncode != 0:
        raise SystemExit(f"{name} failed:\n{run.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    validation = result["validation_metrics"]
    return {"variant": name, "status": "passed", "package_dir": str(out),
            "size_mb": result["optimization_stats"]["exported_size_mb"], "metric": validation["metric"],
            "metric_value": validation["exported"], "accuracy_drop": validation["accuracy_drop"]}


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    os.environ["SLIPWAY_HOME"] = str(tmp / "home")
    rows = [export(name, args, tmp) for name, args in VARIANTS.items()]
    report = tmp / "report.json"
    report.write_text(json.dumps({"checkpoint": "samples", "rows": rows}))
    subprocess.run([sys.executable, "-m", "exporters.report", str(report)], check=True, cwd=ROOT)
    measured = {r["variant"]: r for r in json.loads(report.read_text())["rows"]}
    print(f"{'variant':<22}{'MB':>7}{'p50 ms':>9}{'p95 ms':>9}{'metric':>10}{'value':>8}{'drop':>8}")
    for r in measured.values():
        print(f"{r['variant']:<22}{r['size_mb']:>7.2f}{r['latency_ms_p50']:>9.2f}{r['latency_ms_p95']:>9.2f}"
              f"{r['metric']:>10}{r['metric_value']:>8.4f}{r['accuracy_drop']:>8.4f}")
    for fast, base in PAIRS:
        a, b = measured[fast], measured[base]
        print(f"RATIO {fast} vs {base}: speed {b['latency_ms_p50'] / a['latency_ms_p50']:.2f}x, "
              f"size {b['size_mb'] / a['size_mb']:.2f}x smaller, "
              f"{a['metric']} drop {a['accuracy_drop'] * 100:.2f} points")


if __name__ == "__main__":
    main()
