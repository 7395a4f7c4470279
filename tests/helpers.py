"""Helpers for tests that run the real CLI and real exports."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.registry import ROUTES, unavailable_reason
from core.samples import sample

SLIPWAY = [sys.executable, "-m", "gui.launcher"]


@dataclass
class CliRun:
    code: int
    stdout: str
    stderr: str

    @property
    def result(self) -> dict[str, Any]:
        return json.loads(self.stdout.strip().splitlines()[-1])


def slipway(*args: str, home: Path, timeout: float = 600) -> CliRun:
    """Run the CLI to its end. Past ``timeout`` it is killed with the export workers it started
    (each in its own process group, found in the job store), then TimeoutExpired is raised."""
    env = {**os.environ, "SLIPWAY_HOME": str(home)}
    with subprocess.Popen([*SLIPWAY, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=env, start_new_session=True) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_workers(home, proc.pid)
            _kill_group(proc.pid)
            proc.communicate()
            raise
    return CliRun(proc.returncode, stdout, stderr)


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _kill_workers(home: Path, cli_pid: int) -> None:
    """Kill the process group of every worker that a timed-out CLI run left running."""
    from core.db import Database, ExportJob
    from core.launch import process_alive
    from core.paths import database_path

    database = Path(home) / database_path().name
    if not database.exists():
        return
    db = Database(database)
    try:
        with db.session() as s:
            pids = {job.process_id for job in s.query(ExportJob).filter(ExportJob.completed_at.is_(None))}
    finally:
        db.close()
    for pid in pids:
        if pid and pid not in (cli_pid, os.getpid()) and process_alive(pid):
            _kill_group(pid)  # a worker leads its own group (core.launch.spawn)


_TIMM = [str(sample("digits-timm").checkpoint), "--model-name", "mobilenetv3_small_050"]
EXPORTS: dict[str, list[str]] = {
    "det-onnx": [str(sample("shapes-yolo11n").checkpoint), "--format", "onnx"],
    "det-torchscript": [str(sample("shapes-yolo11n").checkpoint), "--format", "torchscript"],
    "timm-onnx": [str(sample("digits-timm").checkpoint), "--model-name", "mobilenetv3_small_050",
                  "--format", "onnx"],
    "timm-torchscript": [str(sample("digits-timm").checkpoint), "--model-name",
                         "mobilenetv3_small_050", "--format", "torchscript"],
    "det-onnx-nms": [str(sample("shapes-yolo11n").checkpoint), "--format", "onnx", "--embed-nms"],
    "timm-torchscript-script": [str(sample("digits-timm").checkpoint), "--model-name",
                                "mobilenetv3_small_050", "--format", "torchscript", "--method",
                                "script"],
    "timm-onnx-embedded": [str(sample("digits-timm").checkpoint), "--model-name",
                           "mobilenetv3_small_050", "--format", "onnx", "--embed-preprocessing",
                           "--dynamic", "--opset", "17"],
    "hf-onnx": [str(sample("digits-hf").checkpoint), "--format", "onnx"],
    "hf-torchscript": [str(sample("digits-hf").checkpoint), "--format", "torchscript"],
    # the formats beyond ONNX and TorchScript, one per runnable (framework, format) pair
    "det-openvino": [str(sample("shapes-yolo11n").checkpoint), "--format", "openvino"],
    "det-tflite": [str(sample("shapes-yolo11n").checkpoint), "--format", "tflite"],
    "det-coreml": [str(sample("shapes-yolo11n").checkpoint), "--format", "coreml"],
    "timm-openvino": [*_TIMM, "--format", "openvino"],
    "timm-tflite": [*_TIMM, "--format", "tflite"],
    "timm-coreml": [*_TIMM, "--format", "coreml", "--deployment-target", "iOS17"],
    "hf-openvino": [str(sample("digits-hf").checkpoint), "--format", "openvino"],
    "hf-tflite": [str(sample("digits-hf").checkpoint), "--format", "tflite"],
    # reduced precision and BGR input, checked against the fp32 packages
    "timm-openvino-fp16-bgr": [*_TIMM, "--format", "openvino", "--precision", "FP16",
                               "--reverse-channels"],
    "det-openvino-fp16": [str(sample("shapes-yolo11n").checkpoint), "--format", "openvino",
                          "--precision", "FP16"],
}
if unavailable_reason(ROUTES[("timm", "tensorrt")]) == ("", None):  # tensorrt and a CUDA GPU
    EXPORTS |= {
        "det-tensorrt": [str(sample("shapes-yolo11n").checkpoint), "--format", "tensorrt"],
        "timm-tensorrt": [*_TIMM, "--format", "tensorrt"],
        "hf-tensorrt": [str(sample("digits-hf").checkpoint), "--format", "tensorrt"],
    }
# exports whose format has no runtime here: structure checks instead of the parity gate
STRUCTURE_ONLY = {"det-coreml", "timm-coreml"}
FRAMEWORK_OF = {"det": "ultralytics", "timm": "timm", "hf": "huggingface"}


def export_pair(name: str) -> tuple[str, str]:
    """The (framework, format) an entry of EXPORTS exercises."""
    args = EXPORTS[name]
    return FRAMEWORK_OF[name.split("-")[0]], args[args.index("--format") + 1]


def sample_metadata(export_format: str = "onnx", model_file: str = "model.onnx") -> dict[str, Any]:
    """The smallest metadata.json the schema accepts (a two-class classifier)."""
    return {
        "schema_version": 2,
        "model_info": {"framework": "timm", "task": "classify", "task_type": "classification",
                       "model_name": "resnet18", "export_format": export_format, "model_file": model_file},
        "preprocessing": {"steps": [{"op": "resize", "mode": "exact", "size": [32, 32]}],
                          "normalize": {"scale": 1 / 255, "mean": [0, 0, 0], "std": [1, 1, 1]},
                          "input_size": [32, 32], "source": "test"},
        "postprocessing": {"type": "logits", "top_k": 2},
        "input_spec": {"name": "input", "shape": [1, 3, 32, 32], "dtype": "float32", "format": "NCHW"},
        "output_spec": {"outputs": [{"name": "logits", "shape": ["batch", 2], "dtype": "float32"}]},
        "classes": [{"id": 1, "name": "dog"}, {"id": 0, "name": "cat"}],
        "performance": {}, "runtime_wrappers": {}, "export": {}, "parity": {"passed": True},
        "environment": {},
        "source": {"checkpoint": "m.pth", "checkpoint_name": "m.pth", "sha256": "0", "kind": "state-dict",
                   "framework": "timm", "framework_version": "1"},
        "runtime": {"format": export_format, "precision": "fp32"},
    }


def register_export(jobs: Any, sample_name: str, package: Path, export_format: str = "onnx") -> str:
    """Record a finished CLI export of a sample (its package stays where it is) in a JobService's
    database; the export's id."""
    from core.spec import ExportSpec

    spec = ExportSpec(checkpoint=sample(sample_name).checkpoint, export_format=export_format,
                      model_name=sample(sample_name).model_name)
    job = jobs.create_job(spec, out_dir=package)
    finished = jobs.finish(job.id, 0, None)  # reads the package's result.json
    assert finished.status == "completed", finished.error_message
    return str(job.id)


def digit_folder(root: Path, per_class: int | None = None) -> Path:
    """An ImageFolder tree of scikit-learn's digits (the validation split the digit samples were
    checked on, written by their own recipe), ``per_class`` images of each digit at most."""
    import importlib.util

    recipe = Path(__file__).resolve().parents[1] / "resources" / "samples" / "digits_data.py"
    spec = importlib.util.spec_from_file_location("digits_data", recipe)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    _, images, _, labels = module.digit_images()
    if per_class is not None:
        keep = [i for i, label in enumerate(labels) if list(labels[: i + 1]).count(label) <= per_class]
        images, labels = [images[i] for i in keep], labels[keep]
    module.write_imagefolder(root, images, labels)
    return root


def shapes_folder(root: Path) -> Path:
    """The shapes detector's validation split as a YOLO folder: images/, labels/ and classes.txt."""
    import shutil

    import yaml

    dataset = sample("shapes-yolo11n").dataset.parent
    shutil.copytree(dataset / "images" / "val", root / "images")
    shutil.copytree(dataset / "labels" / "val", root / "labels")
    names = yaml.safe_load((dataset / "data.yaml").read_text(encoding="utf-8"))["names"]
    ordered = [names[i] for i in sorted(names)] if isinstance(names, dict) else list(names)
    (root / "classes.txt").write_text("\n".join(ordered) + "\n", encoding="utf-8")
    return root


def recorded_jobs(home: Path) -> list[Any]:
    """Every export job the data directory ``home`` has recorded (none without a database)."""
    from core.db import Database, ExportJob

    db = home / "slipway.db"
    if not db.exists():
        return []
    with Database(db).session() as s:
        return list(s.query(ExportJob))
