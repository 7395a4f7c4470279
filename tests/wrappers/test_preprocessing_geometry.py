"""The wrapper's preprocessing steps against the libraries' own functions: PIL's resampler
pixel for pixel, every size rule against the function it reproduces, and the transform
that maps boxes back through resizes, crops and pads."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from core.inference import wrapper_module
from core.metadata import Preprocessing

W = wrapper_module()
FILTERS = {"nearest": 0, "lanczos": 1, "bilinear": 2, "bicubic": 3, "box": 4, "hamming": 5}
NORMALIZE = {"scale": 1 / 255, "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}


def photos() -> list[np.ndarray]:
    from skimage import data

    return [data.astronaut(), data.coffee(), np.ascontiguousarray(data.chelsea().transpose(1, 0, 2)),
            data.rocket()]


def preprocessor(steps: list[dict[str, Any]], **section: Any) -> Any:
    spec = {"steps": steps, "normalize": NORMALIZE, "input_size": None, "source": "test", **section}
    Preprocessing.model_validate(spec)  # only what the vocabulary allows
    return W.Preprocessor(spec, {"dtype": "float32", "format": "NCHW"})


@pytest.mark.parametrize("interpolation", sorted(FILTERS))
def test_the_resampler_is_pils_pixel_for_pixel(interpolation: str) -> None:
    """Up and down, one axis and both, in both of Pillow 13's pass orders, on photos and noise."""
    from PIL import Image

    rng = np.random.default_rng(3)
    images = [*photos(), rng.integers(0, 256, (97, 131, 3), dtype=np.uint8),
              rng.integers(0, 256, (7, 300, 3), dtype=np.uint8)]
    sizes = [(224, 224), (256, 341), (37, 50), (700, 901), (512, 100), (1, 5), (97, 40)]
    compared = 0
    for image in images:
        for height, width in sizes:
            ours = W.pil_resize(image, width, height, interpolation)
            theirs = np.asarray(Image.fromarray(image).resize((width, height), FILTERS[interpolation]))
            assert np.array_equal(ours, theirs), (image.shape, (height, width))
            compared += ours.size
    assert compared > 5_000_000


def test_pillow_13_runs_the_vertical_pass_first_when_the_height_shrinks_much_more() -> None:
    """The pass order changes the rounding between passes; the wrapper follows Pillow's choice."""
    from PIL import Image

    image = np.random.default_rng(4).integers(0, 256, (463, 290, 3), dtype=np.uint8)
    theirs = np.asarray(Image.fromarray(image).resize((224, 224), Image.Resampling.BILINEAR))
    vertical_first = W.pil_resize(W.pil_resize(image, 290, 224, "bilinear"), 224, 224, "bilinear")
    horizontal_first = W.pil_resize(W.pil_resize(image, 224, 463, "bilinear"), 224, 224, "bilinear")
    assert np.array_equal(W.pil_resize(image, 224, 224, "bilinear"), theirs)
    assert np.array_equal(vertical_first, theirs) and not np.array_equal(horizontal_first, theirs)


def _shapes(count: int, seed: int) -> list[tuple[int, int]]:
    rng = np.random.default_rng(seed)
    shapes = [tuple(int(v) for v in rng.integers(1, 2000, 2)) for _ in range(count)]
    # sizes where the floating-point rounding of ties decides (timm vs Ultralytics, found by search)
    return [*shapes, (9, 576), (255, 1088), (261, 576), (513, 576), (800, 1333), (224, 224), (1, 1)]


def test_shortest_and_longest_edge_rules_match_torchvision_and_transformers() -> None:
    from torchvision.transforms.v2.functional._geometry import _compute_resized_output_size
    from transformers.image_transforms import get_resize_output_image_size

    for h, w in _shapes(150, 5):
        for edge, max_edge in ((224, None), (256, 300), (800, 1333)):
            step = {"mode": "shortest_edge", "edge": edge, "max_edge": max_edge, "rule": "floor"}
            theirs = _compute_resized_output_size((h, w), [edge], max_edge)
            assert list(W.resized_size(h, w, step)) == theirs, (h, w, edge, max_edge)
            image = np.empty((h, w, 1), np.uint8)
            hf = get_resize_output_image_size(image, edge, default_to_square=False, max_size=max_edge,
                                              input_data_format="channels_last")
            assert W.resized_size(h, w, step) == tuple(hf)
        longest = {"mode": "longest_edge", "edge": 300, "rule": "floor"}
        theirs = _compute_resized_output_size((h, w), None, 300)
        if min(theirs) >= 1:  # torchvision gives 0 for a 1 x 2000 strip; the wrapper keeps 1
            assert list(W.resized_size(h, w, longest)) == theirs


def test_detr_and_yolos_rules_match_their_processors() -> None:
    from transformers.models.detr.image_processing_detr import get_size_with_aspect_ratio as detr
    from transformers.models.yolos.image_processing_yolos import get_size_with_aspect_ratio as yolos

    for h, w in _shapes(150, 6):
        for edge, max_edge in ((800, 1333), (512, 1333), (300, None)):
            for rule, theirs in (("detr", detr), ("yolos", yolos)):
                step = {"mode": "shortest_edge", "edge": edge, "max_edge": max_edge, "rule": rule}
                assert W.resized_size(h, w, step) == tuple(theirs((h, w), edge, max_edge)), (rule, h, w)


def test_fit_rules_match_ultralytics_timm_and_transformers() -> None:
    import torch
    from timm.data.transforms import ResizeKeepRatio
    from transformers.models.detr.image_processing_detr import get_image_size_for_max_height_width
    from ultralytics.data.augment import LetterBox

    for h, w in _shapes(150, 7):
        for target in ((640, 640), (320, 480), (248, 248)):
            params = LetterBox(target, auto=False).get_params({"img": np.empty((h, w, 3), np.uint8)})
            fit = {"mode": "fit", "size": list(target)}
            assert W.resized_size(h, w, {**fit, "rule": "round"})[::-1] == tuple(params["new_unpad"])
            timm_size = ResizeKeepRatio.get_params(torch.empty(3, h, w), target, longest=1.0)
            assert list(W.resized_size(h, w, {**fit, "rule": "timm"})) == timm_size, (h, w, target)
            image = np.empty((h, w, 1), np.uint8)
            hf = get_image_size_for_max_height_width(image, *target, input_data_format="channels_last")
            if min(hf) > 0:
                assert W.resized_size(h, w, {**fit, "rule": "floor"}) == tuple(hf)
        square = ResizeKeepRatio.get_params(torch.empty(3, h, w), (224, 224), longest=0.0)
        assert list(W.resized_size(h, w, {"mode": "shortest_edge", "edge": 224, "rule": "timm"})) == square


def test_the_two_round_rules_differ_where_the_libraries_do() -> None:
    """513 x 576 to fit 224 x 224: Ultralytics gets 200 rows, timm 199; each rule is its library's."""
    fit = {"mode": "fit", "size": [224, 224]}
    assert W.resized_size(513, 576, {**fit, "rule": "round"}) == (200, 224)
    assert W.resized_size(513, 576, {**fit, "rule": "timm"}) == (199, 224)


@pytest.mark.parametrize(("rule", "expected_top"), [("floor", 3), ("round", 2), ("floor_pad_floor", 2)])
def test_center_crop_pads_and_cuts_by_its_rule(rule: str, expected_top: int) -> None:
    """A 5 x 9 image into a 10 x 4 crop: padded by 5 rows (3 above for HF's ceil, 2 for
    torchvision's floor), cut from 9 columns at floor 2 or round(2.5) = 2."""
    image = np.arange(5 * 9 * 3, dtype=np.uint8).reshape(5, 9, 3)
    pre = preprocessor([{"op": "center_crop", "size": [10, 4], "rule": rule, "fill": [7, 8, 9]}])
    out, t = pre.resize(image)
    assert out.shape == (10, 4, 3)
    assert (out[:expected_top] == [7, 8, 9]).all() and not (out[expected_top] == [7, 8, 9]).all()
    assert np.array_equal(out[expected_top : expected_top + 5], image[:, 2:6])
    assert (t["pad_x"], t["pad_y"]) == (-2.0, float(expected_top))


def test_round_uses_pythons_half_to_even_as_torchvision_does() -> None:
    import torch
    from torchvision.transforms.v2 import functional as F

    for h in range(224, 236):
        image = np.random.default_rng(h).integers(0, 256, (h, h + 3, 3), dtype=np.uint8)
        pre = preprocessor([{"op": "center_crop", "size": [224, 224], "rule": "round"}])
        theirs = F.center_crop(torch.from_numpy(image).permute(2, 0, 1), [224, 224]).permute(1, 2, 0).numpy()
        assert np.array_equal(pre.resize(image)[0], theirs)


def test_pad_to_size_and_to_a_multiple() -> None:
    image = np.full((5, 7, 3), 200, np.uint8)
    center = preprocessor([{"op": "pad", "size": [10, 10], "position": "center", "fill": [114] * 3}])
    out, t = center.resize(image)
    assert out.shape == (10, 10, 3) and (t["pad_x"], t["pad_y"]) == (1.0, 2.0)  # round(1.4), round(2.4)
    assert (out[2:7, 1:8] == 200).all() and (out[:2] == 114).all() and (out[7:] == 114).all()
    corner = preprocessor([{"op": "pad", "multiple_of": 4, "position": "bottom_right", "fill": [0] * 3}])
    out, t = corner.resize(image)
    assert out.shape == (8, 8, 3) and (t["pad_x"], t["pad_y"]) == (0.0, 0.0) and (out[:5, :7] == 200).all()


def test_boxes_map_back_through_resize_crop_and_pad() -> None:
    """A bright rectangle found in the tensor maps back onto the rectangle drawn in the image."""
    steps = [
        {"op": "resize", "mode": "shortest_edge", "edge": 150, "interpolation": "nearest"},
        {"op": "center_crop", "size": [170, 140], "rule": "floor"},  # pads rows, cuts columns
        {"op": "pad", "size": [200, 160], "position": "center", "fill": [0, 0, 0]},
    ]
    image = np.zeros((300, 480, 3), np.uint8)
    x1, y1, x2, y2 = 200, 40, 280, 250
    image[y1:y2, x1:x2] = 255
    tensor, t = preprocessor(steps)(image)
    ys, xs = np.nonzero(tensor[0, 0] > 0.5)
    found = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32)
    back = W._to_original(found, t, image.shape[:2])[0]
    assert tensor.shape == (1, 3, 200, 160) and (t["width"], t["height"]) == (160, 200)
    assert np.allclose(back, [x1, y1, x2, y2], atol=3.5), (back, t)
    # the composition the steps describe: 300 x 480 → 150 x 240 (gain 0.5); the crop pads
    # ceil(20 / 2) = 10 rows and cuts (240 - 140) // 2 = 50 columns; the pad adds 15 rows, 10 columns
    assert t["gain_x"] == pytest.approx(0.5) and t["gain_y"] == pytest.approx(0.5)
    assert (t["pad_x"], t["pad_y"]) == (-50 + 10, 10 + 15)


def test_schema_1_packages_still_run() -> None:
    """An old package's single resize object becomes the equivalent steps."""
    image = photos()[1]
    old = {"resize": {"method": "shorter_side_center_crop", "size": [224, 224], "crop_pct": 0.875,
                      "interpolation": "bicubic", "antialias": True}, "normalize": NORMALIZE}
    new = [{"op": "resize", "mode": "shortest_edge", "edge": 256, "interpolation": "bicubic"},
           {"op": "center_crop", "size": [224, 224], "rule": "round"}]
    old_tensor, _ = W.Preprocessor(old, {"dtype": "float32", "format": "NCHW"})(image)
    assert np.array_equal(old_tensor, preprocessor(new)(image)[0])
    letterbox = {"resize": {"method": "letterbox", "size": [320, 320], "fill_value": 114,
                            "interpolation": "linear"}, "normalize": NORMALIZE}
    steps = W.steps_from_v1(letterbox["resize"])
    assert [s["op"] for s in steps] == ["resize", "pad"] and steps[0]["antialias"] is False
    Preprocessing.model_validate({"steps": steps, "normalize": NORMALIZE, "input_size": [320, 320],
                                  "source": "schema 1"})


def test_bgr_models_get_flipped_pixels_and_flipped_constants() -> None:
    """Mean and std are given in RGB order; a BGR model gets both reversed with the pixels."""
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[..., 0] = 255  # pure red
    norm = {"scale": 1 / 255, "mean": [0.1, 0.2, 0.3], "std": [0.5, 1.0, 2.0]}
    pre = preprocessor([], normalize=norm, format={"color_space": "BGR"})
    tensor, _ = pre(rgb)
    expected_bgr = [(0 - 0.3) / 2.0, (0 - 0.2) / 1.0, (1 - 0.1) / 0.5]  # B, G, R planes
    assert np.allclose(tensor[0, :, 0, 0], expected_bgr, atol=1e-6)
