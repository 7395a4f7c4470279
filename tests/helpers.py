"""Helpers for tests that run the real CLI and real exports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    env = {**os.environ, "SLIPWAY_HOME": str(home)}
    proc = subprocess.run([*SLIPWAY, *args], capture_output=True, text=True, env=env,
                          timeout=timeout)
    return CliRun(proc.returncode, proc.stdout, proc.stderr)


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
}


