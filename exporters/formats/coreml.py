"""Core ML's plug-in: conversion (FP16 by the converter itself), its describer, and the
structure checks that stand in for the parity gate off macOS (they never pass it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.spec import ExportSpec
from exporters.formats import FormatPlugin, IOSpec, register
from exporters.loaders.base import LoadedModel
from exporters.steps.coreml import describe_mlpackage, torch2coreml, ultralytics2coreml


def describe(model: LoadedModel, path: Path, spec: ExportSpec) -> IOSpec:
    described = describe_mlpackage(path)
    image = described["inputs"][0]
    input_spec = {"name": image["name"], "shape": [1, image.get("height"), image.get("width"), 3],
                  "dtype": "uint8", "format": "image", "color_space": image.get("color_space"),
                  "image_bias": [0.0, 0.0, 0.0]}
    outputs = [{"name": o["name"], "shape": o.get("shape"), "dtype": o.get("dtype", o["type"])}
               for o in described["outputs"]]
    return input_spec, outputs


def gate(model: LoadedModel, path: Path, metadata: dict[str, Any]) -> dict[str, Any]:
    from exporters.parity import coreml_structure_report

    return coreml_structure_report(model, path, metadata)


COREML = register(FormatPlugin(
    name="coreml",
    describe=describe,
    steps={"ultralytics2coreml": ultralytics2coreml, "torch2coreml": torch2coreml},
    gate=gate,
))
