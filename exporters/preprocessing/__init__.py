"""Preprocessing read from the frameworks' own objects into metadata.json's vocabulary.

One module per framework: ``huggingface`` (image processors, slow and fast),
``timm`` (the resolved data config and the eval transform it builds),
``ultralytics`` (the letterbox and ``classify_transforms``); ``torchvision``
reads a torchvision ``Compose`` (timm's and Ultralytics' classifiers use one).
Each returns a :class:`ReadPreprocessing`: the ``Preprocessing`` section, the
tensor size when it is fixed, and the framework's own preprocessing, which the
parity gate runs beside the wrapper.

:func:`verify` runs both on a few synthetic images before any conversion: a
reading that does not reproduce the framework is refused up front (exit 3) with
what differs, instead of failing the gate after the long work.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.errors import Unsupported
from core.metadata import CenterCrop, Interpolation, Normalize, Pad, Preprocessing, Resize, Step
from exporters.loaders.base import FrameworkPreprocess

# PIL resample codes (transformers' PILImageResampling) → metadata.json's interpolation names
PIL_RESAMPLE: dict[int, Interpolation] = {
    0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}
# a reading must reproduce the framework within this mean difference, in uint8 levels
MEAN_LEVELS = 0.5


@dataclass(frozen=True)
class ReadPreprocessing:
    preprocessing: Preprocessing
    input_size: tuple[int, int] | None  # [h, w] of the tensor; None when it follows the image
    framework_preprocess: FrameworkPreprocess  # RGB uint8 → the framework's own input tensor

    def section(self) -> dict[str, Any]:
        """The preprocessing section as metadata.json stores it."""
        return self.preprocessing.model_dump(mode="json", exclude_none=True)


def output_size(steps: Sequence[Step]) -> tuple[int, int] | None:
    """The tensor's (h, w) after the steps, or None when it depends on the image."""
    size: tuple[int, int] | None = None
    for step in steps:
        if isinstance(step, Resize):
            size = (step.size[0], step.size[1]) if step.mode == "exact" and step.size else None
        else:  # a crop or pad to a size; a share of the image or a multiple: it follows the image
            size = (step.size[0], step.size[1]) if step.size else None
    return size


def normalize(scale: float, mean: Any = 0.0, std: Any = 1.0) -> Normalize:
    """(pixel * scale - mean) / std; scalar mean or std apply to every channel."""
    def three(value: Any) -> list[float]:
        array = np.ravel(np.asarray(value))
        if array.dtype == np.float32:  # constants that went through a float32 tensor: their shortest repr
            values = [float(str(v)) for v in array]
        else:
            values = [float(v) for v in array.astype(np.float64)]
        return values * 3 if len(values) == 1 else values

    return Normalize(scale=float(scale), mean=three(mean), std=three(std))


def tensor_preprocessor(section: dict[str, Any]) -> Any:
    """The packaged wrapper's preprocessing of a metadata.json ``preprocessing`` section, giving
    the float32 NCHW tensor the original model takes (never the embedded, uint8 form)."""
    from core.inference import wrapper_module

    return wrapper_module().Preprocessor({**section, "embedded": False},
                                         {"dtype": "float32", "format": "NCHW"})


def verify(read: ReadPreprocessing, probes: Sequence[np.ndarray] | None = None) -> dict[str, float]:
    """Run the reading (through the packaged wrapper) and the framework on the probe images;
    refuse when they differ in shape or by more than half a uint8 level on average.
    Returns the worst mean and max difference, in uint8 levels."""
    pre = read.preprocessing
    wrapper = tensor_preprocessor(read.section())
    level = np.abs(wrapper.mul).reshape(1, 3, 1, 1)  # one uint8 step, per channel of the tensor
    worst = {"mean_levels": 0.0, "max_levels": 0.0}
    for image in probes if probes is not None else probe_images():
        ours, _ = wrapper(image)
        try:
            theirs = np.asarray(read.framework_preprocess(image), dtype=np.float32)
        except Exception as err:  # the framework's own code, whatever it raises: its settings are unusable
            raise Unsupported(f"{pre.source}: its own preprocessing fails on a "
                              f"{image.shape[1]}x{image.shape[0]} test image: {err}") from err
        if ours.shape != theirs.shape:
            raise Unsupported(
                f"{pre.source}: Slipway reads this preprocessing as {describe(pre)}, which gives a "
                f"{tuple(ours.shape)} tensor for a {image.shape[1]}x{image.shape[0]} image where the "
                f"framework gives {tuple(theirs.shape)}: this configuration is not supported yet")
        levels = np.abs(ours - theirs) / level
        worst["mean_levels"] = max(worst["mean_levels"], float(levels.mean()))
        worst["max_levels"] = max(worst["max_levels"], float(levels.max()))
        if levels.mean() > MEAN_LEVELS:
            raise Unsupported(
                f"{pre.source}: Slipway reads this preprocessing as {describe(pre)}, but on a "
                f"{image.shape[1]}x{image.shape[0]} test image it differs from the framework's own by "
                f"{levels.mean():.2f} uint8 levels on average: this configuration is not supported yet")
    return worst


def probe_images() -> list[np.ndarray]:
    """Textured synthetic images in landscape, portrait and small (upscaled, padded) shapes:
    a one-pixel shift or a wrong filter shows on them."""
    rng = np.random.default_rng(12)
    images = []
    for h, w in ((301, 457), (463, 290), (37, 53)):
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        waves = 127 + 60 * np.sin(xx / 7.0)[..., None] * np.cos(yy[..., None] / 5.0 + np.arange(3))
        noise = rng.normal(0, 25, (h, w, 3))
        images.append(np.clip(waves + noise, 0, 255).astype(np.uint8))
    return images


def describe(pre: Preprocessing) -> str:
    """The steps in a few words, e.g. 'resize shortest_edge 256 (bicubic) → center_crop 224x224'."""
    parts = []
    for step in pre.steps:
        if isinstance(step, Resize):
            target = f"{step.size[1]}x{step.size[0]}" if step.size else str(step.edge)
            cap = f" max {step.max_edge}" if step.max_edge else ""
            cap += f" rounded up to a multiple of {step.multiple_of}" if step.multiple_of else ""
            parts.append(f"resize {step.mode} {target}{cap} ({step.interpolation}, {step.rule})")
        elif isinstance(step, CenterCrop) and step.size:
            parts.append(f"center_crop {step.size[1]}x{step.size[0]}")
        elif isinstance(step, CenterCrop) and step.fraction:
            parts.append(f"center_crop {step.fraction[1]:.4g}x{step.fraction[0]:.4g} of the shorter side")
        elif isinstance(step, Pad):
            target = f"{step.size[1]}x{step.size[0]}" if step.size else f"a multiple of {step.multiple_of}"
            parts.append(f"pad to {target}")
    norm = pre.normalize
    parts.append(f"x * {norm.scale:.6g} - {norm.mean} / {norm.std}, {pre.format.color_space}")
    return " → ".join(parts)
