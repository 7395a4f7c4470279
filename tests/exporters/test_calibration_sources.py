"""--calib takes what Ultralytics' data= takes: a dataset YAML, or a folder (any layout)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import BadInput
from core.samples import sample
from exporters.optimize.calibration import calibration_images


def test_a_dataset_yaml_gives_its_val_images() -> None:
    dataset = sample("shapes-yolo11n").dataset  # data.yaml
    images = calibration_images(dataset, 7)
    assert len(images) == 7 and all("/images/val/" in str(p) for p in images)


def test_folders_of_any_layout(tmp_path: Path) -> None:
    assert len(calibration_images(sample("digits-timm").dataset, 5)) == 5  # an ImageFolder tree
    with pytest.raises(BadInput, match="no images"):
        calibration_images(tmp_path, 5)
    with pytest.raises(BadInput, match="neither a folder of images nor a dataset YAML"):
        calibration_images(tmp_path / "nope.txt", 5)
