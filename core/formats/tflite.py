"""TensorFlow Lite (LiteRT) for Android and embedded Linux, converted from ONNX."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from core.formats.base import Format, FormatConfig, Route, Rule, register


class TFLiteConfig(FormatConfig):
    export_format = "tflite"
    supported_ops: Annotated[
        list[Literal["TFLITE_BUILTINS", "SELECT_TF_OPS", "TFLITE_BUILTINS_INT8"]],
        Field(min_length=1, title="Allowed operator sets", description="the op sets the converter may use"),
    ] = ["TFLITE_BUILTINS"]  # noqa: RUF012 (pydantic copies field defaults)

    @model_validator(mode="before")
    @classmethod
    def _quantization_has_one_home(cls, data: Any) -> Any:
        if isinstance(data, dict) and "quantization" in data:
            raise ValueError(
                "quantization: TFLite is quantized through optimization_config.quantization (method "
                "'dynamic', 'fp16' or 'static'; --int8 dynamic|static, --half), like every format, so it "
                "is calibrated, measured and validated the same way")
        return data


def _runtime(config: Any, parity: dict[str, Any]) -> dict[str, Any]:
    return {"tflite": {"supported_ops": list(config.supported_ops)}}


_VIA_ONNX = "via ONNX (onnx2tf, then TensorFlow's converter)"
TFLITE = _QUANT = "optimization_config.quantization"
# full-integer TFLite models that failed here, by framework (timm's pass the gate)
_NO_FULL_INTEGER = {
    "ultralytics": "full-integer quantization puts a YOLO head's pixel boxes and class scores, "
                   "concatenated in one output, on one scale, and no box survives the parity gate "
                   "(0 of 20 matched on the bundled detector)",
    "huggingface": "TensorFlow Lite's full-integer conversion of Hugging Face models gives a file "
                   "LiteRT's default XNNPACK delegate fails to prepare (the bundled ResNet)",
}


register(Format(
    name="tflite",
    order=40,
    title="TFLite",
    description="LiteRT on Android, iOS and microcontrollers",
    suffix=".tflite",
    config=TFLiteConfig,
    routes={
        # Ultralytics' own TFLite route needs litert-torch (jax, torchao): go through ONNX
        "ultralytics": Route("ultralytics", "tflite", ("ultralytics2onnx", "onnx2tflite"), "excellent",
                             False, ("onnxslim",)),
        "timm": Route("timm", "tflite", ("torch2onnx", "onnx2tflite"), "fair", False),
        "huggingface": Route("huggingface", "tflite", ("hf2onnx", "onnx2tflite"), "fair", False,
                             ("optimum.exporters.onnx",)),
    },
    parity_runtime="litert",
    runtime_package="ai-edge-litert",
    quantizers=("dynamic", "fp16", "static"),
    extras=("tflite",),
    modules=("onnx2tf", "tensorflow", "ai_edge_litert"),
    notes=(_VIA_ONNX,),
    runtime_section=_runtime,
    rules=(
        Rule(f"{_QUANT}.method", lambda v, c: v == "static" and c.framework in _NO_FULL_INTEGER,
             lambda v, c: f"{_QUANT}.method 'static': {_NO_FULL_INTEGER[c.framework]}; use method "
                          "'dynamic' or 'fp16' here, or export ONNX with static INT8"),
        Rule("export_config.supported_ops",
             lambda v, c: "TFLITE_BUILTINS_INT8" in v and c.quantization_method != "static",
             "TFLITE_BUILTINS_INT8 is the op set of full-integer models: add optimization_config."
             "quantization method 'static' with calibration images, or leave it out", "bad_input"),
    ),
))
