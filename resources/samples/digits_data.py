"""scikit-learn's digits as RGB images in an ImageFolder tree, shared by the digit samples.

The 8x8 digits (values 0..16) are scaled to 0..255 and enlarged to 64x64 with
cubic interpolation, white on black, replicated to three channels. The split is
stratified with a fixed seed, so every run writes the same files.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

CLASSES = [str(d) for d in range(10)]
SIZE = 64


def digit_images() -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = [
        cv2.cvtColor(
            cv2.resize((img * 255.0 / 16.0).astype(np.uint8), (SIZE, SIZE),
                       interpolation=cv2.INTER_CUBIC),
            cv2.COLOR_GRAY2RGB,
        )
        for img in digits.images
    ]
    train_x, val_x, train_y, val_y = train_test_split(
        images, digits.target, test_size=0.2, random_state=0, stratify=digits.target
    )
    return train_x, val_x, np.asarray(train_y), np.asarray(val_y)


def write_imagefolder(root: Path, images: list[np.ndarray], labels: np.ndarray) -> None:
    for i, (img, label) in enumerate(zip(images, labels, strict=True)):
        folder = root / CLASSES[int(label)]
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"{i:04d}.png"), img[:, :, ::-1])


@contextmanager
def offline_workspace() -> Iterator[Path]:
    """A scratch folder, with every ML library kept offline and out of $HOME."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from exporters.offline import configure_offline

    with tempfile.TemporaryDirectory() as tmp:
        configure_offline(Path(tmp) / "home")
        yield Path(tmp)
