"""runtimes/golden/ of a real export: its expected.json is what the Python wrapper predicts now."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.inference import open_package


@pytest.mark.slow
def test_golden_predictions_match_the_packaged_wrapper(exported) -> None:
    package = Path(exported("det-onnx").result["package_dir"])
    golden = package / "runtimes" / "golden"
    expected = json.loads((golden / "expected.json").read_text())
    assert expected["computed_with"] == "the packaged Python wrapper"
    assert expected["predictions"], "a detector's golden image should show detections"
    # one of the model's own images (the sample's dataset), not a general photo
    assert not expected["source_image"].startswith("skimage:"), expected["source_image"]
    again = open_package(package).predict(str(golden / expected["image"]), conf=expected["conf"],
                                          iou=expected["iou"])
    assert again == expected["predictions"]  # the PNG is lossless: the very same answer
    assert "runtimes/golden/image.png" in (package / "README.md").read_text()
    metadata = json.loads((package / "metadata.json").read_text())
    assert set(metadata["runtime_wrappers"]) == {"python", "cpp", "swift", "kotlin", "golden"}
    for relative in metadata["runtime_wrappers"].values():
        assert (package / relative).is_file(), relative  # metadata names only what the package has
