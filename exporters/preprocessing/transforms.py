"""A torchvision ``Compose`` read transform by transform: timm's eval transform and
Ultralytics' ``classify_transforms`` are one. Every transform in it must be
understood; anything else is refused with its name."""

from __future__ import annotations

from typing import Any

import numpy as np

from core.errors import Unsupported
from core.metadata import CenterCrop, Interpolation, Normalize, Resize, Step
from exporters.preprocessing import normalize

# torchvision InterpolationMode values → metadata.json's names (on PIL images
# NEAREST_EXACT is PIL's nearest too)
INTERPOLATION: dict[str, Interpolation] = {
    "nearest": "nearest", "nearest-exact": "nearest", "bilinear": "bilinear", "bicubic": "bicubic",
    "box": "box", "hamming": "hamming", "lanczos": "lanczos"}


def interpolation_name(mode: Any, source: str) -> Interpolation:
    value = getattr(mode, "value", mode)
    if not isinstance(value, str) or value not in INTERPOLATION:
        raise Unsupported(f"{source}: interpolation {mode!r} is not supported yet")
    return INTERPOLATION[value]


def _pair(size: Any) -> list[int]:
    values = [int(size)] * 2 if isinstance(size, int) else [int(v) for v in size]
    return values * 2 if len(values) == 1 else values


def _resize(t: Any, source: str) -> Resize:
    """torchvision Resize: an int (or one value) is the shorter edge, two values are [h, w]."""
    size = t.size
    interpolation = interpolation_name(t.interpolation, source)
    if isinstance(size, int) or len(size) == 1:
        edge = int(size if isinstance(size, int) else size[0])
        return Resize(mode="shortest_edge", edge=edge, max_edge=t.max_size, rule="floor",
                      interpolation=interpolation)
    if getattr(t, "max_size", None) is not None:
        raise Unsupported(f"{source}: Resize with a size [h, w] and max_size is not supported")
    return Resize(mode="exact", size=_pair(size), interpolation=interpolation)


def _resize_keep_ratio(t: Any, source: str) -> Resize:
    """timm's ResizeKeepRatio: longest 1 fits the image in size, 0 covers it."""
    if getattr(t, "random_scale_prob", 0) or getattr(t, "random_aspect_prob", 0):
        raise Unsupported(f"{source}: ResizeKeepRatio with random scaling is a training transform")
    interpolation = interpolation_name(t.interpolation, source)
    h, w = _pair(t.size)
    if t.longest == 1.0:
        return Resize(mode="fit", size=[h, w], rule="timm", interpolation=interpolation)
    if t.longest == 0.0 and h == w:
        return Resize(mode="shortest_edge", edge=h, rule="timm", interpolation=interpolation)
    raise Unsupported(
        f"{source}: ResizeKeepRatio(longest={t.longest}) to a {w}x{h} target (crop_mode center with a "
        "non-square input_size) is not supported yet; a square --imgsz is")


def _fill(fill: Any) -> list[int]:
    values = [round(float(v)) for v in (fill if isinstance(fill, (list, tuple)) else [fill])]
    return values * 3 if len(values) == 1 else values


def read_compose(transform: Any, source: str) -> tuple[list[Step], Normalize]:
    """The geometry steps and the normalization of a torchvision Compose."""
    steps: list[Step] = []
    scale: float | None = None
    mean: Any = 0.0
    std: Any = 1.0
    for t in getattr(transform, "transforms", [transform]):
        name = type(t).__name__
        if name == "Resize":
            steps.append(_resize(t, source))
        elif name == "ResizeKeepRatio":
            steps.append(_resize_keep_ratio(t, source))
        elif name == "CenterCrop":
            steps.append(CenterCrop(size=_pair(t.size), rule="round"))
        elif name == "CenterCropOrPad":
            if getattr(t, "padding_mode", "constant") != "constant":
                raise Unsupported(
                    f"{source}: CenterCropOrPad padding_mode {t.padding_mode!r} is not supported")
            steps.append(CenterCrop(size=_pair(t.size), rule="round", fill=_fill(t.fill)))
        elif name in ("ToTensor", "MaybeToTensor"):
            scale = 1 / 255
        elif name == "MaybePILToTensor":
            scale = 1.0
        elif name == "Normalize":
            mean, std = np.asarray(t.mean), np.asarray(t.std)  # float32 when they are torch tensors
        else:
            raise Unsupported(f"{source}: the transform {name} is not supported yet")
    if scale is None:
        raise Unsupported(f"{source}: the transform never converts the image to a tensor")
    return steps, normalize(scale, mean, std)
