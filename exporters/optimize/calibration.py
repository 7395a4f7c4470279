"""Calibration images → input tensors, through exactly the model's preprocessing.

The tensors come from the package's own wrapper Preprocessor, built from the same
metadata.json the wrapper uses at inference time, so calibration sees what the
deployed model will see.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from core.datasets import evenly_spaced, load_detection_dataset
from core.errors import BadInput
from core.samples import list_images


def calibration_images(source: Path, samples: int) -> list[Path]:
    """A folder of images (any depth: an ImageFolder or a YOLO images/ tree), or a dataset
    YAML as Ultralytics' ``data=`` takes it (its val split, else test, else train)."""
    folder = Path(source)
    if folder.is_file() and folder.suffix.lower() in (".yaml", ".yml"):
        dataset = load_detection_dataset(folder)
        return evenly_spaced([item.image for item in dataset.items], samples)
    if not folder.is_dir():
        raise BadInput(f"optimization_config.quantization.calibration_data: {folder} is neither a folder "
                       "of images nor a dataset YAML")
    images = list_images(folder)
    if not images:
        raise BadInput(f"optimization_config.quantization.calibration_data: no images in {folder} "
                       "(looked for .jpg, .png, .bmp, .webp, .tif files, in subfolders too)")
    return evenly_spaced(images, samples)


def calibration_tensors(wrapper: Any, images: list[Path]) -> list[np.ndarray]:
    """Preprocessed input tensors; unreadable files are skipped, none readable is an error."""
    tensors = []
    for path in images:
        try:
            rgb = wrapper.load_image(str(path))
        except ValueError:
            continue
        tensor, _ = wrapper.preprocess(rgb)
        tensors.append(np.repeat(tensor, wrapper.fixed_batch, axis=0))  # a fixed batch, filled
    if not tensors:
        raise BadInput(f"optimization_config.quantization.calibration_data: none of the {len(images)} "
                       "images could be read")
    return tensors
