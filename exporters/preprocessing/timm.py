"""timm: the data config timm resolves for a model (its pretrained config plus any
override), and the eval transform ``timm.data.create_transform`` builds from it."""

from __future__ import annotations

from typing import Any

import numpy as np

from core.errors import Unsupported
from core.metadata import Format, Preprocessing
from exporters.preprocessing import ReadPreprocessing, output_size
from exporters.preprocessing.transforms import read_compose

CONFIG_KEYS = ("input_size", "interpolation", "mean", "std", "crop_pct", "crop_mode")
CROP_MODES = ("center", "squash", "border")


def read(module: Any, input_size: int | None = None) -> ReadPreprocessing:
    """The model's own data config (``--imgsz`` overrides its input size)."""
    import timm.data

    overrides: dict[str, Any] = {"input_size": (3, input_size, input_size)} if input_size else {}
    config = timm.data.resolve_data_config(overrides, model=module, verbose=False)
    return read_config(config)


def read_config(config: dict[str, Any], source: str = "timm data config") -> ReadPreprocessing:
    """A resolved data config, read through the transform timm builds from it."""
    import timm.data

    unknown = [key for key in config if key not in CONFIG_KEYS]
    if unknown:
        raise Unsupported(f"{source}: option '{unknown[0]}' is not supported yet")
    mode = config.get("crop_mode") or "center"
    if mode not in CROP_MODES:
        raise Unsupported(
            f"{source}: option 'crop_mode' {mode!r} is not supported (center, squash, border are)")
    if config.get("interpolation") == "random":
        raise Unsupported(f"{source}: option 'interpolation' 'random' is a training setting")
    transform = timm.data.create_transform(**config, is_training=False)
    described = (f"{source} (crop_mode {mode}, crop_pct {config.get('crop_pct')}, "
                 f"{config.get('interpolation')})")
    steps, norm = read_compose(transform, described)
    size = output_size(steps)
    preprocessing = Preprocessing(steps=steps, normalize=norm, format=Format(),
                                  input_size=None if size is None else list(size), source=described)

    def framework_preprocess(rgb: np.ndarray) -> np.ndarray:
        from PIL import Image

        return np.asarray(transform(Image.fromarray(rgb)).numpy()[None], dtype=np.float32)

    return ReadPreprocessing(preprocessing, size, framework_preprocess)
