"""OpenVINO IR (model.xml + model.bin) for Intel CPUs, GPUs and NPUs."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from core import probes
from core.formats.base import Format, FormatConfig, Route, Rule, register


class OpenVinoConfig(FormatConfig):
    """``precision`` is the IR's weights; ``inference_precision`` what the CPU computes in.

    On CPUs with AMX or AVX512-BF16 OpenVINO silently computes in bf16 unless told
    otherwise (about twice as fast, and outputs that differ by around 1%). The
    package pins the precision its parity gate checked.
    """

    export_format = "openvino"
    precision: Annotated[Literal["FP32", "FP16"],
                         Field(title="Stored weights", description="the IR's weights")] = "FP32"
    reverse_input_channels: Annotated[
        bool, Field(title="Model takes BGR", description="the model takes BGR",
                    json_schema_extra={"flag": "--reverse-channels"})
    ] = False
    inference_precision: Annotated[
        Literal["f32", "bf16"], Field(title="Computes in",
                                   description="what the CPU computes in (the package pins it)")
    ] = "f32"


def _precision(config: Any, quantization: Any) -> str:
    if quantization is not None:
        return "fp16" if quantization.method == "fp16" else "int8"
    return "bf16" if config.inference_precision == "bf16" else str(config.precision).lower()


def _runtime(config: Any, parity: dict[str, Any]) -> dict[str, Any]:
    return {"openvino": {"INFERENCE_PRECISION_HINT": config.inference_precision}}


OPENVINO = register(Format(
    name="openvino",
    order=30,
    title="OpenVINO",
    description="Intel CPUs, integrated GPUs and NPUs",
    suffix=".xml",
    companions=(".bin",),
    config=OpenVinoConfig,
    routes={
        "ultralytics": Route("ultralytics", "openvino", ("ultralytics2openvino",), "excellent", True),
        "timm": Route("timm", "openvino", ("torch2onnx", "onnx2openvino"), "good", False),
        "huggingface": Route("huggingface", "openvino", ("hf2onnx", "onnx2openvino"), "excellent", False,
                             ("optimum.exporters.onnx",)),
    },
    parity_runtime="openvino",
    runtime_package="openvino",
    speed_judged_here=True,
    quantizers=("static",),
    extras=("openvino",),
    modules=("openvino",),
    triton_platform="openvino",  # Triton's OpenVINO backend; the container package serves ONNX
    precision=_precision,
    runtime_section=_runtime,
    precision_settings={"fp16": {"export_config": {"precision": "FP16"}}},
    rules=(
        Rule("export_config.inference_precision", lambda v, c: v == "bf16" and not probes.cpu_computes_bf16(),
             "this CPU has no bf16 support (AVX512-BF16 or AMX), so OpenVINO would compute in f32 anyway; "
             "use inference_precision f32"),
    ),
))
