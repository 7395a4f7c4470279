"""The desktop installer: build arguments (fast); the real build + frozen self-test (make installer-test)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import build_installer
from build_installer import DEFAULT_EXTRAS, excluded_modules, pyinstaller_arguments


def test_default_variant_keeps_onnx_torchscript_openvino_and_drops_tensorflow() -> None:
    assert {"onnx", "torchscript", "openvino"} <= set(DEFAULT_EXTRAS)
    dropped = excluded_modules(list(DEFAULT_EXTRAS))
    assert "openvino" not in dropped and "onnxslim" not in dropped
    assert {"tensorflow", "coremltools", "transformers", "PyInstaller"} <= set(dropped)
    assert "openvino" in excluded_modules(["onnx", "torchscript"])
    assert "tensorflow" not in excluded_modules([*DEFAULT_EXTRAS, "tflite"])


def test_unknown_extra_is_refused() -> None:
    with pytest.raises(SystemExit, match="unknown extras"):
        excluded_modules(["onnx", "quantum"])


def test_arguments_bundle_the_data_the_app_reads_by_path(tmp_path: Path) -> None:
    args = pyinstaller_arguments(list(DEFAULT_EXTRAS), tmp_path / "dist", tmp_path / "work")
    added = [args[i + 1].split(os.pathsep)[1] for i, a in enumerate(args) if a == "--add-data"]
    assert added == ["resources/samples", "wrappers/templates", "core/db/migrations"]
    assert "--onedir" in args and args[-1] == str(Path(build_installer.__file__).resolve())
    excluded = {args[i + 1] for i, a in enumerate(args) if a == "--exclude-module"}
    assert "tensorflow" in excluded and "torch" not in excluded and "exporters" not in excluded


@pytest.mark.installer
@pytest.mark.timeout(5400)
def test_build_and_self_test_the_frozen_app(tmp_path: Path) -> None:
    if os.environ.get("SLIPWAY_INSTALLER_TEST") != "1":
        pytest.skip("builds a multi-GB app for many minutes: run `make installer-test`")
    dist = tmp_path / "dist"
    started = time.monotonic()
    subprocess.run([sys.executable, build_installer.__file__, "--dist", str(dist)], check=True)
    build_s = time.monotonic() - started
    app = dist / "slipway" / "slipway"
    assert app.is_file() and os.access(app, os.X_OK)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    run = subprocess.run([str(app), "--self-test"], capture_output=True, text=True, env=env, timeout=900)
    assert run.returncode == 0, run.stderr[-4000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["self_test"] == "passed" and report["boxes"] > 0
    summary = json.loads((dist / "slipway-build.json").read_text())
    print(f"installer: build {build_s:.0f} s, {summary['size_bytes'] / 1e9:.2f} GB, self-test {report}")
