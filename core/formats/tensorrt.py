"""TensorRT engines for NVIDIA GPUs, built from ONNX on the GPU that will run them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from core.formats.base import Format, FormatConfig, Route, Rule, register


class TensorRTConfig(FormatConfig):
    export_format = "tensorrt"
    precision: Annotated[
        Literal["fp32", "fp16", "int8"],
        Field(title="Compute precision", description="what the engine computes in"),
    ] = "fp16"
    max_batch_size: Annotated[int, Field(ge=1, le=1024, title="Largest batch",
                                         description="the largest batch the engine takes",
                                         json_schema_extra={"flag": "--max-batch"})] = 1
    workspace_size_gb: Annotated[float, Field(gt=0, le=256, title="Build memory (GB)",
                                              description="builder scratch memory in GB",
                                              json_schema_extra={"flag": "--workspace"})] = 4.0


def _precision(config: Any, quantization: Any) -> str:
    return str(config.precision)


def _runtime(config: Any, parity: dict[str, Any]) -> dict[str, Any]:
    return {"tensorrt": {"precision": config.precision, "max_batch_size": config.max_batch_size,
                         "workspace_size_gb": config.workspace_size_gb,
                         "built_on": "this machine's GPU; rebuild with build_engine.sh elsewhere"}}


def _route(framework: str, first: str, quality: str, modules: tuple[str, ...] = ()) -> Route:
    return Route(framework, "tensorrt", (first, "onnx2tensorrt"), quality, False, modules)


TENSORRT = register(Format(
    name="tensorrt",
    order=60,
    title="TensorRT",
    description="NVIDIA GPUs; the engine is tied to the GPU and TensorRT version that built it",
    suffix=".engine",
    config=TensorRTConfig,
    routes={
        "ultralytics": _route("ultralytics", "ultralytics2onnx", "excellent", ("onnxslim",)),
        "timm": _route("timm", "torch2onnx", "good"),
        "huggingface": _route("huggingface", "hf2onnx", "fair", ("optimum.exporters.onnx",)),
    },
    parity_runtime="tensorrt",
    runtime_package="tensorrt",
    extras=("tensorrt",),
    modules=("tensorrt",),
    triton_platform="tensorrt_plan",
    triton_model_file="model.plan",
    needs_gpu=True,
    keeps_onnx=True,
    precision=_precision,
    runtime_section=_runtime,
    precision_settings={p: {"export_config": {"precision": p}} for p in ("fp32", "fp16")},
    rules=(
        Rule("export_config.precision", lambda v, c: v == "int8",
             "INT8 calibration for TensorRT is not built yet; use precision fp16, or export ONNX with "
             "static INT8 (optimization_config.quantization)"),
    ),
))
