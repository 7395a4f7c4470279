"""TorchScript: a traced (or scripted) module for LibTorch and PyTorch Mobile."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from core import probes
from core.formats.base import Format, FormatConfig, Route, Rule, register


class TorchScriptConfig(FormatConfig):
    export_format = "torchscript"
    method: Annotated[
        Literal["trace", "script"],
        Field(title="How to capture the model",
              description="torch.jit.trace the forward pass, or torch.jit.script the code"),
    ] = "trace"
    optimize_for_mobile: Annotated[bool, Field(
        title="Optimize for mobile", description="PyTorch Mobile's passes (needs XNNPACK)")] = False


TORCHSCRIPT = register(Format(
    name="torchscript",
    order=20,
    title="TorchScript",
    description="LibTorch (C++) and PyTorch; no Python needed to run it",
    suffix=".torchscript",
    config=TorchScriptConfig,
    routes={
        "ultralytics": Route("ultralytics", "torchscript", ("ultralytics2torchscript",), "excellent", True),
        "timm": Route("timm", "torchscript", ("torch2torchscript",), "excellent", True),
        "huggingface": Route("huggingface", "torchscript", ("torch2torchscript",), "excellent", True),
    },
    parity_runtime="torch",
    runtime_package="torch",
    triton_platform="pytorch_libtorch",
    rules=(
        Rule("export_config.method", lambda v, c: v == "script" and c.framework == "ultralytics",
             "Ultralytics' exporter traces its models (torch.jit.trace); use method 'trace'"),
        Rule("export_config.method", lambda v, c: v == "script" and c.framework == "huggingface",
             "transformers' models cannot be scripted (their forward passes take and return Python "
             "objects TorchScript cannot type); use method 'trace'"),
        Rule("batch_size", lambda v, c: v != 1,
             "a TorchScript module takes any batch size (the trace does not fix it): leave batch_size 1"),
        Rule("export_config.optimize_for_mobile", lambda v, c: bool(v) and not probes.torch_has_xnnpack(),
             "PyTorch Mobile's passes need a torch build with XNNPACK and this machine's has none; export "
             "without optimize_for_mobile, or on a machine whose torch has XNNPACK"),
    ),
))
