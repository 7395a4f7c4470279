"""A long-lived prediction child: JSON lines in on stdin, JSON lines out on stdout.

The GUI runs ONNX packages in its own process (ONNX Runtime is light), but the
wrapper's TorchScript, OpenVINO and TFLite runtimes import torch, OpenVINO or
LiteRT, which must never load in the GUI process. For those the GUI starts
``python -m core.predict_process`` once and sends one request per image:

    {"package": DIR, "image": IMAGE.npy, "out": OUTPUTS.npz}

The child loads the package once (cached by folder), runs the model's raw
forward pass (``ModelWrapper.run``) and writes the raw outputs to ``out``; it
answers ``{"ok": true, "transform": {...}, "latency_ms": X}`` or
``{"ok": false, "error": "..."}``. Post-processing (confidence, NMS) stays in the
caller, which re-applies it for every slider position without re-running the model.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import IO, Any

import numpy as np

from core.inference import open_package


def handle(request: dict[str, Any], wrappers: dict[str, Any]) -> dict[str, Any]:
    package = str(request["package"])
    if package not in wrappers:
        wrappers[package] = open_package(Path(package))
    rgb = np.load(request["image"])
    started = time.perf_counter()
    outputs, transform = wrappers[package].run(rgb)
    latency_ms = (time.perf_counter() - started) * 1000.0
    np.savez(request["out"], *[np.asarray(o) for o in outputs])
    return {"ok": True, "transform": {k: float(v) for k, v in transform.items()},
            "latency_ms": latency_ms}


def serve(stdin: IO[str], stdout: IO[str]) -> None:
    wrappers: dict[str, Any] = {}
    for line in stdin:
        if not line.strip():
            continue
        try:
            answer = handle(json.loads(line), wrappers)
        except Exception as err:  # reported to the GUI, which shows it; the child keeps serving
            answer = {"ok": False, "error": f"{type(err).__name__}: {err}"}
        stdout.write(json.dumps(answer) + "\n")
        stdout.flush()


def main() -> int:
    # Libraries may print on stdout; keep the real one for answers and send the rest to stderr.
    stream = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    serve(sys.stdin, stream)
    return 0


if __name__ == "__main__":
    sys.exit(main())
