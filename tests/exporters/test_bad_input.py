"""Bad input ends as a failed job with a message naming the cause and the documented exit
code; earlier exports are never touched."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path

import pytest

from core.db import ExportJob
from core.jobs import JobService
from core.samples import sample
from tests.helpers import SLIPWAY, CliRun, slipway

DET = str(sample("shapes-yolo11n").checkpoint)
TIMM = str(sample("digits-timm").checkpoint)
HF = str(sample("digits-hf").checkpoint)


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def garbage(tmp_path: Path) -> dict[str, Path]:
    data = Path(DET).read_bytes()
    files = {"truncated": tmp_path / "cut.pt", "text": tmp_path / "notes.pt"}
    files["truncated"].write_bytes(data[: len(data) // 2])
    files["text"].write_text("not a model")
    files["empty"] = tmp_path / "empty"
    files["empty"].mkdir()
    return files


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["{truncated}", "--format", "onnx"], 2, "truncated or corrupt"),
        (["{text}", "--format", "onnx"], 2, "not a PyTorch checkpoint"),
        ([DET, "--format", "onnx", "--framework", "timm"], 2, "is an Ultralytics checkpoint"),
        ([DET, "--format", "onnnx"], 2, "invalid choice"),
        ([TIMM, "--format", "onnx"], 2, "--model-name"),
        ([TIMM, "--format", "onnx", "--model-name", "resnet18"], 2, "do not fit"),
        ([TIMM, "--format", "onnx", "--model-name", "no_such_net"], 2, "not a timm architecture"),
        ([TIMM, "--format", "onnx", "--model-name", "mobilenetv3_small_050", "--embed-nms"], 2,
         "embed_nms"),
        ([DET, "--format", "torchscript", "--opset", "13"], 2, "do not apply to --format torchscript"),
        ([HF, "--format", "coreml"], 3, "export to onnx"),
        ([TIMM, "--format", "tensorrt", "--model-name", "mobilenetv3_small_050", "--precision",
          "int8"], 3, "timm → tensorrt"),
        ([DET, "--format", "tflite", "--int8", "dynamic", "--quant-dtype", "quint8"], 3,
         "choose qint8 (quint8 weights are ONNX only)"),
        ([DET, "--format", "openvino", "--int8", "dynamic"], 3, "openvino has no 'dynamic' quantizer"),
        ([DET, "--format", "onnx", "--int8", "static"], 2, "needs calibration_data"),
        ([DET, "--format", "onnx", "--int8", "static", "--calib", "{empty}"], 2, "no images in"),
        ([DET, "--format", "onnx", "--validate", "{empty}/nothing"], 2, "nothing"),
        ([DET, "--format", "onnx", "--max-drop", "0.1"], 2, "--max-drop applies with --validate"),
        ([DET, "--format", "onnx", "--half", "--int8", "dynamic"], 2, "choose one"),
        ([TIMM, "--format", "onnx", "--model-name", "mobilenetv3_small_050", "--validate",
          str(sample("shapes-yolo11n").dataset)], 2, "class"),
        ([DET, "--format", "onnx", "--imgsz", "100"], 2, "multiple of the model stride"),
        ([DET, "--format", "onnx", "--batch", "0"], 2, "batch_size"),
    ],
)
def test_bad_exports_fail_clearly(
    args: list[str], code: int, message: str, garbage: dict[str, Path], tmp_path: Path
) -> None:
    args = [a.format(**{k: str(v) for k, v in garbage.items()}) for a in args]
    run = slipway("export", *args, "--out", str(tmp_path / "out"), home=tmp_path / "home")
    assert run.code == code, run.stderr[-2000:]
    assert message in run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "out" / "model.onnx").exists()


def test_failed_job_is_recorded_with_its_reason(
    garbage: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    run = slipway("export", TIMM, "--model-name", "resnet18", "--format", "onnx", "--json", home=home)
    assert run.code == 2
    assert run.result["code"] == "bad_input"
    monkeypatch.setenv("SLIPWAY_HOME", str(home))
    job = JobService().get(run.result["export_id"])
    assert job.status == "failed" and job.error_code == "bad_input"
    assert "do not fit" in (job.error_message or "")


def test_a_refusal_before_any_job_still_answers_in_json(garbage: dict[str, Path], tmp_path: Path) -> None:
    """A corrupt checkpoint is refused before a job exists; --json callers still get one line."""
    run = slipway("export", str(garbage["truncated"]), "--format", "onnx", "--json", home=tmp_path)
    assert run.code == 2
    assert run.result["code"] == "bad_input" and run.result["export_id"] is None
    assert "truncated" in run.result["message"] and "truncated" in run.stderr


@pytest.mark.slow
def test_output_folders_are_never_overwritten(
    exported: Callable[[str], CliRun], tmp_path: Path
) -> None:
    package = Path(exported("det-onnx").result["package_dir"])
    before = digest(package)
    run = slipway("export", DET, "--format", "onnx", "--out", str(package), home=tmp_path)
    assert run.code == 2 and "not empty" in run.stderr
    assert digest(package) == before
    blocked = tmp_path / "a-file"
    blocked.write_text("x")
    run = slipway("export", DET, "--format", "onnx", "--out", str(blocked / "sub"), home=tmp_path)
    assert run.code == 2 and "cannot write to the output directory" in run.stderr


def start_export(tmp_path: Path) -> tuple[subprocess.Popen[str], ExportJob]:
    """`slipway export` in the background; returns once its worker is running."""
    home = tmp_path / "home"
    cli = subprocess.Popen([*SLIPWAY, "export", DET, "--format", "onnx", "--out",
                            str(tmp_path / "out")], stderr=subprocess.PIPE, text=True,
                           env={**os.environ, "SLIPWAY_HOME": str(home)})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.2)
        if (home / "slipway.db").exists():
            jobs = JobService().list_jobs()
            if jobs and jobs[0].status == "running":
                return cli, jobs[0]
    cli.kill()
    raise AssertionError("the export never started")


@pytest.mark.slow
def test_a_killed_worker_fails_the_job_and_spares_earlier_exports(
    exported: Callable[[str], CliRun], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    earlier = Path(exported("timm-onnx").result["package_dir"])
    before = digest(earlier)
    monkeypatch.setenv("SLIPWAY_HOME", str(tmp_path / "home"))
    cli, running = start_export(tmp_path)
    time.sleep(1.0)
    assert running.process_id is not None
    os.kill(running.process_id, signal.SIGKILL)
    _, stderr = cli.communicate(timeout=60)
    assert cli.returncode == 1
    job = JobService().list_jobs()[0]
    assert job.status == "failed"
    assert "killed" in (job.error_message or "") and "killed" in stderr
    assert not (tmp_path / "out" / "model.onnx").exists()
    assert not (tmp_path / "out" / ".staging").exists()  # no half-written work left behind
    assert digest(earlier) == before


def test_cli_without_export_arguments(tmp_path: Path) -> None:
    run = slipway("export", home=tmp_path)
    assert run.code == 2 and "needs a CHECKPOINT and --format" in run.stderr
    caps = slipway("capabilities", "--json", home=tmp_path)
    assert caps.code == 0 and '"ultralytics"' in caps.stdout



@pytest.mark.parametrize(
    ("spec_patch", "message"),
    [
        ({"optimization_config": {"pruning": {"method": "structured"}}},
         "structured pruning of YOLO models is not built"),
        ({"export_format": "torchscript", "optimization_config": {"quantization": {"method": "dynamic"}}},
         "torchscript has no 'dynamic' quantizer; export to a format that has one: onnx"),
    ],
)
def test_what_is_not_built_is_refused_before_a_job(
    spec_patch: dict[str, object], message: str, tmp_path: Path
) -> None:
    import json

    spec = tmp_path / "job.json"
    spec.write_text(json.dumps({"checkpoint": DET, "export_format": "onnx", **spec_patch}))
    run = slipway("export", "--spec", str(spec), "--out", str(tmp_path / "out"), home=tmp_path)
    assert run.code == 3 and message in run.stderr, run.stderr[-2000:]
    assert not (tmp_path / "jobs").exists()  # no worker was started, no job recorded


@pytest.mark.slow
def test_cancel_from_another_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("SLIPWAY_HOME", str(home))
    cli, running = start_export(tmp_path)
    job_id = running.id
    cancel = slipway("jobs", "cancel", job_id, home=home)
    assert cancel.code == 0, cancel.stderr
    _, stderr = cli.communicate(timeout=60)
    assert cli.returncode == 130 and "cancelled" in stderr
    job = JobService().get(job_id)
    assert job.status == "cancelled" and job.error_message == "cancelled by the user"
    assert not (tmp_path / "out" / "model.onnx").exists()
    assert not (tmp_path / "out" / ".staging").exists()


@pytest.mark.skipif(find_spec("tensorrt") is not None, reason="tensorrt is installed here")
def test_tensorrt_without_tensorrt_fails_early_with_what_to_install(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run = slipway("export", TIMM, "--model-name", "mobilenetv3_small_050", "--format", "tensorrt",
                  "--out", str(out), home=tmp_path)
    assert run.code == 3
    assert "pip install 'slipway-studio[timm,tensorrt]'" in run.stderr
    assert "convert:" not in run.stderr  # refused before any conversion started
    assert not any(p.name.startswith("model") for p in out.rglob("*"))
