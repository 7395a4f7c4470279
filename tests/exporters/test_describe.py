"""`slipway describe EXPORT_ID|CHECKPOINT` (exporters/facts.py) through the real CLI on the
bundled samples' exports: what it reports equals the model file read directly here."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from core.samples import sample
from tests.helpers import CliRun, slipway

pytestmark = pytest.mark.slow


def described(target: str, home: Path, *extra: str) -> dict[str, Any]:
    run = slipway("describe", target, *extra, "--json", home=home)
    assert run.code == 0, run.stderr[-2000:]
    return dict(json.loads(run.stdout.strip().splitlines()[-1]))


def test_openvino_ops_and_weights_equal_the_ir(exported: Callable[[str], CliRun], export_home: Path) -> None:
    import openvino as ov

    result = exported("timm-openvino").result
    facts = described(result["export_id"], export_home)
    model = ov.Core().read_model(result["model_path"])
    assert facts["ops"] == dict(Counter(op.get_type_name() for op in model.get_ordered_ops()))
    constants = [op for op in model.get_ordered_ops() if op.get_type_name() == "Constant"]
    assert facts["parameters"]["bytes"] == sum(op.get_byte_size() for op in constants)
    assert facts["inputs"][0]["shape"] == list(model.inputs[0].get_shape())
    assert facts["versions"]["openvino runtime"] == ov.get_version()


def test_tflite_ops_and_input_equal_litert(exported: Callable[[str], CliRun], export_home: Path) -> None:
    from ai_edge_litert.interpreter import Interpreter

    result = exported("timm-tflite").result
    facts = described(result["export_id"], export_home)
    interpreter = Interpreter(model_path=result["model_path"])
    assert facts["ops"] == dict(Counter(op["op_name"] for op in interpreter._get_ops_details()))
    first = interpreter.get_input_details()[0]
    assert facts["inputs"][0]["shape"] == [int(d) for d in first["shape"]]
    assert facts["inputs"][0]["dtype"] == first["dtype"].__name__
    assert facts["opset"] is None and "ai-edge-litert" in facts["versions"]


def test_the_words_for_a_checkpoint(export_home: Path) -> None:
    checkpoint = str(sample("digits-timm").checkpoint)
    run = slipway("describe", checkpoint, "--model-name", "mobilenetv3_small_050", home=export_home)
    assert run.code == 0, run.stderr[-2000:]
    assert "checkpoint (pytorch)" in run.stdout and "input: float32 [1, 3, 224, 224]" in run.stdout
    assert "Conv2d" in run.stdout and "parameters: " in run.stdout


def test_an_unknown_export_is_bad_input(export_home: Path) -> None:
    run = slipway("describe", "0123abcd", home=export_home)
    assert run.code == 2 and "no export with id '0123abcd'" in run.stderr
