"""An image-processor option the wrappers cannot reproduce stops the export up front, through
the real CLI: exit 3, before any conversion, naming the processor and the option."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from core.samples import sample
from tests.helpers import slipway

pytestmark = pytest.mark.slow


def test_an_option_the_wrappers_cannot_reproduce_is_refused_with_its_name(tmp_path: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(sample("digits-hf").checkpoint, model)
    config_path = model / "preprocessor_config.json"
    config = json.loads(config_path.read_text())
    config.update(do_pad=True, pad_size={"height": 96, "width": 96})  # a padded canvas: no step for it
    config_path.write_text(json.dumps(config))
    run = slipway("export", str(model), "--format", "onnx", "--out", str(tmp_path / "out"), "--json",
                  home=tmp_path / "home")
    assert run.code == 3, run.stderr[-2000:]
    error = run.result
    assert error["code"] == "unsupported" and "ViTImageProcessor: option 'do_pad'" in error["message"]
    assert not (tmp_path / "out" / "model.onnx").exists()
