from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import BadInput
from core.spec import OnnxConfig, TorchScriptConfig, load_spec, parse_spec


@pytest.fixture
def ckpt(tmp_path: Path) -> Path:
    path = tmp_path / "model.pt"
    path.write_bytes(b"x")
    return path


def test_format_config_is_validated_against_its_format(ckpt: Path) -> None:
    spec = parse_spec({"checkpoint": str(ckpt), "export_format": "onnx",
                       "export_config": {"opset_version": 13, "dynamic_axes": True}})
    assert isinstance(spec.export_config, OnnxConfig)
    assert spec.onnx.opset_version == 13
    spec = parse_spec({"checkpoint": str(ckpt), "export_format": "torchscript"})
    assert isinstance(spec.export_config, TorchScriptConfig)


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"export_format": "onnnx"}, "export_format"),
        ({"export_config": {"opset_version": 99}}, "export_config.opset_version"),
        ({"export_config": {"method": "trace"}}, "export_config.method"),  # a TorchScript option on ONNX
        ({"unknown_field": 1}, "unknown_field"),
        ({"batch_size": 0}, "batch_size"),
        ({"framework": "ultralytics", "model_name": "resnet18"}, "model_name"),
        ({"optimization_config": {"quantization": {"method": "static"}}}, "calibration_data"),
        ({"validation_config": {"enabled": True}}, "no dataset"),
        ({"parity": {"atol": -1}}, "parity.atol"),
    ],
)
def test_bad_specs_name_the_field(ckpt: Path, patch: dict[str, object], field: str) -> None:
    data = {"checkpoint": str(ckpt), "export_format": "onnx", **patch}
    with pytest.raises(BadInput) as err:
        parse_spec(data)
    assert field in err.value.message
    assert err.value.exit_code == 2


def test_missing_checkpoint_is_named(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="no such file or directory"):
        parse_spec({"checkpoint": str(tmp_path / "nope.pt"), "export_format": "onnx"})


def test_spec_file_round_trip_with_relative_checkpoint(tmp_path: Path, ckpt: Path) -> None:
    spec = parse_spec({"checkpoint": str(ckpt), "export_format": "onnx",
                       "export_config": {"embed_preprocessing": True}})
    data = json.loads(spec.to_json())
    data["checkpoint"] = ckpt.name  # relative to the spec file
    spec_file = tmp_path / "job.json"
    spec_file.write_text(json.dumps(data))
    again = load_spec(spec_file)
    assert again == spec


@pytest.mark.parametrize("content", ["{not json", "[1, 2]"])
def test_bad_spec_files(tmp_path: Path, content: str) -> None:
    path = tmp_path / "job.json"
    path.write_text(content)
    with pytest.raises(BadInput, match="job"):
        load_spec(path)


def test_missing_spec_file(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="not found"):
        load_spec(tmp_path / "absent.json")
