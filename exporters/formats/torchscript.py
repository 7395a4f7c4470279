"""TorchScript's plug-in: the steps that trace (or script) a module."""

from __future__ import annotations

from pathlib import Path

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


TORCHSCRIPT = register(FormatPlugin(
    name="torchscript",
    describe=describe,
    steps={"ultralytics2torchscript": ultralytics2torchscript, "torch2torchscript": torch2torchscript},
))
