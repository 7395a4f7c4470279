"""The standalone wrapper's pre/post-processing against the frameworks' own."""

from __future__ import annotations

import numpy as np
import pytest

from core.inference import wrapper_module

W = wrapper_module()


def preprocessor(method: str, size: int, **resize: object) -> object:
    spec = {
        "resize": {"method": method, "size": [size, size], **resize},
        "normalize": {"scale": 1 / 255, "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]},
    }
    return W.Preprocessor(spec, {"dtype": "float32", "format": "NCHW"})


@pytest.mark.parametrize("shape", [(480, 640), (640, 480), (333, 517), (320, 320), (17, 900)])
def test_letterbox_matches_ultralytics(shape: tuple[int, int]) -> None:
    from ultralytics.data.augment import LetterBox

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    ours, transform = preprocessor("letterbox", 320, fill_value=114, interpolation="linear")(image)
    theirs = LetterBox((320, 320), auto=False)(image=image)
    pixels = np.rint(ours[0].transpose(1, 2, 0) * 255).astype(np.uint8)
    assert np.array_equal(pixels, theirs)  # same resize, same padding, to the pixel
    assert transform["pad_x"] >= 0 and transform["pad_y"] >= 0


def test_boxes_map_back_like_ultralytics() -> None:
    import torch
    from ultralytics.utils.ops import scale_boxes

    boxes = np.array([[10.0, 40.5, 200.0, 260.0], [0.0, 0.0, 320.0, 320.0]], dtype=np.float32)
    _, transform = preprocessor("letterbox", 320)(np.zeros((333, 517, 3), np.uint8))
    ours = W._to_original(boxes, transform, (333, 517))
    theirs = scale_boxes((320, 320), torch.from_numpy(boxes.copy()), (333, 517)).numpy()
    assert np.allclose(ours, theirs, atol=1e-3)


def test_nms_matches_torchvision() -> None:
    import torch
    import torchvision

    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 300, (300, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(5, 80, (300, 2))], axis=1).astype(np.float32)
    scores = rng.uniform(0, 1, 300).astype(np.float32)
    for threshold in (0.3, 0.5, 0.7):
        ours = W.nms(boxes, scores, threshold)
        theirs = torchvision.ops.nms(torch.from_numpy(boxes), torch.from_numpy(scores), threshold)
        assert ours.tolist() == theirs.tolist()


def test_center_crop_geometry_matches_torchvision() -> None:
    """The shorter side goes to size/crop_pct, then a centred crop (torchvision's rounding)."""
    import torch
    from torchvision.transforms import v2

    h, w = 333, 517
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    image = np.stack([xx / w * 255, yy / h * 255, np.full_like(xx, 128)], axis=-1).astype(np.uint8)
    ours, _ = preprocessor("shorter_side_center_crop", 224, crop_pct=0.875,
                           interpolation="linear")(image)
    tensor = torch.from_numpy(image).permute(2, 0, 1)
    theirs = v2.CenterCrop(224)(v2.Resize(256, antialias=False)(tensor))
    ref = theirs.numpy().astype(np.float32)
    ours_px = ours[0] * 255
    error = np.abs(ours_px - ref)[:2, 1:-1, 1:-1].mean()
    shifted = np.abs(ours_px[:2, 1:-1, 2:] - ref[:2, 1:-1, 1:-1]).mean()  # one pixel off
    assert error <= 0.5
    assert error < shifted / 2


def test_embedded_preprocessing_feeds_uint8_nhwc() -> None:
    spec = {"resize": {"method": "resize", "size": [32, 48]}, "embedded": True,
            "normalize": {"scale": 1 / 255, "mean": [0.5] * 3, "std": [0.5] * 3}}
    pre = W.Preprocessor(spec, {"dtype": "uint8", "format": "NHWC"})
    tensor, _ = pre(np.zeros((100, 60, 3), np.uint8))
    assert tensor.dtype == np.uint8 and tensor.shape == (1, 32, 48, 3)


def test_load_image_conventions(tmp_path: object) -> None:
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[..., 0] = 255
    assert W.ModelWrapper.load_image(rgb)[0, 0].tolist() == [255, 0, 0]
    assert W.ModelWrapper.load_image(rgb, bgr=True)[0, 0].tolist() == [0, 0, 255]
    assert W.ModelWrapper.load_image(np.zeros((4, 4), np.uint8)).shape == (4, 4, 3)
    with pytest.raises(ValueError, match="cannot read image"):
        W.ModelWrapper.load_image("/nonexistent.jpg")


def test_normalization_follows_the_metadata_formula() -> None:
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    spec = {"resize": {"method": "resize", "size": [64, 96]},
            "normalize": {"scale": 1 / 255, "mean": mean, "std": std}}
    pre = W.Preprocessor(spec, {"dtype": "float32", "format": "NCHW"})
    rgb = np.random.default_rng(2).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    expected = ((rgb / 255.0 - np.array(mean)) / np.array(std)).transpose(2, 0, 1)[None]
    assert pre.to_tensor(rgb).shape == (1, 3, 64, 96)
    assert np.allclose(pre.to_tensor(rgb), expected, atol=1e-5)


def test_tensors_are_c_contiguous() -> None:
    """A strided tensor would make ONNX Runtime copy it again on every call."""
    pre = preprocessor("letterbox", 64)
    tensor, _ = pre(np.zeros((48, 64, 3), np.uint8))
    assert tensor.flags["C_CONTIGUOUS"] and tensor.dtype == np.float32


def test_antialias_follows_pil_when_shrinking() -> None:
    from PIL import Image
    from skimage import data

    photo = data.astronaut()  # 512 x 512
    pil = np.asarray(Image.fromarray(photo).resize((96, 96), Image.Resampling.BILINEAR), np.float32)

    def ours(antialias: bool) -> np.ndarray:
        pre = preprocessor("resize", 96, interpolation="bilinear", antialias=antialias)
        resized, _ = pre.resize(photo)
        return np.asarray(resized, np.float32)

    assert np.abs(ours(True) - pil).mean() < np.abs(ours(False) - pil).mean() / 2
