"""The canvas draws what every task's decoder returns: rotated boxes as polygons, keypoints,
instance masks and semantic segments as a tinted overlay. The predictions come from the
package wrapper's own decoders on raw outputs shaped like the models' (no export needed)."""

from __future__ import annotations

from typing import Any

import numpy as np
from pytestqt.qtbot import QtBot

from core.inference import wrapper_module
from gui.widgets.detection_canvas import DetectionCanvas

W = wrapper_module()
CLASSES = [{"id": i, "name": f"c{i}"} for i in range(3)]
TRANSFORM = {"gain_x": 0.5, "gain_y": 0.5, "pad_x": 0.0, "pad_y": 0.0, "width": 64, "height": 64}
SHAPE = (128, 128)


def decode(post: dict[str, Any], outputs: list[np.ndarray], **kw: Any) -> list[dict[str, Any]]:
    return list(W.Postprocessor(post, CLASSES).decode(outputs, TRANSFORM, SHAPE, **kw))


def canvas(qtbot: QtBot) -> DetectionCanvas:
    view = DetectionCanvas()
    qtbot.addWidget(view)
    view.set_image(np.zeros((*SHAPE, 3), np.uint8))
    return view


def test_rotated_boxes_are_drawn_as_their_polygons(qtbot: QtBot) -> None:
    rng = np.random.default_rng(0)
    grid = np.zeros((1, 4 + 3 + 1, 20), np.float32)
    grid[0, :2] = rng.uniform(10, 50, (2, 20))
    grid[0, 2:4] = rng.uniform(5, 20, (2, 20))
    grid[0, 4:7] = rng.uniform(0, 1, (3, 20))
    grid[0, 7] = rng.uniform(-1.5, 1.5, 20)
    nms = {"iou_threshold": 0.7, "confidence_threshold": 0.5, "max_detections": 300}
    found = decode({"type": "yolo_obb", "nms": nms}, [grid])
    assert found and all(len(p["polygon"]) == 4 for p in found)
    view = canvas(qtbot)
    view.show_detections(found)
    polygons = [i for i in view._overlay if i.data(0) == "box"]
    assert len(polygons) == len(found)
    first = polygons[0].polygon()
    assert [(round(first[k].x(), 3), round(first[k].y(), 3)) for k in range(4)] == [
        (round(x, 3), round(y, 3)) for x, y in found[0]["polygon"]]


def test_semantic_segments_tint_the_image_in_their_class_colour(qtbot: QtBot) -> None:
    logits = np.zeros((1, 3, 16, 16), np.float32)
    logits[0, 0, :, :8] = 5.0
    logits[0, 2, :, 8:] = 5.0
    found = decode({"type": "semantic_logits"}, [logits], masks=True)
    assert {p["class_id"] for p in found} == {0, 2}
    view = canvas(qtbot)
    view.show_detections(found)
    masks = [i for i in view._overlay if i.data(0) == "mask"]
    assert len(masks) == 1
    image = masks[0].pixmap().toImage()
    left, right = image.pixelColor(10, 64), image.pixelColor(118, 64)
    assert left.alpha() > 0 and right.alpha() > 0 and left.rgb() != right.rgb()


def test_keypoints_are_dots_and_hidden_ones_are_left_out(qtbot: QtBot) -> None:
    pose = {"class_id": 0, "class_name": "c0", "confidence": 0.9, "bbox": [10, 10, 60, 60],
            "keypoints": [[20.0, 20.0, 0.9], [30.0, 30.0, 0.1], [40.0, 40.0, 0.8]]}
    view = canvas(qtbot)
    view.show_detections([pose])
    dots = [i for i in view._overlay if type(i).__name__ == "QGraphicsEllipseItem"]
    assert len(dots) == 2
