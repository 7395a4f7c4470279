"""Per-layer localisation time: `slipway inspect` on real exports of a ResNet-50-sized timm
model (random weights, batch norms randomized so no branch folds away) and of the sample
detector at 640, for every format localisation reads. The issue's bound is 60 s.

Each model is exported through the CLI (not timed), then `slipway inspect EXPORT_ID --json`
runs on the gate's four images: ``seconds`` is the comparison itself as the report gives it
(the graph's taps built, both sides run, the layers compared); ``wall`` adds the child
process, the original model's load and its preprocessing.

    python benchmarks/bench_localize.py [--formats onnx openvino tflite] [--models resnet50 yolo11n]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.samples import sample  # noqa: E402

SLIPWAY = [sys.executable, "-m", "gui.launcher"]
FORMATS = ("onnx", "openvino", "tflite")
MODELS = ("yolo11n", "resnet50")


def resnet50_checkpoint(folder: Path) -> Path:
    """timm's resnet50 with random weights; batch norms randomized (timm zeroes the last one
    of each block, and converters would fold those branches away)."""
    import timm
    import torch

    torch.manual_seed(0)
    model = timm.create_model("resnet50", pretrained=False, num_classes=10).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0, 0.1)
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 2.0)
    path = folder / "resnet50.pth"
    torch.save(model.state_dict(), path)
    return path


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cli(args: list[str], home: Path) -> tuple[dict, float, float]:
    """The command's last JSON line, its wall time and the CPU seconds its processes used
    (on a shared, loaded machine the CPU time says more than the wall time)."""
    start, cpu = time.perf_counter(), _children_cpu()
    run = subprocess.run([*SLIPWAY, *args], capture_output=True, text=True, check=False,
                         env={**os.environ, "SLIPWAY_HOME": str(home), "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    wall = time.perf_counter() - start
    lines = run.stdout.strip().splitlines()
    if run.returncode != 0 or not lines:
        raise SystemExit(f"slipway {' '.join(args[:2])} failed (exit {run.returncode}):\n"
                         + run.stderr[-3000:])
    return json.loads(lines[-1]), wall, _children_cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--formats", nargs="+", choices=FORMATS, default=list(FORMATS))
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--images", default="4", help="the gate's images compared (default 4)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="slipway-bench-localize-") as tmp:
        work = Path(tmp)
        models = {"yolo11n": [str(sample("shapes-yolo11n").checkpoint), "--imgsz", "640"]}
        if "resnet50" in args.models:
            models["resnet50"] = [str(resnet50_checkpoint(work)), "--model-name", "resnet50"]
        rows = []
        for name in args.models:
            for fmt in args.formats:
                result, export_wall, _ = cli(["export", *models[name], "--format", fmt, "--out",
                                           str(work / f"{name}-{fmt}"), "--json"], work / "home")
                inspect = ["inspect", result["export_id"], "--images", args.images, "--json"]
                report, wall, cpu = cli(inspect, work / "home")
                first = (report.get("first_divergent") or {}).get("module")
                rows.append((name, fmt, report["matched"], report["seconds"], wall, first))
                print(f"{name:<9} {fmt:<9} export {export_wall:6.1f} s  layers {report['matched']:>4} "
                      f"(unmatched {report['unmatched']:>3})  localise {report['seconds']:6.2f} s  "
                      f"inspect wall {wall:6.1f} s cpu {cpu:6.1f} s  load {os.getloadavg()[0]:.1f}  "
                      f"first divergent: {first}", flush=True)
        slowest = max(rows, key=lambda r: r[4])
        print(f"slowest inspect: {slowest[0]} {slowest[1]} {slowest[4]:.1f} s (bound 60 s)")


if __name__ == "__main__":
    main()
