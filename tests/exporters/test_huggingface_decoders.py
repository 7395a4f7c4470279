"""The wrapper's set-prediction and semantic decoders against transformers' own post-processing.

``post_process_object_detection`` (DETR and YOLOS: softmax with a no-object class;
Conditional DETR: sigmoid, top 100 (query, class) pairs; RT-DETR: sigmoid, top
``num_queries``) and ``post_process_semantic_segmentation`` are the reference, on
random outputs and on the outputs of real (random-weight) models on a real photo.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from core.inference import wrapper_module

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

# (processor class, postprocessing section, number of classes in the logits)
DETECTORS: dict[str, tuple[str, dict[str, Any], int]] = {
    "detr": ("DetrImageProcessor", {"scores": "softmax"}, 11),
    "yolos": ("YolosImageProcessor", {"scores": "softmax"}, 11),
    "conditional_detr": ("ConditionalDetrImageProcessor", {"scores": "sigmoid", "top_k": 100}, 10),
    "rt_detr": ("RTDetrImageProcessor", {"scores": "sigmoid", "top_k": 300}, 10),
}
QUERIES = {"detr": 100, "yolos": 100, "conditional_detr": 300, "rt_detr": 300}


def _postprocessor(section: dict[str, Any], classes: int) -> Any:
    spec = {"type": "set_prediction", "confidence_threshold": 0.5, "max_detections": 300,
            "scores_index": 0, "boxes_index": 1, **section}
    return wrapper_module().Postprocessor(spec, [{"id": i, "name": f"c{i}"} for i in range(classes)])


def _transform(image: tuple[int, int], tensor: tuple[int, int]) -> dict[str, float]:
    """A resize of the whole image to the tensor (what DETR's and RT-DETR's processors do)."""
    (h, w), (th, tw) = image, tensor
    return {"gain_x": tw / w, "gain_y": th / h, "pad_x": 0.0, "pad_y": 0.0, "width": tw, "height": th}


def _reference(processor: Any, logits: np.ndarray, boxes: np.ndarray, threshold: float,
               image: tuple[int, int]) -> list[dict[str, Any]]:
    outputs = SimpleNamespace(logits=torch.from_numpy(logits), pred_boxes=torch.from_numpy(boxes))
    found = processor.post_process_object_detection(outputs, threshold=threshold, target_sizes=[image])[0]
    h, w = image
    clip = np.array([w, h, w, h], dtype=np.float64)
    return sorted(({"class_id": int(c), "confidence": float(s),
                    "bbox": np.clip(np.asarray(b, dtype=np.float64), 0, clip).tolist()}
                   for s, c, b in zip(found["scores"], found["labels"], found["boxes"], strict=True)),
                  key=lambda p: -p["confidence"])


def _ordered(predictions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Best first; pairs with the same float32 score in a fixed order (a top-k may list them
    either way)."""
    return sorted(predictions, key=lambda p: (-np.float32(p["confidence"]), p["class_id"], p["bbox"]))


def _same(ours: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> None:
    assert len(ours) == len(theirs) > 0
    for a, b in zip(_ordered(ours), _ordered(theirs), strict=True):
        assert a["class_id"] == b["class_id"]
        assert a["confidence"] == pytest.approx(b["confidence"], abs=1e-6)
        assert np.allclose(a["bbox"], b["bbox"], atol=1e-3)


@pytest.mark.parametrize("family", sorted(DETECTORS))
def test_set_prediction_matches_transformers_on_random_outputs(family: str) -> None:
    name, section, classes = DETECTORS[family]
    processor = getattr(transformers, name)()
    post = _postprocessor(section, classes - (section["scores"] == "softmax"))
    rng = np.random.default_rng(7)
    for image, tensor in (((480, 640), (800, 1066)), ((427, 640), (640, 640)), ((640, 360), (1333, 750))):
        logits = rng.normal(0, 2, (1, QUERIES[family], classes)).astype(np.float32)
        boxes = rng.uniform(0.05, 0.95, (1, QUERIES[family], 4)).astype(np.float32)
        for threshold in (0.5, 0.3):
            ours = post.decode([logits, boxes], _transform(image, tensor), image, conf=threshold)
            _same(ours, _reference(processor, logits, boxes, threshold, image))


def _semantic(mapping: str, classes: int) -> Any:
    return wrapper_module().Postprocessor({"type": "semantic_logits", "mapping": mapping},
                                          [{"id": i, "name": f"c{i}"} for i in range(classes)])


def _hf_class_map(logits: np.ndarray, image: tuple[int, int]) -> np.ndarray:
    processor = transformers.SegformerImageProcessor()
    outputs = SimpleNamespace(logits=torch.from_numpy(logits))
    return processor.post_process_semantic_segmentation(outputs, target_sizes=[image])[0].numpy()


@pytest.mark.parametrize("mapping", ["stretch", "inverse"])
def test_semantic_class_map_matches_transformers_on_random_logits(mapping: str) -> None:
    """An exact resize of the whole image: both mappings are transformers' own."""
    rng = np.random.default_rng(3)
    for image, logits_size, classes in (((480, 640), (128, 128), 19), ((333, 500), (64, 96), 150),
                                        ((512, 512), (128, 128), 2)):
        logits = rng.normal(0, 2, (1, classes, *logits_size)).astype(np.float32)
        transform = _transform(image, (logits_size[0] * 4, logits_size[1] * 4))
        ours = _semantic(mapping, classes).decoder.class_map([logits], transform, image)
        theirs = _hf_class_map(logits, image)
        assert ours.shape == theirs.shape == image
        assert (ours == theirs).mean() > 0.9999  # only exact float ties may differ


def test_semantic_inverse_mapping_follows_a_center_crop() -> None:
    """After a crop, ``inverse`` puts the logits on the cropped part of the image (and
    ``stretch`` over the whole image, as transformers does)."""
    rng = np.random.default_rng(5)
    image = (256, 320)  # shortest edge 256: no resize; the centre 256 x 256 is cropped
    logits = rng.normal(0, 2, (1, 6, 64, 64)).astype(np.float32)
    transform = {"gain_x": 1.0, "gain_y": 1.0, "pad_x": -32.0, "pad_y": 0.0, "width": 256, "height": 256}
    ours = _semantic("inverse", 6).decoder.class_map([logits], transform, image)
    assert (ours[:, 32:288] == _hf_class_map(logits, (256, 256))).mean() > 0.9999
    assert (ours[:, :32] == ours[:, 32:33]).all()  # beyond the crop: the border logits extend
    stretched = _semantic("stretch", 6).decoder.class_map([logits], transform, image)
    assert (stretched == _hf_class_map(logits, image)).mean() > 0.9999
    assert (stretched != ours).mean() > 0.05


def test_semantic_segments_describe_the_class_map() -> None:
    rng = np.random.default_rng(9)
    logits = rng.normal(0, 2, (1, 4, 16, 16)).astype(np.float32)
    image = (90, 120)
    post = _semantic("stretch", 4)
    segments = post.decode([logits], _transform(image, (64, 64)), image, masks=True)
    class_map = post.decoder.class_map([logits], _transform(image, (64, 64)), image)
    probs = torch.softmax(torch.nn.functional.interpolate(torch.from_numpy(logits), size=image,
                                                          mode="bilinear", align_corners=False), dim=1)
    best = probs.max(dim=1).values[0].numpy()
    assert sum(s["area"] for s in segments) == pytest.approx(1.0)
    for segment in segments:
        mask = segment["mask"]
        assert (mask == (class_map == segment["class_id"])).all()
        ys, xs = np.nonzero(mask)
        assert segment["bbox"] == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
        assert segment["confidence"] == pytest.approx(float(best[mask].mean()), abs=1e-5)


# --- real models on a real photo ---------------------------------------------


def _photo() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.chelsea())


def _scaled_head(model: Any, classes: int, factor: float, bias: float | None = None) -> None:
    """Spread the random class logits so some predictions pass the threshold."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.Linear) and module.out_features == classes:
                module.weight.mul_(factor)
                if bias is not None and module.bias is not None:
                    module.bias.fill_(bias)


@pytest.mark.parametrize("family", ["detr", "rt_detr"])
def test_set_prediction_matches_transformers_on_a_real_model(family: str) -> None:
    torch.manual_seed(0)
    if family == "detr":
        config = transformers.DetrConfig(use_pretrained_backbone=False, backbone="resnet18",
                                         num_labels=5, num_queries=20, encoder_layers=1, decoder_layers=1)
        model = transformers.DetrForObjectDetection(config).eval()
        processor = transformers.DetrImageProcessor()
        section: dict[str, Any] = {"scores": "softmax"}
        _scaled_head(model, 6, 40.0)
    else:
        config = transformers.RTDetrConfig(num_labels=5, decoder_layers=1, num_queries=30)
        model = transformers.RTDetrForObjectDetection(config).eval()
        processor = transformers.RTDetrImageProcessor()
        section = {"scores": "sigmoid", "top_k": 30}
        _scaled_head(model, 5, 3.0, bias=0.0)
    rgb = _photo()
    pixels = processor(images=rgb, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        out = model(pixels)
    image = rgb.shape[:2]
    theirs = processor.post_process_object_detection(out, threshold=0.5, target_sizes=[image])[0]
    transform = _transform(image, tuple(pixels.shape[-2:]))
    ours = _postprocessor(section, 5).decode([out.logits.numpy(), out.pred_boxes.numpy()], transform,
                                             image, conf=0.5)
    _same(ours, _reference(processor, out.logits.numpy(), out.pred_boxes.numpy(), 0.5, image))
    assert len(ours) == len(theirs["scores"])


def test_semantic_matches_transformers_on_a_real_segformer() -> None:
    torch.manual_seed(0)
    config = transformers.SegformerConfig(num_labels=8, depths=[1, 1, 1, 1], hidden_sizes=[16, 32, 80, 128],
                                          decoder_hidden_size=64)
    model = transformers.SegformerForSemanticSegmentation(config).eval()
    _scaled_head(model, 8, 1.0)
    processor = transformers.SegformerImageProcessor()
    rgb = _photo()
    pixels = processor(images=rgb, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        out = model(pixels)
    image = rgb.shape[:2]
    theirs = processor.post_process_semantic_segmentation(out, target_sizes=[image])[0].numpy()
    transform = _transform(image, tuple(pixels.shape[-2:]))
    ours = _semantic("stretch", 8).decoder.class_map([out.logits.numpy()], transform, image)
    assert len(np.unique(theirs)) > 1
    assert (ours == theirs).mean() > 0.9999
