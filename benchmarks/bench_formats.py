"""Every format on the sample detector and classifier: model size, and latency p50/p95 at
batch 1 with 2 threads of the exported model in its runtime, vs PyTorch eager of the
original model, measured interleaved in one run.

Anchor (Ultralytics' docs, YOLO11n CPU): PyTorch 21.0 ms, TorchScript 21.4, ONNX 15.6,
OpenVINO 11.5. On a CPU with AVX512-VNNI/AMX, ONNX and OpenVINO should beat eager PyTorch.
Core ML has no runtime on Linux: its size is reported, its latency is not.

    python benchmarks/bench_formats.py [--iterations 100]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.samples import sample  # noqa: E402

THREADS = 2
ROUNDS = 10
FORMATS = ("onnx", "torchscript", "openvino", "tflite", "coreml")
MODELS = {
    "detector (YOLO11n, 320)": [str(sample("shapes-yolo11n").checkpoint)],
    "classifier (timm mobilenetv3_small_050, 224)": [str(sample("digits-timm").checkpoint),
                                                     "--model-name", "mobilenetv3_small_050"],
}


def export(args: list[str], fmt: str, out: Path) -> dict[str, Any]:
    run = subprocess.run([sys.executable, "-m", "gui.launcher", "export", *args, "--format", fmt,
                          "--out", str(out), "--json"], capture_output=True, text=True, cwd=ROOT)
    if run.returncode != 0:
        raise SystemExit(f"export {fmt} failed:\n{run.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return result


def eager_model(args: list[str], work: Path) -> Callable[[Any], Any]:
    """The original checkpoint as PyTorch eager, loaded the way the exporter loads it."""
    import torch

    from core.checkpoint import inspect_checkpoint
    from core.spec import parse_spec
    from exporters.loaders import load_model
    from exporters.pipeline import resolve_framework

    spec = parse_spec({"checkpoint": args[0], "export_format": "onnx",
                       **({"model_name": args[2]} if len(args) > 2 else {})})
    framework = resolve_framework(spec, inspect_checkpoint(spec.checkpoint))
    work.mkdir(parents=True, exist_ok=True)
    module = load_model(spec, framework, spec.checkpoint, work).module

    def run(tensor: Any) -> Any:
        with torch.inference_mode():
            return module(torch.from_numpy(tensor))

    return run


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


def bench(label: str, args: list[str], tmp: Path, iterations: int) -> None:
    import cv2
    import torch
    from skimage import data

    from core.inference import open_package

    torch.set_num_threads(THREADS)
    photo = cv2.resize(data.coffee(), (640, 480), interpolation=cv2.INTER_AREA)
    runners: dict[str, Callable[[], Any]] = {}
    sizes: dict[str, float] = {}
    for fmt in FORMATS:
        result = export(args, fmt, tmp / f"{label[:4]}-{fmt}")
        sizes[fmt] = result["model_size_bytes"] / 1e6
        sizes["pytorch"] = result["optimization_stats"]["original_size_mb"]
        if fmt == "coreml":
            continue
        wrapper = open_package(Path(result["package_dir"]), threads=THREADS)
        tensor, _ = wrapper.preprocess(photo)
        runners[fmt] = (lambda w, t: lambda: w.runtime(t))(wrapper, tensor)
        if fmt == "onnx":
            nchw = tensor
        if fmt == "openvino":  # what OpenVINO does unpinned on an AMX CPU, for comparison
            meta = {**wrapper.metadata, "runtime": {"openvino": {"INFERENCE_PRECISION_HINT": "bf16"}}}
            bf16 = type(wrapper.runtime)(str(Path(result["package_dir"]) / "model.xml"), THREADS, meta)
            runners["openvino-bf16"] = (lambda r, t: lambda: r(t))(bf16, tensor)
    eager = eager_model(args, tmp / "eager")
    runners = {"pytorch-eager": lambda: eager(nchw), **runners}
    for run in runners.values():  # warm-up
        for _ in range(5):
            run()
    times: dict[str, list[float]] = {name: [] for name in runners}
    block = max(iterations // ROUNDS, 1)
    for _ in range(ROUNDS):  # blocks in turn: drift hits all alike, and one runtime's
        for name, run in runners.items():  # idle spinning threads do not land in the next's timing
            run()
            for _ in range(block):
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
    base = percentile(times["pytorch-eager"], 0.5)
    print(f"\n{label}: batch 1, {THREADS} threads, {ROUNDS} rounds of {block} runs per runtime")
    print(f"{'format':<16}{'size MB':>9}{'p50 ms':>9}{'p95 ms':>9}{'p50 / eager':>13}")
    for name, values in times.items():
        size = sizes[name.split("-")[0]]
        p50 = percentile(values, 0.5)
        print(f"{name:<16}{size:>9.2f}{p50:>9.2f}{percentile(values, 0.95):>9.2f}{p50 / base:>13.3f}")
    print(f"{'coreml':<16}{sizes['coreml']:>9.2f}{'n/a':>9}{'n/a':>9}{'(macOS only)':>13}")
    for name in ("onnx", "openvino"):
        print(f"RATIO {name} / pytorch-eager p50 = {percentile(times[name], 0.5) / base:.3f}  (target < 1)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=100)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    os.environ["SLIPWAY_HOME"] = str(tmp / "home")
    from exporters.offline import configure_offline

    configure_offline(tmp / "cache")
    for label, model_args in MODELS.items():
        bench(label, model_args, tmp, args.iterations)


if __name__ == "__main__":
    main()
