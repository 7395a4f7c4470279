"""Ultralytics: the letterbox its predictor uses (detect, segment, pose, obb; RT-DETR's
is a plain resize, ``scale_fill``) and ``classify_transforms`` (classify), read from
the objects themselves."""

from __future__ import annotations

from typing import Any

import numpy as np

from core.errors import Unsupported
from core.metadata import Format, Interpolation, Pad, Preprocessing, Resize, Step
from exporters.preprocessing import ReadPreprocessing, normalize, output_size
from exporters.preprocessing.transforms import read_compose


def read(task: str, size: int, stride: int, scale_fill: bool = False) -> ReadPreprocessing:
    if task == "classify":
        return _classify(size)
    return _letterbox(size, stride, scale_fill)


def _classify(size: int) -> ReadPreprocessing:
    from ultralytics.data.augment import classify_transforms

    transform = classify_transforms(size)
    source = "Ultralytics classify_transforms"
    steps, norm = read_compose(transform, source)
    pre = Preprocessing(steps=steps, normalize=norm, format=Format(), input_size=[size, size], source=source)

    def framework_preprocess(rgb: np.ndarray) -> np.ndarray:
        from PIL import Image

        return np.asarray(transform(Image.fromarray(rgb)).numpy()[None], dtype=np.float32)

    return ReadPreprocessing(pre, output_size(steps), framework_preprocess)


def _interpolation(flag: int) -> Interpolation:
    import cv2

    names: dict[int, Interpolation] = {
        cv2.INTER_NEAREST: "nearest", cv2.INTER_LINEAR: "bilinear", cv2.INTER_CUBIC: "bicubic",
        cv2.INTER_AREA: "area", cv2.INTER_LANCZOS4: "lanczos"}
    if flag not in names:
        raise Unsupported(f"Ultralytics LetterBox: OpenCV interpolation {flag} is not supported yet")
    return names[flag]


def _letterbox(size: int, stride: int, scale_fill: bool) -> ReadPreprocessing:
    from ultralytics.data.augment import LetterBox

    letterbox: Any = LetterBox((size, size), auto=False, scale_fill=scale_fill, stride=stride)
    source = "Ultralytics LetterBox" + (" (scale_fill)" if scale_fill else "")
    for option, expected in (("auto", False), ("scaleup", True), ("center", True)):
        if bool(getattr(letterbox, option, expected)) != expected:
            value = getattr(letterbox, option)
            raise Unsupported(f"{source}: option '{option}' {value} is not supported yet")
    h, w = (int(v) for v in letterbox.new_shape)
    interpolation = _interpolation(int(letterbox.interpolation))
    steps: list[Step]
    if letterbox.scale_fill:  # stretched to the whole canvas, no padding
        steps = [Resize(mode="exact", size=[h, w], antialias=False, interpolation=interpolation)]
    else:
        fill = int(letterbox.padding_value)
        steps = [Resize(mode="fit", size=[h, w], rule="round", antialias=False, interpolation=interpolation),
                 Pad(size=[h, w], position="center", fill=[fill, fill, fill])]
    pre = Preprocessing(steps=steps, normalize=normalize(1 / 255), format=Format(),
                        input_size=[h, w], source=source)

    def framework_preprocess(rgb: np.ndarray) -> np.ndarray:
        image = letterbox(image=rgb)
        return np.ascontiguousarray(image.transpose(2, 0, 1)[None], dtype=np.float32) / 255.0

    return ReadPreprocessing(pre, (h, w), framework_preprocess)
