"""INT8, FP16 and pruning measured side by side in one run (issues 4 and 15; 2 threads, batch 1):

- static INT8 against FP32 of the same runtime (ONNX Runtime, OpenVINO): the sample
  classifier, the sample detector at 320 and at 640, and a ResNet-50-sized timm model
  (random weights: speed only; accuracy is measured on the trained samples);
- a peer row: Ultralytics' own ``export(format="openvino", int8=True, data=...)`` of the
  same detector checkpoint at 640, in the same run: its export time, its latency under the
  same runtime settings (the package wrapper's OpenVINO, 2 threads, f32 inference hint),
  and its mAP50-95 by the same metric code as Slipway's validation;
- structured pruning at sparsity 0.5 against the unpruned classifier.

Every Slipway package is exported by the CLI (parity gate, speed gate, and validation on the
sample's own labeled split included in its export time), then every package is timed in
one process, in turn (exporters.report). Ratios, not absolute times, are the result: the
machine may be shared.

    python benchmarks/bench_optimization.py            # every row (long: an hour on 2 cores)
    python benchmarks/bench_optimization.py det640     # only rows whose name starts so
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.samples import sample  # noqa: E402

DET, TIMM = sample("shapes-yolo11n"), sample("digits-timm")
TIMM_ARGS = [str(TIMM.checkpoint), "--model-name", "mobilenetv3_small_050"]
DET_INT8 = ["--int8", "static", "--calib", str(DET.images)]
CLS_INT8 = ["--int8", "static", "--calib", str(TIMM.images)]
DET640 = [str(DET.checkpoint), "--imgsz", "640"]
R50 = "{r50}"  # the random-weights ResNet-50 checkpoint, written at run time
R50_ARGS = [R50, "--model-name", "resnet50", "--imgsz", "224"]
PEER = "det640-ultralytics-openvino-int8"
VARIANTS: dict[str, list[str]] = {
    "det-onnx-fp32": [str(DET.checkpoint), "--format", "onnx"],
    "det-onnx-int8": [str(DET.checkpoint), "--format", "onnx", *DET_INT8],
    "det-openvino-fp32": [str(DET.checkpoint), "--format", "openvino"],
    "det-openvino-int8": [str(DET.checkpoint), "--format", "openvino", *DET_INT8],
    "det640-onnx-fp32": [*DET640, "--format", "onnx"],
    "det640-onnx-int8": [*DET640, "--format", "onnx", *DET_INT8],
    "det640-openvino-fp32": [*DET640, "--format", "openvino"],
    "det640-openvino-int8": [*DET640, "--format", "openvino", *DET_INT8],
    PEER: [],
    "cls-onnx-fp32": [*TIMM_ARGS, "--format", "onnx"],
    "cls-onnx-int8": [*TIMM_ARGS, "--format", "onnx", *CLS_INT8],
    "cls-openvino-fp32": [*TIMM_ARGS, "--format", "openvino"],
    "cls-openvino-int8": [*TIMM_ARGS, "--format", "openvino", *CLS_INT8],
    "cls-onnx-pruned-0.5": [
        *TIMM_ARGS,
        "--format",
        "onnx",
        "--prune",
        "structured:0.5",
        "--fine-tune",
        str(TIMM.dataset),
        "--fine-tune-epochs",
        "3",
    ],
    "r50-onnx-fp32": [*R50_ARGS, "--format", "onnx"],
    "r50-onnx-int8": [*R50_ARGS, "--format", "onnx", *CLS_INT8],
    "r50-openvino-fp32": [*R50_ARGS, "--format", "openvino"],
    "r50-openvino-int8": [*R50_ARGS, "--format", "openvino", *CLS_INT8],
}
PAIRS = [
    ("det-onnx-int8", "det-onnx-fp32"),
    ("det-openvino-int8", "det-openvino-fp32"),
    ("det640-onnx-int8", "det640-onnx-fp32"),
    ("det640-openvino-int8", "det640-openvino-fp32"),
    (PEER, "det640-openvino-fp32"),
    ("det640-openvino-int8", PEER),
    ("cls-onnx-int8", "cls-onnx-fp32"),
    ("cls-openvino-int8", "cls-openvino-fp32"),
    ("cls-onnx-pruned-0.5", "cls-onnx-fp32"),
    ("r50-onnx-int8", "r50-onnx-fp32"),
    ("r50-openvino-int8", "r50-openvino-fp32"),
]


def resnet50_checkpoint(path: Path) -> Path:
    """timm resnet50 with random weights, its norms randomized too (timm zeroes the last norm
    of each residual block, and converters would fold those branches away)."""
    import timm
    import torch

    torch.manual_seed(0)
    model = timm.create_model("resnet50", pretrained=False, num_classes=10)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    torch.save(model.state_dict(), path)
    return path


def export(name: str, args: list[str], tmp: Path) -> dict[str, Any]:
    out = tmp / name
    validate = (
        []
        if name.startswith("r50")
        else ["--validate", str(DET.dataset if name.startswith("det") else TIMM.dataset), "--max-drop", "1"]
    )
    start = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", "gui.launcher", "export", *args, *validate, "--out", str(out), "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    seconds = round(time.perf_counter() - start, 1)
    result: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1]) if run.stdout.strip() else {}
    if run.returncode != 0:
        print(f"{name} failed (exit {run.returncode}): {result.get('message', run.stderr[-1500:])}")
        return {"variant": name, "status": "failed", "export_s": seconds}
    row: dict[str, Any] = {
        "variant": name,
        "status": "passed",
        "package_dir": str(out),
        "export_s": seconds,
        "stage_s": result.get("timings"),
        "size_mb": result["optimization_stats"]["exported_size_mb"],
        "quantization": result["optimization_stats"].get("quantization"),
    }
    validation = result.get("validation_metrics")
    if validation:
        row.update(
            metric=validation["metric"],
            metric_value=validation["exported"],
            original_value=validation.get("original"),
            accuracy_drop=validation["accuracy_drop"],
        )
    return row


def peer_export(tmp: Path, fp32_package: Path) -> dict[str, Any]:
    """Ultralytics' own OpenVINO INT8 export of the same checkpoint at 640, offline, calibrated on
    the same val images; timed as a process, like Slipway's CLI. Its IR goes into a copy of
    Slipway's FP32 OpenVINO package (same I/O, same pre- and postprocessing) so that both run
    through the same wrapper and are scored by the same code."""
    work = tmp / "peer"
    shutil.copytree(DET.dataset.parent, work / "dataset")  # Ultralytics writes a label cache there
    shutil.copyfile(DET.checkpoint, work / "best.pt")
    yaml = work / "dataset" / "peer.yaml"
    yaml.write_text(
        f"path: {work / 'dataset'}\ntrain: images/val\nval: images/val\n"
        "names: {0: circle, 1: square, 2: triangle, 3: star}\n"
    )
    script = (
        "import sys; from pathlib import Path; from exporters.offline import configure_offline; "
        f"configure_offline(Path({str(work / 'cache')!r})); from ultralytics import YOLO; "
        f"print(YOLO({str(work / 'best.pt')!r}).export(format='openvino', int8=True, "
        f"data={str(yaml)!r}, imgsz=640, batch=1, device='cpu'))"
    )
    start = time.perf_counter()
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    seconds = round(time.perf_counter() - start, 1)
    if run.returncode != 0:
        print(f"{PEER} failed: {run.stderr[-1500:]}")
        return {"variant": PEER, "status": "failed", "export_s": seconds}
    ir = next((work / "best_int8_openvino_model").glob("*.xml"))
    package = tmp / PEER
    shutil.copytree(fp32_package, package)
    meta = json.loads((package / "metadata.json").read_text())
    model_file = package / meta["model_info"]["model_file"]
    shutil.copyfile(ir, model_file)
    shutil.copyfile(ir.with_suffix(".bin"), model_file.with_suffix(".bin"))
    size = (ir.stat().st_size + ir.with_suffix(".bin").stat().st_size) / 1e6
    return {
        "variant": PEER,
        "status": "passed",
        "package_dir": str(package),
        "export_s": seconds,
        "size_mb": round(size, 3),
    }


def score_detectors(rows: list[dict[str, Any]]) -> None:
    """mAP50-95 of every detector package on the sample's val split, by validation's code; the
    drop is against the original model's (from Slipway's validation of the same size)."""
    from core.datasets import load_dataset
    from core.evaluation import evaluate
    from core.inference import open_package

    dataset = load_dataset(DET.dataset, "detect")
    original = {r["variant"].split("-")[0]: r["original_value"] for r in rows if r.get("original_value")}
    for row in rows:
        if row["status"] != "passed" or not row["variant"].startswith("det"):
            continue
        wrapper = open_package(Path(row["package_dir"]), threads=2)
        value = evaluate(wrapper, dataset, wrapper.class_names)["metrics"]["mAP50-95"]
        base = original.get(row["variant"].split("-")[0])
        row.update(
            metric="mAP50-95", metric_value=value, accuracy_drop=None if base is None else base - value
        )


def main() -> None:
    prefixes = sys.argv[1:]
    chosen = {k: v for k, v in VARIANTS.items() if not prefixes or k.startswith(tuple(prefixes))}
    tmp = Path(tempfile.mkdtemp())
    os.environ["SLIPWAY_HOME"] = str(tmp / "home")
    if any(k.startswith("r50") for k in chosen):
        checkpoint = str(resnet50_checkpoint(tmp / "resnet50_random.pth"))
        chosen = {k: [checkpoint if a == R50 else a for a in v] for k, v in chosen.items()}
    rows: list[dict[str, Any]] = []
    for name, args in chosen.items():
        if name == PEER:
            fp32 = next((r for r in rows if r["variant"] == "det640-openvino-fp32"), None)
            if fp32 is None or fp32["status"] != "passed":
                print(f"{PEER} needs det640-openvino-fp32 (its package holds the peer's IR)")
                continue
            rows.append(peer_export(tmp, Path(fp32["package_dir"])))
        else:
            rows.append(export(name, args, tmp))
        print(json.dumps({k: v for k, v in rows[-1].items() if k != "quantization"}), flush=True)
    score_detectors(rows)
    measured_rows = [r for r in rows if r["status"] == "passed"]
    report = tmp / "report.json"
    report.write_text(json.dumps({"checkpoint": "samples", "rows": measured_rows}))
    subprocess.run([sys.executable, "-m", "exporters.report", str(report)], check=True, cwd=ROOT)
    measured = {r["variant"]: r for r in json.loads(report.read_text())["rows"]}
    print(
        f"{'variant':<34}{'export s':>9}{'MB':>7}{'p50 ms':>9}{'p95 ms':>9}{'metric':>10}{'value':>8}"
        f"{'drop pt':>8}"
    )
    for r in measured.values():
        value, drop = r.get("metric_value"), r.get("accuracy_drop")
        print(
            f"{r['variant']:<34}{r['export_s']:>9.1f}{r['size_mb']:>7.2f}{r['latency_ms_p50']:>9.2f}"
            f"{r['latency_ms_p95']:>9.2f}{r.get('metric') or '-':>10}"
            f"{'-' if value is None else f'{value:.4f}':>8}"
            f"{'-' if drop is None else f'{drop * 100:.2f}':>8}"
        )
    for r in rows:
        if (r.get("quantization") or {}).get("candidates"):
            print(f"CANDIDATES {r['variant']}: {json.dumps(r['quantization']['candidates'])}")
            steps = json.dumps(r["quantization"].get("seconds"))
            print(f"STEPS {r['variant']}: {steps} stages {r['stage_s']}")
    for fast, base in PAIRS:
        if fast not in measured or base not in measured:
            continue
        a, b = measured[fast], measured[base]
        drops = [x.get("accuracy_drop") for x in (a, b)]
        accuracy = "" if None in drops else f", drop {drops[0] * 100:.2f} vs {drops[1] * 100:.2f} pt"
        print(
            f"RATIO {fast} vs {base}: speed {b['latency_ms_p50'] / a['latency_ms_p50']:.2f}x, "
            f"export time {a['export_s'] / b['export_s']:.2f}x, "
            f"size {b['size_mb'] / a['size_mb']:.2f}x smaller{accuracy}"
        )


if __name__ == "__main__":
    main()
