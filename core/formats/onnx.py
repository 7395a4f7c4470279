"""ONNX: the hub format; every other format but TorchScript and Core ML can be made from it."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from core.formats.base import Format, FormatConfig, Route, Rule, register


class OnnxConfig(FormatConfig):
    export_format = "onnx"
    opset_version: Annotated[int, Field(ge=11, le=21, title="ONNX opset",
                                        description="ONNX opset of the graph",
                                        json_schema_extra={"flag": "--opset"})] = 17
    dynamic_axes: Annotated[
        bool | dict[str, list[int]],
        Field(title="Any batch size",
              description="a dynamic batch axis on every tensor (a spec file can name {tensor: [axes]})",
              json_schema_extra={"flag": "--dynamic"}),
    ] = False
    embed_preprocessing: Annotated[
        bool, Field(title="Normalize inside the model",
                    description="the graph takes uint8 RGB NHWC and normalizes inside")] = False
    embed_nms: Annotated[bool, Field(title="Remove overlapping boxes inside the model (NMS)",
                                        description="detectors: NMS inside the graph")] = False
    simplify: Annotated[bool, Field(title="Simplify the graph",
                                    description="fold constants and drop redundant nodes (onnxslim)")] = True


ONNX = register(Format(
    name="onnx",
    order=10,
    title="ONNX",
    description="ONNX Runtime on any platform; the source of the OpenVINO, TFLite and TensorRT routes",
    suffix=".onnx",
    config=OnnxConfig,
    routes={
        "ultralytics": Route("ultralytics", "onnx", ("ultralytics2onnx",), "excellent", True, ("onnxslim",)),
        "timm": Route("timm", "onnx", ("torch2onnx",), "excellent", True),
        "huggingface": Route("huggingface", "onnx", ("hf2onnx",), "excellent", True,
                             ("optimum.exporters.onnx",)),
    },
    embeds_preprocessing=True,
    parity_runtime="onnxruntime",
    runtime_package="onnxruntime",
    speed_judged_here=True,
    quantizers=("dynamic", "static", "fp16"),
    triton_platform="onnxruntime_onnx",
    triton_model_file="model.onnx",
    gui_in_process=True,
    rules=(
        Rule("export_config.embed_nms",
             lambda v, c: bool(v) and not (c.framework == "ultralytics" and c.task in (None, "detect")),
             "embed_nms puts NMS inside a YOLO detector's graph; a {framework} {task} model has no NMS "
             "to embed: leave it off", "bad_input"),
        Rule("export_config.dynamic_axes", lambda v, c: isinstance(v, dict) and c.framework == "ultralytics",
             "Ultralytics' exporter makes batch, height and width dynamic together: use dynamic_axes true"),
    ),
))
