"""`slipway inspect EXPORT_ID`: a completed export compared with its original, layer by
layer, through the real CLI on the bundled samples' exports."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from core.errors import Unsupported
from tests.helpers import CliRun, slipway


@pytest.mark.slow
@pytest.mark.parametrize("name", ["det-openvino", "timm-onnx", "timm-tflite"])
def test_inspect_compares_every_named_layer_of_a_passed_export(
        name: str, exported: Callable[[str], CliRun], export_home: Path) -> None:
    result = exported(name).result
    run = slipway("inspect", result["export_id"], "--json", home=export_home)
    assert run.code == 0, run.stderr[-2000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["status"] == "compared" and report["first_divergent"] is None
    assert report["matched"] > 40 and report["images"] == 4
    if name == "det-openvino":  # Ultralytics' IR: OpenVINO's PyTorch frontend names its one shared SiLU
        reasons = {u["module"]: u["reason"] for u in report["unmatched_modules"]}  # after one call site
        assert "shared module" in reasons["model.0"]
    assert all(not row["diverged"] for row in report["layers"])
    saved = json.loads((Path(result["package_dir"]) / "layer_report.json").read_text())
    assert saved["matched"] == report["matched"]
    words = slipway("inspect", result["export_id"][:8], "--images", "1", home=export_home)
    assert words.code == 0 and "every compared layer is within the precision's tolerance" in words.stdout


@pytest.mark.slow
def test_inspect_refuses_an_unknown_export(export_home: Path) -> None:
    run = slipway("inspect", "0123abcd", home=export_home)
    assert run.code == 2 and "no export with id '0123abcd'" in run.stderr


def test_a_format_without_named_layers_is_refused_before_loading(tmp_path: Path) -> None:
    from core.samples import sample
    from core.spec import parse_spec
    from exporters.inspect import inspect_package

    spec = parse_spec({"checkpoint": str(sample("digits-timm").checkpoint), "export_format": "coreml",
                       "model_name": "mobilenetv3_small_050"})
    with pytest.raises(Unsupported, match="coreml export cannot be compared layer by layer"):
        inspect_package(spec, tmp_path / "not-opened", 4)
