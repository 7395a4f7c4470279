"""Job overhead: `slipway export` of the sample detector to ONNX vs a bare Ultralytics export.

Both run in fresh processes, alternately, with the same offline settings. Slipway's
wall time is taken less its parity stage (the worker reports each stage's duration):
the target is a ratio <= 1.15.

    python benchmarks/bench_export_overhead.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.samples import sample  # noqa: E402

BARE = """
import shutil, sys
from pathlib import Path
from exporters.offline import configure_offline
configure_offline(Path(sys.argv[2]) / "cache")
from ultralytics import YOLO
work = Path(sys.argv[2]) / "bare"
work.mkdir()
ckpt = shutil.copy(sys.argv[1], work / "model.pt")
YOLO(str(ckpt)).export(format="onnx", imgsz=int(sys.argv[3]), device="cpu", verbose=False)
"""


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[:4]} failed:\n{proc.stderr[-2000:]}")
    return elapsed, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    det = sample("shapes-yolo11n")
    imgsz = json.loads((det.folder / "metrics.json").read_text())["imgsz"]
    slipway_times, bare_times, parity_times = [], [], []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            env = {**os.environ, "SLIPWAY_HOME": str(Path(tmp) / "home")}
            wall, out = timed([sys.executable, "-m", "gui.launcher", "export", str(det.checkpoint),
                               "--format", "onnx", "--out", str(Path(tmp) / "pkg"), "--json"], env)
            timings = json.loads(out.strip().splitlines()[-1])["timings"]
            slipway_times.append(wall - timings["parity"])
            parity_times.append(timings["parity"])
            bare, _ = timed([sys.executable, "-c", BARE, str(det.checkpoint), tmp, str(imgsz)], env)
            bare_times.append(bare)
            print(f"run {run + 1}: slipway {wall:.2f} s (parity {timings['parity']:.2f} s, "
                  f"stages {timings}), bare ultralytics {bare:.2f} s")
    s, b = statistics.median(slipway_times), statistics.median(bare_times)
    print(f"\nslipway export less parity: {s:.2f} s (median of {args.runs})")
    print(f"bare YOLO(ckpt).export:     {b:.2f} s")
    print(f"parity stage:               {statistics.median(parity_times):.2f} s")
    print(f"RATIO job overhead = {s / b:.3f}  (target <= 1.15)")


if __name__ == "__main__":
    main()
