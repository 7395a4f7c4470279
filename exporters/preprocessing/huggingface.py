"""Hugging Face image processors (slow and fast), read from the processor object.

Every option in the processor's ``to_dict()`` is accounted for: read into the
steps, listed in :data:`NO_EFFECT` (options that do nothing to one image at
inference), or refused with the processor's and the option's names. A processor
class is read by the recipe of the class it derives from (``ViTImageProcessorFast``
→ ``ViTImageProcessor``); its geometry follows that class's own ``resize``.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from core.errors import Unsupported
from core.metadata import CenterCrop, Format, Interpolation, Normalize, Preprocessing, Resize, Step
from exporters.preprocessing import PIL_RESAMPLE, ReadPreprocessing, normalize, output_size

ResizeRule = Literal["floor", "detr", "yolos", "round", "timm"]
CropRule = Literal["floor", "round", "floor_pad_floor"]

# options with no effect on one image at inference, and why
NO_EFFECT = {
    "_processor_class": "names the processor bundle",
    "processor_class": "names the processor bundle",
    "image_processor_type": "names the class",
    "feature_extractor_type": "names the class",
    "auto_map": "names the class",
    "do_reduce_labels": "applies to segmentation labels",
    "reduce_labels": "applies to segmentation labels",
    "format": "applies to annotations",
    "do_convert_annotations": "applies to annotations",
    "return_segmentation_masks": "applies to annotations",
    "do_convert_rgb": "Slipway feeds RGB images already",
    "return_tensors": "a call option",
    "data_format": "a call option (channels first, as exported)",
    "input_data_format": "a call option",
    "device": "a call option",
    "disable_grouping": "a call option",
    "default_to_square": "size is stored as a dictionary already",
    "pad_size": "read with do_pad",
    "crop_size": "read with do_center_crop",
    "size_divisor": "read with do_pad or do_resize",
}
# options only some classes have; their recipes below read them
CLASS_OPTIONS = {
    "ConvNextImageProcessor": ("crop_pct",),
    "PoolFormerImageProcessor": ("crop_pct",),
    "EfficientNetImageProcessor": ("rescale_offset", "include_top"),
    "DPTImageProcessor": ("keep_aspect_ratio", "ensure_multiple_of"),
    "MobileViTImageProcessor": ("do_flip_channel_order",),
}
# classes refused whole: what their preprocessing does that no metadata step describes
REFUSED = {
    "ImageGPTImageProcessor": ("do_color_quantize", "turns pixels into colour-cluster ids"),
    "Siglip2ImageProcessor": ("max_num_patches", "cuts the image into a variable number of patches"),
    "DonutImageProcessor": ("do_thumbnail", "shrinks to a thumbnail and pads to a document size"),
}


class _Options:
    """The processor's options; remembers which were read so the rest can be checked."""

    def __init__(self, name: str, values: dict[str, Any]) -> None:
        self.name, self.values = name, values
        self.read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        value = self.values.get(key, default)
        return default if value is None else value

    def refuse(self, key: str, why: str) -> Unsupported:
        return Unsupported(f"{self.name}: option '{key}' {why} is not supported yet")

    def check_all_read(self) -> None:
        for key in self.values:
            if key not in self.read and key not in NO_EFFECT:
                raise self.refuse(key, f"= {self.values[key]!r}")


def _interpolation(options: _Options) -> Interpolation:
    resample = options.get("resample", 2)
    code = int(getattr(resample, "value", resample))
    if code not in PIL_RESAMPLE:
        raise options.refuse("resample", f"= {resample!r}")
    return PIL_RESAMPLE[code]


def _size(options: _Options, key: str = "size") -> dict[str, int]:
    return {k: int(v) for k, v in dict(options.get(key) or {}).items() if v is not None}


def _resize(size: dict[str, int], interpolation: Interpolation, options: _Options,
            rule: ResizeRule = "detr") -> Resize:
    """The size dictionary as transformers' resize reads it: height/width, shortest_edge
    (with longest_edge: DETR's rule), or max_height/max_width."""
    keys = set(size)
    if keys == {"height", "width"}:
        return Resize(mode="exact", size=[size["height"], size["width"]], interpolation=interpolation)
    if keys == {"shortest_edge"}:
        return Resize(mode="shortest_edge", edge=size["shortest_edge"], interpolation=interpolation)
    if keys == {"shortest_edge", "longest_edge"}:
        return Resize(mode="shortest_edge", edge=size["shortest_edge"], max_edge=size["longest_edge"],
                      rule=rule, interpolation=interpolation)
    if keys == {"max_height", "max_width"}:
        return Resize(mode="fit", size=[size["max_height"], size["max_width"]], interpolation=interpolation)
    raise options.refuse("size", f"{size}")


def _crop(options: _Options, fast: bool, rule: CropRule | None = None) -> list[Step]:
    if not options.get("do_center_crop", False):
        return []
    crop = _size(options, "crop_size")
    if set(crop) != {"height", "width"}:
        raise options.refuse("crop_size", f"{crop}")
    return [CenterCrop(size=[crop["height"], crop["width"]],
                       rule=rule or ("floor_pad_floor" if fast else "floor"))]


def _geometry(base: str, options: _Options, fast: bool) -> list[Step]:
    """Resize (and crop) as the processor class does them."""
    interpolation = _interpolation(options)
    do_resize = options.get("do_resize", True)
    size = _size(options)
    if base == "DPTImageProcessor":
        if options.get("keep_aspect_ratio", False):
            raise options.refuse("keep_aspect_ratio", "(the scale closest to 1 on both axes)")
        multiple = int(options.get("ensure_multiple_of", 1))
        if do_resize and multiple > 1 and any(v % multiple for v in size.values()):
            raise options.refuse("ensure_multiple_of", f"= {multiple} with size {size}")
    if base == "PerceiverImageProcessor":  # crops a share of the shorter side first, then resizes
        crop = _size(options, "crop_size") if options.get("do_center_crop", False) else {}
        if crop and (set(crop) != {"height", "width"} or set(size) != {"height", "width"}):
            raise options.refuse("crop_size", f"{crop} with size {size}")
        fraction = [size["height"] / crop["height"], size["width"] / crop["width"]] if crop else None
        first: list[Step] = [CenterCrop(fraction=fraction, rule="floor_pad_floor" if fast else "floor")] \
            if fraction else []
        return [*first, _resize(size, interpolation, options)] if do_resize else first
    if not do_resize:
        return _crop(options, fast)
    if base == "ConvNextImageProcessor":  # shortest_edge < 384: resize to edge / crop_pct, then crop
        edge = size.get("shortest_edge")
        if set(size) != {"shortest_edge"} or edge is None:
            raise options.refuse("size", f"{size} (ConvNext takes shortest_edge)")
        crop_pct = float(options.get("crop_pct", 224 / 256))
        if edge >= 384:  # a square resize, no crop
            square = Resize(mode="exact", size=[edge, edge], interpolation=interpolation)
            return [square, *_crop(options, fast)]
        return [Resize(mode="shortest_edge", edge=int(edge / crop_pct), interpolation=interpolation),
                CenterCrop(size=[edge, edge], rule="round" if fast else "floor"), *_crop(options, fast)]
    if base == "LevitImageProcessor" and set(size) == {"shortest_edge"}:
        edge = int((256 / 224) * size["shortest_edge"])
        return [Resize(mode="shortest_edge", edge=edge, interpolation=interpolation), *_crop(options, fast)]
    if base == "PoolFormerImageProcessor" and options.get("crop_pct") is not None:
        crop_pct = float(options.get("crop_pct"))
        if "shortest_edge" in size:
            resize = Resize(mode="shortest_edge", edge=int(size["shortest_edge"] / crop_pct),
                            interpolation=interpolation)
        elif size.get("height") == size.get("width"):
            resize = Resize(mode="shortest_edge", edge=int(size["height"] / crop_pct),
                            interpolation=interpolation)
        else:
            scaled = [int(size["height"] / crop_pct), int(size["width"] / crop_pct)]
            resize = Resize(mode="exact", size=scaled, interpolation=interpolation)
        return [resize, *_crop(options, fast)]
    rule: ResizeRule = "yolos" if base == "YolosImageProcessor" else "detr"
    resize = _resize(size, interpolation, options, rule)
    if base == "TextNetImageProcessor" and int(options.get("size_divisor", 0)) > 1:  # each side rounded up
        resize = resize.model_copy(update={"multiple_of": int(options.get("size_divisor"))})
    return [resize, *_crop(options, fast)]


def _normalization(base: str, options: _Options) -> Normalize:
    scale = float(options.get("rescale_factor", 1 / 255)) if options.get("do_rescale", True) else 1.0
    offset = 1.0 if base == "EfficientNetImageProcessor" and options.get("rescale_offset", False) else 0.0
    mean: Any = 0.0
    std: Any = 1.0
    if options.get("do_normalize", False):
        mean, std = options.get("image_mean", 0.0), options.get("image_std", 1.0)
    else:  # read, without effect
        options.get("image_mean"), options.get("image_std")
    mean = np.asarray(mean, dtype=np.float64) + offset  # x * s - 1 - mean  ==  x * s - (mean + 1)
    std = np.asarray(std, dtype=np.float64)
    if base == "EfficientNetImageProcessor" and options.get("include_top", False):
        std = std * np.asarray(options.get("image_std", 1.0), dtype=np.float64)  # normalized by std twice
    return normalize(scale, mean, std)


def _checks(base: str, options: _Options) -> None:
    """Options that must be off, or are no-ops for a single image."""
    if base in REFUSED:
        key, why = REFUSED[base]
        raise options.refuse(key, f"({why})")
    if options.get("do_pad", False):
        if base in ("DetrImageProcessor", "ConditionalDetrImageProcessor", "DeformableDetrImageProcessor",
                    "DetaImageProcessor", "YolosImageProcessor", "RTDetrImageProcessor"):
            if options.get("pad_size"):  # a fixed canvas needs a pixel mask the export does not take
                raise options.refuse("pad_size", f"= {options.get('pad_size')} (a pixel mask)")
        else:
            raise options.refuse("do_pad", "= True")
    if base == "Gemma3ImageProcessor" and options.get("do_pan_and_scan", False):
        raise options.refuse("do_pan_and_scan", "= True (crops the image into several)")
    pan_and_scan = ("pan_and_scan_min_crop_size", "pan_and_scan_max_num_crops",
                    "pan_and_scan_min_ratio_to_activate")
    for key in pan_and_scan:
        if key in options.values and not options.get("do_pan_and_scan", False):
            options.get(key)  # without pan and scan these do nothing
    for key in CLASS_OPTIONS.get(base, ()):
        options.get(key)  # the class's recipe reads it where it has an effect (not without a resize)


def read(processor: Any) -> ReadPreprocessing:
    """A Hugging Face image processor as metadata.json's preprocessing."""
    name = type(processor).__name__
    if name == "TimmWrapperImageProcessor":
        return _timm_wrapper(processor)
    fast = name.endswith("Fast")
    base = name.removesuffix("Fast")
    options = _Options(name, dict(processor.to_dict()))
    _checks(base, options)
    steps = _geometry(base, options, fast)
    norm = _normalization(base, options)
    flip = base == "MobileViTImageProcessor" and options.get("do_flip_channel_order", False)
    color: Literal["RGB", "BGR"] = "BGR" if flip else "RGB"
    options.check_all_read()
    size = output_size(steps)
    pre = Preprocessing(steps=steps, normalize=norm, format=Format(color_space=color),
                        input_size=None if size is None else [size[0], size[1]], source=name)

    def framework_preprocess(rgb: np.ndarray) -> np.ndarray:  # fast processors return torch only
        pixels = processor(images=rgb, return_tensors="pt")["pixel_values"]
        return np.asarray(pixels.detach().cpu().numpy(), dtype=np.float32)

    return ReadPreprocessing(pre, size, framework_preprocess)


def _timm_wrapper(processor: Any) -> ReadPreprocessing:
    """TimmWrapperImageProcessor runs timm's own eval transform from its data config."""
    from exporters.preprocessing import timm

    read = timm.read_config(dict(processor.data_config), source="TimmWrapperImageProcessor data_config")

    def framework_preprocess(rgb: np.ndarray) -> np.ndarray:
        pixels = processor(images=rgb, return_tensors="pt")["pixel_values"]
        return np.asarray(pixels.numpy(), dtype=np.float32)

    return ReadPreprocessing(read.preprocessing, read.input_size, framework_preprocess)
