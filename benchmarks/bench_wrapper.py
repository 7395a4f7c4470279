"""The Python wrapper's predict() vs bare session.run on a prepared tensor, and vs
Ultralytics' YOLO(model.onnx).predict, on a 640x480 photo, side by side in one run.

Target: wrapper overhead <= 5% over bare session.run; faster than Ultralytics.

    python benchmarks/bench_wrapper.py [--iterations 200] [--imgsz 640]
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

THREADS = 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--imgsz", type=int, default=640)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    os.environ["SLIPWAY_HOME"] = str(tmp / "home")
    from exporters.offline import configure_offline

    configure_offline(tmp / "cache")
    det = sample("shapes-yolo11n")
    package = tmp / "pkg"
    subprocess.run([sys.executable, "-m", "gui.launcher", "export", str(det.checkpoint), "--format",
                    "onnx", "--imgsz", str(args.imgsz), "--out", str(package), "--json"],
                   check=True, capture_output=True, cwd=ROOT)

    import cv2
    import numpy as np
    import onnxruntime as ort
    from skimage import data

    from core.inference import open_package

    photo_rgb = cv2.resize(data.coffee(), (640, 480), interpolation=cv2.INTER_AREA)
    photo_bgr = np.ascontiguousarray(photo_rgb[:, :, ::-1])
    wrapper = open_package(package, threads=THREADS)
    options = ort.SessionOptions()
    options.intra_op_num_threads = THREADS
    options.inter_op_num_threads = 1
    bare = ort.InferenceSession(str(package / "model.onnx"), options,
                                providers=["CPUExecutionProvider"])
    name = bare.get_inputs()[0].name
    tensor, _ = wrapper.preprocess(photo_rgb)

    from ultralytics import YOLO

    yolo = YOLO(str(package / "model.onnx"), task="detect")
    yolo.predict(photo_bgr, imgsz=args.imgsz, verbose=False)  # warm-up: builds its session
    for _ in range(10):
        bare.run(None, {name: tensor})
        wrapper.predict(photo_rgb)

    times: dict[str, list[float]] = {"bare": [], "wrapper": [], "ultralytics": []}
    for _ in range(args.iterations):  # interleaved, so drift hits all three alike
        t0 = time.perf_counter()
        bare.run(None, {name: tensor})
        t1 = time.perf_counter()
        wrapper.predict(photo_rgb)
        t2 = time.perf_counter()
        yolo.predict(photo_bgr, imgsz=args.imgsz, verbose=False)
        t3 = time.perf_counter()
        times["bare"].append(t1 - t0)
        times["wrapper"].append(t2 - t1)
        times["ultralytics"].append(t3 - t2)
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    stages = {}
    for label, fn in (("preprocess", lambda: wrapper.preprocess(photo_rgb)),):
        t = []
        for _ in range(100):
            s = time.perf_counter()
            fn()
            t.append(time.perf_counter() - s)
        stages[label] = statistics.median(t) * 1000
    print(json.dumps({"median_ms": med, "wrapper_stage_ms": stages, "imgsz": args.imgsz}, indent=2))
    print(f"RATIO wrapper / bare session.run      = {med['wrapper'] / med['bare']:.3f}  (target <= 1.05)")
    print(f"RATIO ultralytics / bare session.run  = {med['ultralytics'] / med['bare']:.3f}")
    print(f"RATIO wrapper / ultralytics           = {med['wrapper'] / med['ultralytics']:.3f}  (target < 1)")


if __name__ == "__main__":
    main()
