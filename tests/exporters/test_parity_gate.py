"""The parity gate fails real divergences: a wrong normalization in metadata.json and a
model that no longer computes what the original does. It runs in-process here so the
tests can break one thing at a time."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.errors import ValidationFailed
from core.samples import sample
from core.spec import parse_spec
from exporters.emitter import Emitter
from exporters.loaders import base as loader_base
from exporters.pipeline import run_export

pytestmark = pytest.mark.slow


def timm_spec(tmp_path: Path, **extra: Any) -> Any:
    return parse_spec({"checkpoint": str(sample("digits-timm").checkpoint),
                       "model_name": "mobilenetv3_small_050", "export_format": "onnx", **extra})


def export(spec: Any, out: Path) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    return run_export(spec, out, Emitter(io.StringIO()))


def test_a_wrong_normalization_fails_the_gate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reading that lost the mean/std and slipped past the loader's up-front check
    (exporters.preprocessing.verify, switched off here) is still caught by the gate."""
    from exporters.loaders import timm as timm_loader
    from exporters.preprocessing import ReadPreprocessing

    real = ReadPreprocessing.section

    def forgot_imagenet_mean_std(self: ReadPreprocessing) -> dict[str, Any]:
        section = real(self)
        section["normalize"].update(mean=[0.0, 0.0, 0.0], std=[1.0, 1.0, 1.0])
        return section

    monkeypatch.setattr(ReadPreprocessing, "section", forgot_imagenet_mean_std)
    monkeypatch.setattr(timm_loader, "verify", lambda read: {})
    with pytest.raises(ValidationFailed) as err:
        export(timm_spec(tmp_path), tmp_path / "out")
    assert "preprocessing in metadata.json disagrees" in err.value.message
    report = json.loads((tmp_path / "out" / "parity_report.json").read_text())
    assert report["preprocessing_agreement"]["value"] < 0.9
    assert not (tmp_path / "out" / "model.onnx").exists()
    assert not (tmp_path / "out" / "metadata.json").exists()


def _perturb_after_load(monkeypatch: pytest.MonkeyPatch, scale: float) -> None:
    """The converter sees a subtly different model than the parity reference."""
    import torch

    from exporters.formats import plugin

    steps = plugin("onnx").steps
    original = steps["torch2onnx"]

    def diverging_torch2onnx(model: loader_base.LoadedModel, *args: Any) -> Path:
        import copy

        reference = model.module
        changed = copy.deepcopy(reference)
        with torch.no_grad():
            head = changed.get_classifier()
            head.weight.mul_(scale)
        model.module = changed
        try:
            return original(model, *args)
        finally:
            model.module = reference

    monkeypatch.setitem(steps, "torch2onnx", diverging_torch2onnx)


def test_a_diverging_graph_fails_and_names_the_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _perturb_after_load(monkeypatch, 1.01)  # a 1% change in one layer
    with pytest.raises(ValidationFailed) as err:
        export(timm_spec(tmp_path), tmp_path / "out")
    assert "output 'logits' diverged" in err.value.message
    # the report says where: the changed classifier, every layer before it agreeing
    assert "first divergent layer: classifier (Linear)" in err.value.message
    layers = json.loads((tmp_path / "out" / "parity_report.json").read_text())["layers"]
    assert layers["first_divergent"]["module"] == "classifier" and layers["matched"] > 20
    assert not any(row["diverged"] for row in layers["layers"] if row["module"] != "classifier")


def test_the_user_can_loosen_the_gate_explicitly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _perturb_after_load(monkeypatch, 1.01)
    spec = timm_spec(tmp_path, parity={"rtol": 0.05})
    result = export(spec, tmp_path / "out")
    assert result["parity"]["passed"]
    assert result["parity"]["tolerance"]["rtol"] == 0.05


def test_a_channel_order_the_metadata_does_not_state_fails_the_gate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The OpenVINO model takes BGR, but metadata.json (wrongly) says RGB."""
    from dataclasses import replace

    from exporters import formats

    openvino = formats.plugin("openvino")
    real = openvino.adjust_preprocessing
    assert real is not None

    def forgets_bgr(pre: dict[str, Any], spec: Any) -> dict[str, Any]:
        adjusted = real(pre, spec)
        return {**adjusted, "format": {**adjusted["format"], "color_space": "RGB"}}

    monkeypatch.setitem(formats._PLUGINS, "openvino", replace(openvino, adjust_preprocessing=forgets_bgr))
    spec = timm_spec(tmp_path, export_format="openvino", export_config={"reverse_input_channels": True})
    with pytest.raises(ValidationFailed) as err:
        export(spec, tmp_path / "out")
    assert "output 'logits' diverged" in err.value.message
    assert "first divergent layer: conv_stem (Conv2d, with bn1" in err.value.message  # the first layer
    assert not (tmp_path / "out" / "model.xml").exists()
    assert not (tmp_path / "out" / "model.bin").exists()


@pytest.mark.parametrize(("framework_order", "package_order"), [("BGR", "BGR"), ("RGB", "BGR")])
def test_the_original_is_fed_the_channel_order_its_framework_feeds_it(framework_order: str,
                                                                      package_order: str) -> None:
    """MobileViT's processor flips channels (the original takes BGR); OpenVINO's reversed input
    channels make the package take BGR while the original still takes RGB. The gate's
    reference follows the framework, not the package (it forced RGB, and MobileViT failed)."""
    from types import SimpleNamespace

    from core.inference import wrapper_module
    from exporters.parity import reference_processing
    from tests.helpers import sample_metadata

    meta = sample_metadata()
    meta["preprocessing"]["format"] = {"color_space": package_order}
    model = SimpleNamespace(preprocessing={"format": {"color_space": framework_order}})
    pre, _ = reference_processing(wrapper_module(), meta, model)  # type: ignore[arg-type]
    red = np.zeros((32, 32, 3), dtype=np.uint8)
    red[..., 0] = 255
    tensor, _ = pre(red)
    first_plane = float(tensor[0, 0].mean())
    assert first_plane == (0.0 if framework_order == "BGR" else 1.0)


def test_two_classes_tied_on_one_box_are_not_a_disagreement_but_a_real_flip_is() -> None:
    """A random-weight YOLO12 scored one box 0.25964 for one class and 0.25974 for another; the
    export's argmax fell the other way and the gate failed 439/440 in every format."""
    from types import SimpleNamespace

    from exporters.parity import TaskComparison

    cfg = SimpleNamespace(box_iou=0.9, pixel_agreement=None, atol=1e-3)
    box = [10.0, 10.0, 50.0, 60.0]
    reference = [{"class_id": 65, "class_name": "a", "confidence": 0.25964, "bbox": box}]
    tied = [{"class_id": 0, "class_name": "b", "confidence": 0.25974, "bbox": box}]
    flipped = [{"class_id": 0, "class_name": "b", "confidence": 0.61, "bbox": box}]
    gate = TaskComparison("detect", cfg, 0.25)
    assert gate._untie(reference, tied)[0]["class_id"] == 65 and gate.class_ties == 1
    assert gate._untie(reference, flipped)[0]["class_id"] == 0 and gate.class_ties == 1
    int8 = TaskComparison("detect", SimpleNamespace(box_iou=0.9, pixel_agreement=None, atol=None), 0.25)
    assert int8.class_tie is None  # raw outputs not held to a tolerance: no tie is assumed
    assert TaskComparison("classify", cfg, 0.25).class_tie is None  # classifiers have no boxes
