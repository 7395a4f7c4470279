"""The CLI's pure parts: flags → spec, and the progress display."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from core.cli import ProgressBar, build_parser, spec_from_args
from core.errors import BadInput
from core.spec import (
    CoreMLConfig,
    ExportSpec,
    OnnxConfig,
    OpenVinoConfig,
    TensorRTConfig,
    TFLiteConfig,
    TorchScriptConfig,
)


def parse(*argv: str) -> ExportSpec:
    return spec_from_args(build_parser().parse_args(["export", *argv]))


@pytest.fixture
def ckpt(tmp_path: Path) -> str:
    path = tmp_path / "m.pt"
    path.write_bytes(b"x")
    return str(path)


def test_flags_become_the_spec(ckpt: str, tmp_path: Path) -> None:
    labels = tmp_path / "labels.txt"
    labels.write_text("cat\ndog\n")
    spec = parse(ckpt, "--format", "onnx", "--opset", "13", "--dynamic", "--embed-preprocessing",
                 "--imgsz", "416", "--labels", str(labels), "--atol", "0.01")
    assert isinstance(spec.export_config, OnnxConfig)
    assert (spec.onnx.opset_version, spec.onnx.dynamic_axes, spec.onnx.embed_preprocessing) == (
        13, True, True)
    assert spec.input_size == 416 and spec.class_names == ["cat", "dog"]
    assert spec.parity.atol == 0.01
    ts = parse(ckpt, "--format", "torchscript", "--method", "script")
    assert isinstance(ts.export_config, TorchScriptConfig) and ts.export_config.method == "script"


def test_format_flags_fill_export_config(ckpt: str) -> None:
    ov = parse(ckpt, "--format", "openvino", "--precision", "fp16", "--reverse-channels",
               "--inference-precision", "bf16")
    assert isinstance(ov.export_config, OpenVinoConfig)
    assert (ov.export_config.precision, ov.export_config.reverse_input_channels) == ("FP16", True)
    assert ov.precision == "bf16"
    trt = parse(ckpt, "--format", "tensorrt", "--precision", "FP32", "--max-batch", "8",
                "--workspace", "2")
    assert isinstance(trt.export_config, TensorRTConfig)
    assert (trt.export_config.precision, trt.export_config.max_batch_size) == ("fp32", 8)
    tfl = parse(ckpt, "--format", "tflite", "--supported-ops", "TFLITE_BUILTINS", "SELECT_TF_OPS")
    assert isinstance(tfl.export_config, TFLiteConfig)
    assert tfl.export_config.supported_ops == ["TFLITE_BUILTINS", "SELECT_TF_OPS"]
    cm = parse(ckpt, "--format", "coreml", "--deployment-target", "iOS17", "--compute-units", "cpu_only")
    assert isinstance(cm.export_config, CoreMLConfig)
    assert cm.export_config.minimum_deployment_target == "iOS17"
    with pytest.raises(BadInput, match="minimum_deployment_target"):
        parse(ckpt, "--format", "coreml", "--deployment-target", "iOS9")


def test_conflicting_flags(ckpt: str, tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=r"--dynamic \(onnx\) do not apply to --format torchscript"):
        parse(ckpt, "--format", "torchscript", "--dynamic")
    with pytest.raises(BadInput, match=r"--reverse-channels \(openvino\)"):
        parse(ckpt, "--format", "tflite", "--reverse-channels")
    with pytest.raises(BadInput, match="not both"):
        parse(ckpt, "--format", "onnx", "--spec", str(tmp_path / "x.json"))
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    with pytest.raises(BadInput, match="no class names"):
        parse(ckpt, "--format", "onnx", "--labels", str(empty))


def test_progress_without_a_terminal_prints_one_line_per_stage() -> None:
    out = io.StringIO()
    bar = ProgressBar(out)
    for stage, pct in (("load", 0.0), ("load", 10.0), ("convert", 25.0), ("convert", 40.0)):
        bar({"type": "progress", "percent": pct, "stage": stage, "message": stage})
    bar({"type": "log", "level": "info", "message": "parity passed on 16 images"})
    bar({"type": "log", "level": "info", "message": "chatter"})
    lines = out.getvalue().splitlines()
    assert lines == ["  0.0% load: load", " 25.0% convert: convert", "parity passed on 16 images"]


def test_goal_says_what_an_optimization_is_for_and_needs_one(ckpt: str) -> None:
    assert parse(ckpt, "--format", "onnx", "--int8", "dynamic").optimization_config.goal == "speed"
    spec = parse(ckpt, "--format", "onnx", "--int8", "dynamic", "--goal", "size")
    assert spec.optimization_config.goal == "size"
    assert parse(ckpt, "--format", "openvino", "--precision", "FP16", "--goal", "size").precision == "fp16"
    # the default spelled out (as in a spec read back from a package's metadata.json) is no request
    assert parse(ckpt, "--format", "onnx", "--goal", "speed").optimization_config.goal == "speed"
    with pytest.raises(BadInput, match=r"optimization_config\.goal says what an optimization is for"):
        parse(ckpt, "--format", "onnx", "--goal", "size")
    with pytest.raises(BadInput, match=r"optimization_config\.goal: Input should be 'speed' or 'size'"):
        parse(ckpt, "--format", "onnx", "--int8", "dynamic", "--goal", "fast")
