"""Files rendered from metadata.json: build_engine.sh for TensorRT packages."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from wrappers.render import render_build_engine


def trt_metadata(shape: list[Any], precision: str = "fp16") -> dict[str, Any]:
    return {
        "input_spec": {"name": "images", "shape": shape},
        "runtime": {"tensorrt": {"precision": precision, "max_batch_size": 8, "workspace_size_gb": 2.0}},
    }


def test_build_engine_script_is_valid_bash_with_the_packages_settings(tmp_path: Path) -> None:
    script = tmp_path / "build_engine.sh"
    script.write_text(render_build_engine(trt_metadata(["batch", 3, 320, 320])))
    assert subprocess.run(["bash", "-n", str(script)], check=False).returncode == 0
    text = script.read_text()
    assert "--onnx=model.onnx --saveEngine=model.engine" in text
    assert "--fp16" in text and "--memPoolSize=workspace:2048M" in text
    assert "--minShapes=images:1x3x320x320" in text and "--maxShapes=images:8x3x320x320" in text


def test_build_engine_script_fails_clearly_without_trtexec(tmp_path: Path) -> None:
    script = tmp_path / "build_engine.sh"
    script.write_text(render_build_engine(trt_metadata([1, 3, 64, 64], precision="fp32")))
    assert "--fp16" not in script.read_text() and "minShapes" not in script.read_text()
    run = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=False,
                         env={"PATH": "/usr/bin:/bin", "TRTEXEC": "no-such-trtexec"})
    assert run.returncode == 1 and "trtexec not found" in run.stderr
