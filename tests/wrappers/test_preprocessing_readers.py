"""Preprocessing read from the frameworks' own objects (exporters/preprocessing) and run by
the packaged wrapper, against the frameworks' own pipelines on real photos: every image
processor class in transformers' image-classification, object-detection and semantic-
segmentation auto-mappings (slow and fast, defaults and popular hub settings), timm's
data configs in each crop mode, Ultralytics' letterbox and classify transforms. Options
the wrapper cannot reproduce are refused with their names."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from core.errors import Unsupported
from core.inference import wrapper_module
from exporters.preprocessing import ReadPreprocessing, probe_images, verify

W = wrapper_module()


def photos() -> list[np.ndarray]:
    """Real photos, landscape and portrait, and a small synthetic one that every resize
    enlarges and every crop pads."""
    from skimage import data

    return [data.coffee(), np.ascontiguousarray(data.chelsea().transpose(1, 0, 2)), probe_images()[-1]]


def differences(read: ReadPreprocessing, images: list[np.ndarray]) -> tuple[float, float]:
    """(max, mean) |ours - theirs| over the images, in uint8 levels of the normalized tensor."""
    pre = W.Preprocessor({**read.section(), "embedded": False}, {"dtype": "float32", "format": "NCHW"})
    level = np.abs(pre.mul).reshape(1, 3, 1, 1)
    worst, means = 0.0, []
    for image in images:
        ours, _ = pre(image)
        theirs = read.framework_preprocess(image)
        assert ours.shape == theirs.shape, (read.preprocessing.source, image.shape)
        levels = np.abs(ours - theirs) / level
        worst, means = max(worst, float(levels.max())), [*means, float(levels.mean())]
    return worst, float(np.mean(means))


def processor_classes() -> list[str]:
    from transformers.models.auto.image_processing_auto import IMAGE_PROCESSOR_MAPPING_NAMES
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES,
        MODEL_FOR_OBJECT_DETECTION_MAPPING_NAMES,
        MODEL_FOR_SEMANTIC_SEGMENTATION_MAPPING_NAMES,
    )

    mappings = (MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES, MODEL_FOR_OBJECT_DETECTION_MAPPING_NAMES,
                MODEL_FOR_SEMANTIC_SEGMENTATION_MAPPING_NAMES)
    return sorted({name for mapping in mappings for model_type in mapping
                   for name in IMAGE_PROCESSOR_MAPPING_NAMES.get(model_type) or () if name})


# classes refused whole, and the option each refusal names
REFUSED = {
    "DonutImageProcessor": "do_thumbnail", "ImageGPTImageProcessor": "do_color_quantize",
    "Siglip2ImageProcessor": "max_num_patches",
}
# the settings popular hub checkpoints ship where they differ from the class defaults
HUB = {
    "microsoft/resnet-50": ("ConvNextImageProcessor", {"size": {"shortest_edge": 224}, "crop_pct": 0.875,
                                                       "resample": 3}),
    "facebook/deit-base-distilled-patch16-224": ("DeiTImageProcessor", {"size": {"height": 256, "width": 256},
                                                                        "resample": 3}),
    "microsoft/swin-tiny-patch4-window7-224": ("ViTImageProcessor", {
        "size": {"height": 224, "width": 224}, "resample": 3,
        "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225]}),
    "microsoft/beit-base-patch16-224": ("BeitImageProcessor", {"size": {"height": 224, "width": 224},
                                                               "do_center_crop": False, "resample": 2}),
    "apple/mobilevit-small": ("MobileViTImageProcessor", {"size": {"shortest_edge": 288},
                                                          "crop_size": {"height": 256, "width": 256}}),
    "google/efficientnet-b0": ("EfficientNetImageProcessor", {"size": {"height": 224, "width": 224},
                                                              "rescale_offset": True}),
    "hustvl/yolos-tiny": ("YolosImageProcessor", {"size": {"shortest_edge": 512, "longest_edge": 1333}}),
    "nvidia/segformer-b0-finetuned-ade-512-512": ("SegformerImageProcessor", {"do_reduce_labels": True}),
    "deepmind/vision-perceiver-learned": ("PerceiverImageProcessor", {
        "size": {"height": 224, "width": 224}, "crop_size": {"height": 256, "width": 256}, "resample": 3}),
    "google/bit-50": ("BitImageProcessor", {"size": {"shortest_edge": 448},
                                            "crop_size": {"height": 448, "width": 448}, "resample": 2}),
}


def build(name: str, **settings: Any) -> Any:
    import transformers

    return getattr(transformers, name)(**settings)


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    return photos()


@pytest.mark.parametrize("name", processor_classes())
def test_every_auto_mapped_processor_is_read_exactly_or_refused_by_option(
    name: str, images: list[np.ndarray]
) -> None:
    """Slow processors: the very same tensor (PIL's resampler, reproduced). Fast ones resample
    with torch's antialiased kernels, which stay within a few levels of PIL's."""
    from exporters.preprocessing.huggingface import read

    if name == "TimmWrapperImageProcessor":
        processor = build(name, pretrained_cfg={"input_size": (3, 224, 224), "crop_pct": 0.9,
                                                "interpolation": "bicubic", "crop_mode": "center"})
    else:
        processor = build(name)
    base = name.removesuffix("Fast")
    if base in REFUSED:
        with pytest.raises(Unsupported, match=f"{name}: option '{REFUSED[base]}'"):
            read(processor)
        return
    worst, mean = differences(read(processor), images)
    if not name.endswith("Fast"):
        assert worst <= 1e-3, (name, worst)  # float32 rounding only
    elif base == "EfficientNetImageProcessor":  # torch's nearest-exact in float32: a few shifted columns
        assert mean < 0.1, (name, mean)
    else:
        assert worst <= 4.0 and mean < 0.3, (name, worst, mean)


@pytest.mark.parametrize("checkpoint", sorted(HUB))
@pytest.mark.parametrize("fast", [False, True])
def test_popular_hub_settings(checkpoint: str, fast: bool, images: list[np.ndarray]) -> None:
    from exporters.preprocessing.huggingface import read

    name, settings = HUB[checkpoint]
    processor = build(name + ("Fast" if fast else ""), **settings)
    pre = read(processor)
    worst, mean = differences(pre, images)
    if not fast:
        assert worst <= 1e-3, (checkpoint, worst)
    elif name != "EfficientNetImageProcessor":
        assert worst <= 4.0 and mean < 0.3, (checkpoint, worst, mean)
    if checkpoint == "microsoft/resnet-50":  # resize to int(224 / 0.875) = 256, crop 224
        assert [s["op"] for s in pre.section()["steps"]] == ["resize", "center_crop"]
        assert pre.section()["steps"][0]["edge"] == 256 and pre.input_size == (224, 224)
    if checkpoint == "apple/mobilevit-small":  # channels flipped, no normalization
        assert pre.preprocessing.format.color_space == "BGR"
        assert pre.preprocessing.normalize.mean == [0.0, 0.0, 0.0]
    if checkpoint == "google/efficientnet-b0":  # x / 255 - 1, normalized by std twice (include_top)
        assert pre.preprocessing.normalize.mean == [1.5, 1.5, 1.5]
        assert pre.preprocessing.normalize.std == pytest.approx([0.25, 0.25, 0.25])
    if checkpoint == "deepmind/vision-perceiver-learned":  # 224/256 of the shorter side first, then 224
        steps = pre.section()["steps"]
        assert [s["op"] for s in steps] == ["center_crop", "resize"] and pre.input_size == (224, 224)
        assert steps[0]["fraction"] == [0.875, 0.875] and "size" not in steps[0]
    if checkpoint == "hustvl/yolos-tiny":
        assert pre.input_size is None and pre.section()["steps"][0]["rule"] == "yolos"


@pytest.mark.parametrize(("settings", "option"), [
    ({"name": "DPTImageProcessor", "keep_aspect_ratio": True, "ensure_multiple_of": 32}, "keep_aspect_ratio"),
    ({"name": "DetrImageProcessor", "pad_size": {"height": 1333, "width": 1333}}, "pad_size"),
    ({"name": "DPTImageProcessor", "do_pad": True, "size_divisor": 32}, "do_pad"),
    ({"name": "ViTImageProcessor", "size": {"longest_edge": 300}}, "size"),
    ({"name": "ViTImageProcessor", "posterize_bits": 4}, "posterize_bits"),  # an option nobody knows
    ({"name": "Gemma3ImageProcessor", "do_pan_and_scan": True}, "do_pan_and_scan"),
])
def test_options_with_an_effect_the_wrapper_lacks_are_refused_by_name(settings: dict[str, Any],
                                                                     option: str) -> None:
    from exporters.preprocessing.huggingface import read

    settings = dict(settings)
    name = settings.pop("name")
    with pytest.raises(Unsupported, match=f"{name}: option '{option}'") as err:
        read(build(name, **settings))
    assert err.value.exit_code == 3


def test_options_without_effect_at_inference_are_accepted() -> None:
    from exporters.preprocessing.huggingface import NO_EFFECT, read

    processor = build("SegformerImageProcessor", do_reduce_labels=True)
    read(processor)  # reduce_labels only touches segmentation maps
    assert {"do_reduce_labels", "image_processor_type", "processor_class"} <= set(NO_EFFECT)


def test_a_reading_that_does_not_reproduce_the_framework_is_refused_up_front() -> None:
    """The loaders call verify() before any conversion: a mismatch is exit 3, not a failed gate."""
    from exporters.preprocessing.huggingface import read

    good = read(build("ViTImageProcessor"))
    worst = verify(good)
    assert worst["max_levels"] < 1e-3
    wrong_size = ReadPreprocessing(good.preprocessing.model_copy(update={"steps": [
        good.preprocessing.steps[0].model_copy(update={"size": [200, 200]})]}), (200, 200),
        good.framework_preprocess)
    with pytest.raises(Unsupported, match=r"gives a \(1, 3, 200, 200\) tensor .* framework gives"):
        verify(wrong_size)
    shifted = good.preprocessing.model_copy(update={"normalize": good.preprocessing.normalize.model_copy(
        update={"mean": [0.4, 0.5, 0.5]})})
    with pytest.raises(Unsupported, match="differs from the framework's own by"):
        verify(ReadPreprocessing(shifted, (224, 224), good.framework_preprocess))


IMAGENET = {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)}
HALF = {"mean": (0.5,) * 3, "std": (0.5,) * 3}
TIMM_CONFIGS: dict[str, dict[str, Any]] = {
    "center": {"input_size": (3, 224, 224), "interpolation": "bicubic", "crop_pct": 0.875,
               "crop_mode": "center", **IMAGENET},
    "center-bilinear-1.0": {"input_size": (3, 256, 256), "interpolation": "bilinear", "crop_pct": 1.0,
                            "crop_mode": "center", "mean": (0.5,) * 3, "std": (0.5,) * 3},
    "squash": {"input_size": (3, 384, 384), "interpolation": "bicubic", "crop_pct": 0.95,
               "crop_mode": "squash", **IMAGENET},
    "squash-nonsquare": {"input_size": (3, 256, 192), "interpolation": "bilinear", "crop_pct": 0.875,
                         "crop_mode": "squash", "mean": (0.5,) * 3, "std": (0.5,) * 3},
    "border": {"input_size": (3, 224, 224), "interpolation": "bicubic", "crop_pct": 0.9,
               "crop_mode": "border", "mean": (0.48145466, 0.4578275, 0.40821073),
               "std": (0.26862954, 0.26130258, 0.27577711)},
    "lanczos": {"input_size": (3, 160, 160), "interpolation": "lanczos", "crop_pct": 0.8,
                "crop_mode": "center", **HALF},
}


@pytest.mark.parametrize("mode", sorted(TIMM_CONFIGS))
def test_timm_data_configs_in_each_crop_mode(mode: str, images: list[np.ndarray]) -> None:
    import timm.data
    from PIL import Image

    from exporters.preprocessing.timm import read_config

    config = TIMM_CONFIGS[mode]
    pre = read_config(config)
    transform = timm.data.create_transform(**config, is_training=False)  # the reference, built here
    for image in images:
        ours, _ = W.Preprocessor({**pre.section(), "embedded": False}, {"dtype": "float32"})(image)
        theirs = transform(Image.fromarray(image)).numpy()[None]
        assert ours.shape == theirs.shape and np.abs(ours - theirs).max() < 1e-5, (mode, image.shape)
    assert pre.input_size == tuple(config["input_size"][1:])
    if mode == "border":  # fit in 248 x 248 with timm's rounding, pad with the mean colour
        resize, crop = pre.section()["steps"]
        assert resize["mode"] == "fit" and resize["rule"] == "timm" and crop["fill"] == [123, 117, 104]


def test_timm_refuses_what_it_cannot_reproduce() -> None:
    from exporters.preprocessing.timm import read_config

    base = TIMM_CONFIGS["center"]
    with pytest.raises(Unsupported, match="option 'crop_mode'"):
        read_config({**base, "crop_mode": "random_squash"})
    with pytest.raises(Unsupported, match="non-square input_size"):
        read_config({**base, "input_size": (3, 256, 192)})
    with pytest.raises(Unsupported, match="option 'crop_border_pixels'"):
        read_config({**base, "crop_border_pixels": 2})


def test_timm_reads_a_models_own_pretrained_config() -> None:
    import timm

    from exporters.preprocessing.timm import read

    model = timm.create_model("resnet18", pretrained=False, num_classes=3)
    pre = read(model)
    assert pre.preprocessing.source.startswith("timm data config (crop_mode center, crop_pct 0.95")
    assert pre.section()["steps"][0]["edge"] == 235 and pre.input_size == (224, 224)
    assert read(model, input_size=160).input_size == (160, 160)


@pytest.mark.parametrize(("task", "kwargs"), [("detect", {}), ("segment", {}), ("pose", {}), ("obb", {}),
                                              ("detect", {"scale_fill": True}), ("classify", {})])
def test_ultralytics_letterbox_and_classify_transforms(task: str, kwargs: dict[str, Any],
                                                      images: list[np.ndarray]) -> None:
    """The letterbox to the pixel (same OpenCV resize, same padding split) and the classify
    transform to float32 rounding."""
    from exporters.preprocessing.ultralytics import read

    size = 224 if task == "classify" else 320
    pre = read(task, size, 32, **kwargs)
    worst, _ = differences(pre, images)
    assert worst < 1e-3
    ops = [s["op"] for s in pre.section()["steps"]]
    if task == "classify":
        assert ops == ["resize", "center_crop"]
    else:  # the letterbox pads; RT-DETR's stretch (scale_fill) does not
        assert ops == (["resize"] if kwargs else ["resize", "pad"])
