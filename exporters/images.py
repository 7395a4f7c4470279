"""Real images for the parity gate.

The user's own folder when the spec names one (parity.images, else the
validation data); otherwise the bundled set: scikit-image's photos (bundled with
the package, never downloaded) plus the sample dataset images of the same task.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.errors import BadInput
from core.samples import list_images, samples
from core.spec import ExportSpec

# scikit-image photos that ship inside the package (others are fetched on demand)
SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "camera", "coins")


def _read(path: Path) -> np.ndarray | None:
    import cv2

    data = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return None if data is None else np.ascontiguousarray(data[:, :, ::-1])


def _rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return np.ascontiguousarray(image[:, :, :3], dtype=np.uint8)


def skimage_photos() -> list[tuple[str, np.ndarray]]:
    try:
        from skimage import data
    except ImportError:
        return []
    photos = []
    for name in SKIMAGE_PHOTOS:
        try:
            photos.append((f"skimage:{name}", _rgb(getattr(data, name)())))
        except (OSError, ValueError, ImportError):  # not bundled in this version
            continue
    return photos


def probe_photo() -> np.ndarray:
    """The one photo latency is measured on: scikit-image's coffee cup (400x600), or a grey
    frame of the same size where scikit-image is missing."""
    photos = dict(skimage_photos())
    return photos.get("skimage:coffee", np.full((400, 600, 3), 114, dtype=np.uint8))


def _from_folder(folder: Path, limit: int) -> list[tuple[str, np.ndarray]]:
    images = []
    for path in list_images(folder):
        rgb = _read(path)
        if rgb is not None:
            images.append((path.name, rgb))
        if len(images) >= limit:
            break
    return images


def _from_dataset(path: Path, task: str, limit: int) -> list[tuple[str, np.ndarray]]:
    """Images of the validation dataset (a data.yaml, a YOLO folder or an ImageFolder)."""
    from core.datasets import labels_task, load_dataset

    images = []
    for item in load_dataset(path, labels_task(task), max_images=limit).items:
        rgb = _read(item.image)
        if rgb is not None:
            images.append((item.image.name, rgb))
    if not images:
        raise BadInput(f"validation_config.data: no readable images in {path}")
    return images


def parity_images(spec: ExportSpec, task: str) -> list[tuple[str, np.ndarray]]:
    limit = spec.parity.max_images
    folder = spec.parity.images
    if folder is None and spec.validation_config.enabled and spec.validation_config.data is not None:
        return _from_dataset(Path(spec.validation_config.data), task, limit)
    if folder is not None:
        images = _from_folder(Path(folder), limit)
        if not images:
            raise BadInput(f"parity.images: no readable images in {folder}")
        return images
    images = skimage_photos()[: limit // 2]
    for sample in samples():
        if sample.task == task or (task != "classify" and sample.task == "detect"):
            images += _from_folder(sample.images, limit - len(images))
    if not images:
        raise BadInput("no images for the parity gate: name a folder in the spec's parity.images")
    return images[:limit]
