"""Triton's model configuration (config.pbtxt) from metadata.json's input_spec/output_spec.

Batching follows the export: a dynamic first axis on the input and every output lets
Triton batch (``max_batch_size`` > 0, dims without the batch axis, ``dynamic_batching``);
a fixed batch gives ``max_batch_size: 0`` and the full dims, and no dynamic_batching,
which Triton refuses for a model that cannot batch. Other dynamic axes are -1. The
``name`` field is left out: Triton then names the model after its folder, so the same
file serves under ``model_repository/<name>/`` and ``triton-models/<deployment-id>/``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from core import formats, triton
from core.errors import BadInput, Unsupported

DEFAULT_MAX_BATCH = 8
# the formats a Triton model repository here can serve: those whose descriptor names its file
SERVABLE = tuple(f.name for f in formats.all_formats() if f.triton_model_file)


def model_name(metadata: dict[str, Any]) -> str:
    """A Triton-safe model folder name from the model's name and task."""
    info = metadata["model_info"]
    raw = f"{info.get('model_name') or 'model'}-{info.get('task') or 'model'}"
    return re.sub(r"[^a-z0-9_-]+", "-", raw.lower()).strip("-") or "model"


def batch_plan(metadata: dict[str, Any]) -> bool:
    """Whether Triton can batch this model: the first axis of every tensor is dynamic."""
    tensors = [metadata["input_spec"], *metadata["output_spec"]["outputs"]]
    return all(t.get("shape") and triton.is_dynamic(t["shape"][0]) for t in tensors)


def config_pbtxt(metadata: dict[str, Any], max_batch_size: int = DEFAULT_MAX_BATCH) -> str:
    fmt = metadata["model_info"]["export_format"]
    if fmt not in SERVABLE:
        raise Unsupported(f"a Triton model repository here serves {' and '.join(SERVABLE)} exports; "
                          f"this export is {fmt}")
    if max_batch_size < 1:
        raise BadInput("--max-batch for a container must be at least 1")
    batching = batch_plan(metadata)
    lines = [f'platform: "{triton.platform(fmt)}"', f"max_batch_size: {max_batch_size if batching else 0}"]

    def tensor(spec: dict[str, Any]) -> list[str]:
        dims = triton.dims(spec["shape"])[1:] if batching else triton.dims(spec["shape"])
        return ["  {", f"    name: {json.dumps(spec['name'])}",
                f"    data_type: {triton.config_data_type(spec['dtype'], spec['name'])}",
                f"    dims: [ {', '.join(str(d) for d in dims)} ]", "  }"]

    def block(title: str, specs: list[dict[str, Any]]) -> list[str]:
        body: list[str] = []
        for index, spec in enumerate(specs):
            body += tensor(spec)
            if index < len(specs) - 1:
                body[-1] += ","
        return [f"{title} [", *body, "]"]

    lines += block("input", [metadata["input_spec"]])
    lines += block("output", metadata["output_spec"]["outputs"])
    if batching:
        lines += ["dynamic_batching {", "  max_queue_delay_microseconds: 100", "}"]
    lines += ["instance_group [", "  {", "    count: 1", "    kind: KIND_AUTO", "  }", "]"]
    return "\n".join(lines) + "\n"


def request_shape(metadata: dict[str, Any]) -> list[int]:
    """The input shape of a one-image request (dynamic axes as 1)."""
    return [1 if triton.is_dynamic(d) else int(d) for d in metadata["input_spec"]["shape"]]
