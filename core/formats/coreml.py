"""Core ML (.mlpackage) for Apple devices; it runs only on macOS and iOS."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from core.formats.base import Format, FormatConfig, Route, Rule, register

HF_COREML = ("Hugging Face → CoreML is not supported (product matrix): coremltools has no route for "
             "transformers' vision models that keeps the image processor's preprocessing; for Apple "
             "devices export to onnx and run it with ONNX Runtime's CoreML execution provider")


class CoreMLConfig(FormatConfig):
    export_format = "coreml"
    minimum_deployment_target: Annotated[
        Literal["iOS15", "iOS16", "iOS17", "iOS18", "macOS12", "macOS13"],
        Field(title="Oldest iOS or macOS", description="the oldest OS the model must load on",
              json_schema_extra={"flag": "--deployment-target"}),
    ] = "iOS15"
    compute_units: Annotated[Literal["all", "cpu_only", "cpu_and_gpu", "cpu_and_ne"],
                             Field(title="Run on", description="where Core ML may run it")] = "all"


def _runtime(config: Any, parity: dict[str, Any]) -> dict[str, Any]:
    return {"coreml": {"compute_units": config.compute_units,
                       "requested_deployment_target": config.minimum_deployment_target,
                       "minimum_deployment_target": parity.get("loads_on", config.minimum_deployment_target)}}


COREML = register(Format(
    name="coreml",
    order=50,
    title="Core ML",
    description="iPhone, iPad and Mac (Neural Engine, GPU, CPU)",
    suffix=".mlpackage",
    config=CoreMLConfig,
    routes={
        "ultralytics": Route("ultralytics", "coreml", ("ultralytics2coreml",), "excellent", True),
        "timm": Route("timm", "coreml", ("torch2coreml",), "good", True),
        "huggingface": Route("huggingface", "coreml", (), "fair", False, reason=HF_COREML),
    },
    embeds_preprocessing=True,
    parity_runtime="coreml",
    runtime_package="coremltools",
    quantizers=("fp16",),
    quantized_at_conversion=("fp16",),
    extras=("coreml",),
    modules=("coremltools",),
    runs_on=("Darwin",),
    runtime_section=_runtime,
    rules=(
        Rule("batch_size", lambda v, c: v != 1,
             "a Core ML image input takes one image at a time (both converters refuse a fixed batch; "
             "Core ML batches through its own batch prediction API): leave batch_size at 1"),
        Rule("export_config.minimum_deployment_target",
             lambda v, c: v != "iOS15" and c.framework == "ultralytics",
             "Ultralytics' Core ML exporter always builds for iOS15 (such a model loads on every newer "
             "iOS and macOS 12+); choose iOS15"),
    ),
))
