"""TorchScript's plug-in: the steps that trace (or script) a module."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.spec import ExportSpec
from exporters.formats import FormatPlugin, IOSpec, register
from exporters.loaders.base import LoadedModel
from exporters.steps.pytorch import torch2torchscript
from exporters.steps.ultralytics import ultralytics2torchscript


def describe(model: LoadedModel, path: Path, spec: ExportSpec) -> IOSpec:
    """A TorchScript file declares no shapes: the spec's input, the outputs the original gives."""
    h, w = model.input_size
    input_spec = {"name": model.input_name, "shape": [spec.batch_size, 3, h, w], "dtype": "float32",
                  "format": "NCHW"}
    probe = model.forward(model.dummy_input(1).numpy())
    outputs = [{"name": name, "shape": [spec.batch_size, *t.shape[1:]], "dtype": "float32"}
               for name, t in zip(model.output_names, probe, strict=False)]
    return input_spec, outputs


def facts(path: Path) -> dict[str, Any]:
    """The inlined graph's node kinds (aten ops, constants, lists), nested blocks included;
    parameters by the scripted submodule that holds them. The file declares no shapes:
    inputs and outputs stay metadata.json's."""
    import torch

    from exporters.facts import op_table, tally

    module = torch.jit.load(str(path), map_location="cpu")

    def kinds(block: Any) -> list[str]:
        found = []
        for node in block.nodes():
            found.append(node.kind())
            for inner in node.blocks():
                found.extend(kinds(inner))
        return found

    rows = []
    for sub in module.modules():
        own = list(sub.parameters(recurse=False))
        if own:
            kind = str(getattr(sub, "original_name", type(sub).__name__))
            rows.append((kind, id(sub), sum(p.numel() for p in own),
                         sum(p.numel() * p.element_size() for p in own)))
    return {**op_table(kinds(module.inlined_graph)), "parameters": tally(rows), "opset": None}


TORCHSCRIPT = register(FormatPlugin(
    name="torchscript",
    describe=describe,
    steps={"ultralytics2torchscript": ultralytics2torchscript, "torch2torchscript": torch2torchscript},
    facts=facts,
))
