"""``python -m exporters.facts``: what a model is made of, as JSON, for ``slipway describe`` and
the app's Inspect dialog.

One JSON object on the last stdout line, for a checkpoint (``--checkpoint FILE`` with the
library's framework, task and architecture) or an export (``--package DIR``):

    {"subject": "checkpoint"|"export", "format": F, "file": PATH,
     "inputs": [{"name", "shape", "dtype"}], "outputs": [...],
     "ops": {op type: count}, "op_count": N,
     "parameters": {"total": N, "bytes": B, "by_layer_type": [{"type", "layers", "parameters", "bytes"}]},
     "opset": {domain: version} | null, "versions": {...}, "notes": [...]}

The checkpoint is loaded with the worker's loaders (``ops`` are its leaf module types, its
parameters grouped by the module that owns them); an export is read by its format's
plug-in (``FormatPlugin.facts``: the graph's own op types, its weights grouped by the op
that consumes them). Versions: the libraries reading the model here and, for an export,
the ones that wrote it (metadata.json's ``environment``). Errors: ``{"error", "code"}``
and the worker's exit codes (2 bad input, 3 unsupported).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from core.errors import BadInput, SlipwayError

# the libraries that read (or wrote) each kind of model: versions shown beside its facts
LIBRARIES = {
    "pytorch": ("torch", "torchvision"),  # and the framework's own library, as the loader read it
    "onnx": ("onnx", "onnxruntime", "torch"),
    "openvino": ("openvino",),
    "tflite": ("ai-edge-litert", "tensorflow", "onnx2tf"),
    "torchscript": ("torch",),
    "coreml": ("coremltools",),
    "tensorrt": ("tensorrt",),
}


def tally(rows: Iterable[tuple[str, object, int, int]]) -> dict[str, Any]:
    """(layer type, the layer, parameters, bytes) per weight tensor → totals and a per-type
    table (``layers``: the distinct layers holding them), the types holding most first."""
    by_type: dict[str, dict[str, Any]] = {}
    layers: dict[str, set[object]] = {}
    for kind, layer, count, size in rows:
        entry = by_type.setdefault(kind, {"type": kind, "layers": 0, "parameters": 0, "bytes": 0})
        layers.setdefault(kind, set()).add(layer)
        entry["layers"] = len(layers[kind])
        entry["parameters"] += int(count)
        entry["bytes"] += int(size)
    table = sorted(by_type.values(), key=lambda e: (-e["parameters"], e["type"]))
    return {"total": sum(e["parameters"] for e in table), "bytes": sum(e["bytes"] for e in table),
            "by_layer_type": table}


def op_table(kinds: Iterable[str]) -> dict[str, Any]:
    """Op types counted, the commonest first; ``op_count`` their sum."""
    counts = Counter(kinds)
    ops = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    return {"ops": ops, "op_count": sum(counts.values())}


def versions(framework: str) -> dict[str, str]:
    """The installed versions of the libraries that read this kind of model, and Python."""
    from exporters.context import environment

    here = environment()
    return {name: here[name] for name in ("python", *LIBRARIES.get(framework, ())) if name in here}


def torch_module_facts(module: Any) -> dict[str, Any]:
    """A torch module's leaf layer types as its ops; parameters by the module that holds them."""
    leaves = [m for m in module.modules() if not list(m.children()) and type(m).__name__ != "Identity"]
    rows = []
    for sub in module.modules():
        own = list(sub.parameters(recurse=False))
        if own:
            rows.append((type(sub).__name__, id(sub), sum(p.numel() for p in own),
                         sum(p.numel() * p.element_size() for p in own)))
    return {**op_table(type(m).__name__ for m in leaves), "parameters": tally(rows)}


def checkpoint_facts(checkpoint: Path, framework: str, task: str, model_name: str | None) -> dict[str, Any]:
    """The checkpoint loaded as the worker loads it, run once on a zero image for its outputs."""
    import numpy as np

    from core.checkpoint import inspect_checkpoint
    from core.spec import parse_spec
    from exporters.loaders import load_model
    from exporters.pipeline import resolve_framework

    request: dict[str, Any] = {"checkpoint": str(checkpoint), "export_format": "onnx", "framework": framework,
                               "task": task}
    if model_name:
        request["model_name"] = model_name
    spec = parse_spec(request)
    resolved = resolve_framework(spec, inspect_checkpoint(spec.checkpoint))
    with tempfile.TemporaryDirectory(prefix="slipway-facts-") as work:
        model = load_model(spec, resolved, spec.checkpoint, Path(work))
        dummy = model.dummy_input(1)
        outputs = model.forward(dummy.numpy(), checkpoint=True)
        module = model.unpruned if model.unpruned is not None else model.module
        facts = torch_module_facts(module)
    names = list(model.output_names) + [f"output{i}" for i in range(len(model.output_names), len(outputs))]
    return {
        "subject": "checkpoint", "format": "pytorch", "file": str(checkpoint),
        "framework": resolved, "task": model.task, "model_name": model.model_name,
        "inputs": [{"name": model.input_name, "shape": list(dummy.shape), "dtype": str(np.float32.__name__)}],
        "outputs": [{"name": name, "shape": list(out.shape), "dtype": out.dtype.name}
                    for name, out in zip(names, outputs, strict=False)],
        **facts, "opset": None,
        "versions": {**versions("pytorch"), resolved: model.framework_version},
        "notes": ["ops are the model's leaf module types (Identity left out), one per instance; the "
                  "outputs are the model's on one zero image"],
    }


def package_facts(package: Path) -> dict[str, Any]:
    """An export read from its package: the format's own reader, metadata.json's records."""
    from exporters.formats import plugin

    try:
        metadata = json.loads((package / "metadata.json").read_text(encoding="utf-8"))
        export_format = metadata["model_info"]["export_format"]
        model_file = package / metadata["model_info"]["model_file"]
    except (OSError, ValueError, KeyError) as err:
        raise BadInput(f"{package} is not a Slipway package (metadata.json unreadable: {err})") from None
    if not model_file.exists():
        raise BadInput(f"the package has no model file {model_file.name}")
    declared = {"inputs": [_io(metadata["input_spec"])],
                "outputs": [_io(o) for o in metadata.get("output_spec", {}).get("outputs", [])]}
    reader = plugin(export_format).facts
    if reader is None:
        read: dict[str, Any] = {**declared, **op_table(()), "parameters": tally(()), "opset": None,
                                "notes": [f"Slipway does not read a {export_format} file's graph; "
                                          "inputs and outputs as metadata.json records them"]}
    else:
        read = {**declared, "notes": [], **reader(model_file)}
    written_by = metadata.get("environment", {})
    return {
        "subject": "export", "format": export_format, "file": str(model_file),
        "precision": metadata.get("runtime", {}).get("precision"), **read,
        "versions": {**versions(export_format), **read.get("versions", {}),
                     **{f"exported with {k}": v for k, v in written_by.items()
                        if k in ("python", *LIBRARIES.get(export_format, ()))}},
    }


def _io(entry: dict[str, Any]) -> dict[str, Any]:
    return {"name": entry.get("name"), "shape": entry.get("shape"), "dtype": entry.get("dtype")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m exporters.facts", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--package", type=Path, help="an export's package folder")
    what.add_argument("--checkpoint", type=Path, help="a checkpoint file or Hugging Face folder")
    parser.add_argument("--framework", default="auto")
    parser.add_argument("--task", default="auto")
    parser.add_argument("--model-name", help="timm architecture of bare weights")
    args = parser.parse_args(argv)
    try:
        if args.package is not None:
            facts = package_facts(args.package)
        else:
            facts = checkpoint_facts(args.checkpoint, args.framework, args.task, args.model_name)
    except SlipwayError as err:
        print(json.dumps({"error": err.message, "code": err.code}))
        return err.exit_code
    print(json.dumps(facts, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
