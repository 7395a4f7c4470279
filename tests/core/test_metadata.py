"""metadata.json as one typed model: what every reader gets, and clear words for a bad file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import BadInput
from core.metadata import Metadata, read_metadata, upgrade
from tests.helpers import sample_metadata

V1_PREPROCESSING = {
    "resize": {"method": "shorter_side_center_crop", "size": [224, 224], "crop_pct": 0.875,
               "interpolation": "bilinear", "antialias": True},
    "normalize": {"scale": 1 / 255, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
    "format": {"input_layout": "HWC", "output_layout": "NCHW", "color_space": "RGB", "dtype": "float32"},
}


def test_sections_are_typed(tmp_path: Path) -> None:
    path = tmp_path / "metadata.json"
    path.write_text(json.dumps(sample_metadata()))
    meta = read_metadata(path)
    assert isinstance(meta, Metadata)
    assert meta.model_info.export_format == "onnx" and meta.output_spec.outputs[0].shape == ["batch", 2]
    assert meta.class_names == ["cat", "dog"]
    assert meta.preprocessing.steps[0].mode == "exact"


@pytest.mark.parametrize(("content", "words"), [
    ("{}", "model_info"),
    ("[1]", "does not hold a JSON object"),
    ("{not json", "cannot be read as JSON"),
])
def test_a_bad_file_is_named_with_what_is_wrong(tmp_path: Path, content: str, words: str) -> None:
    path = tmp_path / "metadata.json"
    path.write_text(content)
    with pytest.raises(BadInput, match=words):
        read_metadata(path)
    with pytest.raises(BadInput, match=r"no metadata\.json"):
        read_metadata(tmp_path / "nowhere" / "metadata.json")


def test_a_typo_in_a_section_is_an_error(tmp_path: Path) -> None:
    data = sample_metadata()
    data["postprocessing"] = {"type": "logits", "topk": 2}
    path = tmp_path / "metadata.json"
    path.write_text(json.dumps(data))
    with pytest.raises(BadInput, match="topk"):
        read_metadata(path)


def test_schema_1_packages_still_read() -> None:
    data = {**sample_metadata(), "schema_version": 1, "preprocessing": V1_PREPROCESSING}
    meta = Metadata.model_validate(upgrade(data))
    ops = [(s.op, getattr(s, "mode", None)) for s in meta.preprocessing.steps]
    assert ops == [("resize", "shortest_edge"), ("center_crop", None)]
