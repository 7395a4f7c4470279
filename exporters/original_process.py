"""``python -m exporters.original_process``: the original model, for the app's Compare view.

A long-lived child (the GUI never loads torch): JSON lines in on stdin, JSON lines
out on stdout, as ``core.predict_process`` does for packages. One request per
(image, export):

    {"id": N, "spec": SPEC.json, "package": DIR, "image": IMAGE.npy, "out": OUTPUTS.npz}

The original is loaded from the export's own spec with the worker's loaders (once per
checkpoint and loading options) and run the way the parity gate runs it: on the tensor
the package's metadata.json describes (``exporters.parity.reference_processing``), the
checkpoint as loaded (before any pruning). The raw outputs go to ``out`` in the export's
output order; the answer is ``{"ok": true, "id": N, "transform": {...}, "latency_ms": X,
"framework": F, "task": T}`` or ``{"ok": false, "id": N, "error": "..."}``. Decoding
stays in the caller, with the package's own post-processing.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

import numpy as np


class Originals:
    """The original models loaded so far, by what loading depends on."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self._models: dict[str, Any] = {}

    @staticmethod
    def key(spec: Any) -> str:
        embed_nms = bool(getattr(spec.export_config, "embed_nms", False))
        return json.dumps([str(spec.checkpoint), spec.framework, spec.model_name, spec.task,
                           spec.input_size, spec.class_names, embed_nms])

    def get(self, spec: Any) -> Any:
        from core.checkpoint import inspect_checkpoint
        from exporters.loaders import load_model
        from exporters.pipeline import resolve_framework

        key = self.key(spec)
        if key not in self._models:
            framework = resolve_framework(spec, inspect_checkpoint(spec.checkpoint))
            folder = self.work / f"model-{len(self._models)}"
            folder.mkdir(parents=True, exist_ok=True)
            model = load_model(spec, framework, spec.checkpoint, folder)
            model.forward(model.dummy_input(1).numpy(), checkpoint=True)  # warm up: latencies compare
            self._models[key] = model
        return self._models[key]


def handle(request: dict[str, Any], originals: Originals) -> dict[str, Any]:
    from core.inference import wrapper_module
    from core.spec import load_spec
    from exporters.parity import reference_processing

    spec = load_spec(Path(request["spec"]))
    model = originals.get(spec)
    metadata = json.loads((Path(request["package"]) / "metadata.json").read_text(encoding="utf-8"))
    preprocess, _ = reference_processing(wrapper_module(), metadata, model)
    rgb = np.load(request["image"])
    started = time.perf_counter()
    tensor, transform = preprocess(rgb)
    outputs = model.forward(tensor, checkpoint=True)
    latency_ms = (time.perf_counter() - started) * 1000.0
    np.savez(request["out"], *[np.asarray(o) for o in outputs])
    return {"ok": True, "id": request.get("id"), "transform": {k: float(v) for k, v in transform.items()},
            "latency_ms": latency_ms, "framework": model.framework, "task": model.task}


def serve(stdin: IO[str], stdout: IO[str], work: Path) -> None:
    from core.errors import SlipwayError

    originals = Originals(work)
    for line in stdin:
        if not line.strip():
            continue
        request: dict[str, Any] = {}
        try:
            request = json.loads(line)
            answer = handle(request, originals)
        except SlipwayError as err:  # bad checkpoint, unsupported option: the message is for people
            answer = {"ok": False, "id": request.get("id"), "error": err.message}
        except Exception as err:  # reported to the GUI, which shows it; the child keeps serving
            answer = {"ok": False, "id": request.get("id"), "error": f"{type(err).__name__}: {err}"}
        stdout.write(json.dumps(answer) + "\n")
        stdout.flush()


def main() -> int:
    from core.paths import cache_dir
    from exporters.offline import configure_offline

    configure_offline(cache_dir())
    # Libraries print on stdout; keep the real one for answers and send the rest to stderr.
    stream = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    with tempfile.TemporaryDirectory(prefix="slipway-original-") as work:
        serve(sys.stdin, stream, Path(work))
    return 0


if __name__ == "__main__":
    sys.exit(main())
