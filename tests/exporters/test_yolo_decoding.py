"""The wrapper's YOLO decoder against Ultralytics' own post-processing, on random outputs.

Every case builds a raw output the way the model lays it out (the anchor grid, or the
rows of an NMS-free head / RT-DETR) and compares what ``Postprocessor.decode`` returns
with Ultralytics' functions: ``non_max_suppression`` (plain, rotated and end-to-end),
``batch_probiou``, ``TorchNMS.fast_nms``, ``xywhr2xyxyxyxy``, ``scale_boxes``,
``scale_coords``, ``process_mask`` and ``scale_masks``. No model runs: these are fast.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from core.inference import wrapper_module

NC = 3
SIZE = 160  # the model's input, square
ORIGINAL = (240, 320)  # the image's height, width: letterboxed into SIZE x SIZE
CONF, IOU = 0.25, 0.7


@pytest.fixture(scope="module")
def ops() -> Any:
    torch = pytest.importorskip("torch")
    from ultralytics.utils import metrics, nms, ops

    return type("Ultralytics", (), {"torch": torch, "nms": nms, "ops": ops, "metrics": metrics})


def letterbox_transform(shape: tuple[int, int] = ORIGINAL, size: int = SIZE) -> dict[str, float]:
    """The preprocessing transform of Ultralytics' LetterBox (what scale_boxes inverts)."""
    h, w = shape
    gain = min(size / h, size / w)
    new_w, new_h = round(w * gain), round(h * gain)
    return {"gain_x": new_w / w, "gain_y": new_h / h, "pad_x": round((size - new_w) / 2 - 0.1),
            "pad_y": round((size - new_h) / 2 - 0.1), "width": size, "height": size}


def postprocessor(kind: str, **extra: Any) -> Any:
    spec = {"type": kind, "nms": {"iou_threshold": IOU, "confidence_threshold": CONF, "max_detections": 300},
            **extra}
    return wrapper_module().Postprocessor(spec, [{"id": i, "name": f"c{i}"} for i in range(NC)])


def random_grid(rng: np.random.Generator, anchors: int, extras: np.ndarray | None = None) -> np.ndarray:
    """(1, 4 + NC + extras, anchors): clustered boxes (so NMS has work) and sparse confident scores."""
    centres = rng.uniform(20, SIZE - 20, (8, 2))
    pick = rng.integers(0, len(centres), anchors)
    xy = centres[pick] + rng.normal(0, 4, (anchors, 2))
    wh = rng.uniform(8, 50, (anchors, 2))
    scores = rng.uniform(0, 0.3, (anchors, NC)) ** 2
    scores[rng.random(anchors) < 0.3] += rng.uniform(0.2, 0.7, (1, NC))
    parts = [xy, wh, scores.clip(0, 1)] + ([] if extras is None else [extras])
    return np.concatenate(parts, axis=1).T[None].astype(np.float32)


def test_probiou_and_corners_match_ultralytics(ops: Any) -> None:
    module = wrapper_module()
    rng = np.random.default_rng(0)
    a = np.concatenate([rng.uniform(0, 100, (40, 2)), rng.uniform(1, 40, (40, 2)),
                        rng.uniform(-math.pi / 4, 3 * math.pi / 4, (40, 1))], axis=1)
    b = a[rng.permutation(40)] + rng.normal(0, 3, a.shape)
    b[:, 2:4] = np.abs(b[:, 2:4]) + 1
    expected = ops.metrics.batch_probiou(ops.torch.from_numpy(a), ops.torch.from_numpy(b)).numpy()
    ours = module.probiou(a, b)
    assert ours.shape == (40, 40)
    np.testing.assert_allclose(ours, expected, atol=1e-6)
    assert (ours > 0.5).sum() > 0 and (ours < 0.1).sum() > 0  # the boxes do overlap and do not
    np.testing.assert_allclose(module.xywhr_corners(a), ops.ops.xywhr2xyxyxyxy(a), atol=1e-9)


def test_rotated_nms_is_ultralytics_fast_nms(ops: Any) -> None:
    module = wrapper_module()
    rng = np.random.default_rng(1)
    boxes = np.concatenate([rng.uniform(0, 60, (300, 2)), rng.uniform(5, 30, (300, 2)),
                            rng.uniform(-0.7, 2.3, (300, 1))], axis=1)
    scores = rng.random(300)
    expected = ops.nms.TorchNMS.fast_nms(ops.torch.from_numpy(boxes), ops.torch.from_numpy(scores), 0.3,
                                         iou_func=ops.metrics.batch_probiou).numpy()
    for block in (1024, 7):  # blocks give the same answer as one matrix
        kept = module.rotated_nms(boxes, scores, 0.3, block=block)
        assert kept.tolist() == expected.tolist()
    assert 0 < len(expected) < 300


def _reference(ops: Any, raw: np.ndarray, **kwargs: Any) -> np.ndarray:
    out = ops.nms.non_max_suppression(ops.torch.from_numpy(raw), CONF, IOU, max_det=300, **kwargs)
    return np.asarray(out[0].numpy())


def test_detect_grid_matches_non_max_suppression(ops: Any) -> None:
    raw = random_grid(np.random.default_rng(2), 525)
    t = letterbox_transform()
    ref = _reference(ops, raw.copy())
    ref[:, :4] = ops.ops.scale_boxes((SIZE, SIZE), ops.torch.from_numpy(ref[:, :4]), ORIGINAL).numpy()
    ours = postprocessor("yolo_detect").decode([raw], t, ORIGINAL)
    assert 5 < len(ours) == len(ref) < (raw[0, 4 : 4 + NC].max(axis=0) > CONF).sum()  # NMS dropped some
    np.testing.assert_allclose([p["bbox"] for p in ours], ref[:, :4], atol=1e-3)
    assert [p["class_id"] for p in ours] == ref[:, 5].astype(int).tolist()
    np.testing.assert_allclose([p["confidence"] for p in ours], ref[:, 4], atol=1e-6)


def test_obb_grid_matches_rotated_nms_and_scaling(ops: Any) -> None:
    rng = np.random.default_rng(3)
    angles = rng.uniform(-math.pi / 4, 3 * math.pi / 4, (525, 1))
    raw = random_grid(rng, 525, angles)
    t = letterbox_transform()
    ref = _reference(ops, raw.copy(), nc=NC, rotated=True)  # rows: cx, cy, w, h, conf, cls, angle
    rboxes = np.concatenate([ref[:, :4], ref[:, -1:]], axis=1)
    rboxes[:, :4] = ops.ops.scale_boxes((SIZE, SIZE), ops.torch.from_numpy(rboxes[:, :4].copy()), ORIGINAL,
                                        xywh=True).numpy()
    corners = ops.ops.xywhr2xyxyxyxy(rboxes)
    ours = postprocessor("yolo_obb").decode([raw], t, ORIGINAL)
    assert 5 < len(ours) == len(ref) < (raw[0, 4 : 4 + NC].max(axis=0) > CONF).sum()  # NMS dropped some
    assert [p["class_id"] for p in ours] == ref[:, 5].astype(int).tolist()
    np.testing.assert_allclose([p["rbox"] for p in ours], rboxes, atol=1e-3)
    np.testing.assert_allclose([p["polygon"] for p in ours], corners, atol=1e-3)
    bounds = np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=1)
    np.testing.assert_allclose([p["bbox"] for p in ours], bounds, atol=1e-3)


def test_pose_grid_keypoints_match_scale_coords(ops: Any) -> None:
    rng = np.random.default_rng(4)
    kpts = np.concatenate([rng.uniform(0, SIZE, (525, 17, 2)), rng.random((525, 17, 1))], axis=2)
    raw = random_grid(rng, 525, kpts.reshape(525, -1))
    ref = _reference(ops, raw.copy(), nc=NC)
    expected = ops.ops.scale_coords((SIZE, SIZE), ops.torch.from_numpy(ref[:, 6:].reshape(-1, 17, 3).copy()),
                                    ORIGINAL).numpy()
    ours = postprocessor("yolo_pose", keypoint_shape=[17, 3]).decode([raw], letterbox_transform(), ORIGINAL)
    assert 5 < len(ours) == len(ref)
    np.testing.assert_allclose([p["keypoints"] for p in ours], expected, atol=1e-3)


def _segment_reference(ops: Any, rows: np.ndarray, protos: np.ndarray) -> np.ndarray:
    """Ultralytics' default masks (process_mask at the input size) scaled to the original image."""
    torch = ops.torch
    masks = ops.ops.process_mask(torch.from_numpy(protos[0]), torch.from_numpy(rows[:, 6:].copy()),
                                 torch.from_numpy(rows[:, :4].copy()), (SIZE, SIZE), upsample=True)
    return np.asarray(ops.ops.scale_masks(masks[None].float(), ORIGINAL)[0].numpy() > 0.5)


@pytest.mark.parametrize("head", ["grid", "end2end"])
def test_segment_masks_match_process_mask(ops: Any, head: str) -> None:
    rng = np.random.default_rng(5)
    protos = rng.normal(0, 1, (1, 32, SIZE // 4, SIZE // 4)).astype(np.float32)
    coefs = rng.normal(0, 1, (525, 32))
    raw = random_grid(rng, 525, coefs)
    if head == "grid":
        rows = _reference(ops, raw.copy(), nc=NC)
        post = postprocessor("yolo_segment", mask_prototypes=32)
        outputs = [raw, protos]
    else:
        rows = _end2end_rows(raw, extras=32)
        post = postprocessor("yolo_end2end", decoded_type="yolo_end2end", mask_prototypes=32)
        outputs = [rows[None], protos]
        rows = rows[rows[:, 4] > CONF]
    expected = _segment_reference(ops, rows, protos)
    ours = post.decode(outputs, letterbox_transform(), ORIGINAL, masks=True)
    assert 5 < len(ours) == len(expected)
    for prediction, mask in zip(ours, expected, strict=True):
        assert prediction["mask"].shape == ORIGINAL and prediction["mask"].dtype == bool
        agree = (prediction["mask"] == mask).mean()
        assert agree > 0.999, agree
    assert sum(int(p["mask"].sum()) for p in ours) > 1000  # the masks are not empty


def _end2end_rows(grid: np.ndarray, extras: int, obb: bool = False) -> np.ndarray:
    """What an NMS-free head returns: top-300 (anchor, class) rows, box, score, class, extras."""
    pred = grid[0].T
    boxes, scores, extra = pred[:, :4].copy(), pred[:, 4 : 4 + NC], pred[:, 4 + NC :]
    if not obb:  # the end-to-end head decodes x1, y1, x2, y2
        boxes = np.concatenate([boxes[:, :2] - boxes[:, 2:] / 2, boxes[:, :2] + boxes[:, 2:] / 2], axis=1)
    flat = scores.reshape(-1)
    top = np.argsort(-flat, kind="stable")[:300]
    anchor, cls = top // NC, top % NC
    return np.concatenate([boxes[anchor], flat[top, None], cls[:, None], extra[anchor]], axis=1).astype(
        np.float32)


@pytest.mark.parametrize("task", ["detect", "pose", "obb"])
def test_end2end_rows_match_ultralytics(ops: Any, task: str) -> None:
    rng = np.random.default_rng(6)
    extras = {"detect": None, "pose": rng.uniform(0, SIZE, (525, 17 * 3)),
              "obb": rng.uniform(-0.7, 2.3, (525, 1))}[task]
    rows = _end2end_rows(random_grid(rng, 525, extras), 0 if extras is None else extras.shape[1],
                         obb=task == "obb")
    ref = _reference(ops, rows[None].copy(), end2end=True)  # confidence filter, order kept
    t = letterbox_transform()
    extras_of: dict[str, dict[str, Any]] = {"pose": {"keypoint_shape": [17, 3]},
                                            "obb": {"box_format": "xywhr"}}
    extra = extras_of.get(task, {})
    ours = postprocessor("yolo_end2end", decoded_type="yolo_end2end", **extra).decode([rows[None]], t,
                                                                                        ORIGINAL)
    assert 5 < len(ours) == len(ref)
    assert [p["class_id"] for p in ours] == ref[:, 5].astype(int).tolist()
    np.testing.assert_allclose([p["confidence"] for p in ours], ref[:, 4], atol=1e-6)
    torch = ops.torch
    if task == "obb":
        rboxes = np.concatenate([ref[:, :4], ref[:, -1:]], axis=1)
        rboxes[:, :4] = ops.ops.scale_boxes((SIZE, SIZE), torch.from_numpy(rboxes[:, :4].copy()), ORIGINAL,
                                            xywh=True).numpy()
        np.testing.assert_allclose([p["rbox"] for p in ours], rboxes, atol=1e-3)
        return
    boxes = ops.ops.scale_boxes((SIZE, SIZE), torch.from_numpy(ref[:, :4].copy()), ORIGINAL).numpy()
    np.testing.assert_allclose([p["bbox"] for p in ours], boxes, atol=1e-3)
    if task == "pose":
        kpts = ops.ops.scale_coords((SIZE, SIZE), torch.from_numpy(ref[:, 6:].reshape(-1, 17, 3).copy()),
                                    ORIGINAL).numpy()
        np.testing.assert_allclose([p["keypoints"] for p in ours], kpts, atol=1e-3)


def test_rtdetr_rows_match_its_predictor(ops: Any) -> None:
    """Ultralytics RT-DETR: rows of normalized cx, cy, w, h, score, class after a plain resize;
    its predictor scales them by the original size (RTDETRPredictor.postprocess)."""
    rng = np.random.default_rng(7)
    rows = np.concatenate([rng.uniform(0.1, 0.9, (300, 2)), rng.uniform(0.02, 0.3, (300, 2)),
                           np.sort(rng.random(300))[::-1, None], rng.integers(0, NC, (300, 1))], axis=1)
    h, w = ORIGINAL
    t = {"gain_x": SIZE / w, "gain_y": SIZE / h, "pad_x": 0, "pad_y": 0, "width": SIZE, "height": SIZE}
    post = postprocessor("yolo_end2end", decoded_type="yolo_end2end", box_format="xywh", normalized=True)
    ours = post.decode([rows[None].astype(np.float32)], t, ORIGINAL)
    keep = rows[rows[:, 4] > CONF]
    expected = ops.ops.xywh2xyxy(keep[:, :4]) * np.asarray([w, h, w, h])
    assert 5 < len(ours) == len(keep)
    np.testing.assert_allclose([p["bbox"] for p in ours], expected.clip(0, [w, h, w, h]), atol=1e-3)
    assert [p["class_id"] for p in ours] == keep[:, 5].astype(int).tolist()


def test_align_rows_pairs_reordered_rows_and_keeps_real_differences() -> None:
    """The parity gate compares top-k rows after pairing them: two runtimes order rows with
    near-equal scores differently (an NMS-free head's top-k), which is not a difference."""
    from core.parity import align_rows

    rng = np.random.default_rng(8)
    rows = _end2end_rows(random_grid(rng, 525), 0)[None]
    swapped = rows.copy()
    swapped[0, [10, 11, 40, 41]] = rows[0, [11, 10, 41, 40]]
    assert np.abs(swapped - rows).max() > 1  # row by row, a swap looks like a wrong box
    np.testing.assert_array_equal(align_rows(rows, swapped), rows)
    moved = swapped.copy()
    moved[0, 5, 0] += 3.0  # a box that really moved still differs after pairing
    assert np.abs(align_rows(rows, moved) - rows).max() == pytest.approx(3.0)


def test_a_row_only_one_run_selected_is_left_out_of_the_raw_comparison_but_many_are_not() -> None:
    """RT-DETR picks its queries with a top-k: at the cut, two near-equal scores round either
    way, so one run holds a query the other does not (seen on the zoo's rtdetr-l, all boxes
    agreeing). That row is counted and left out of the raw comparison; a handful more is a
    divergence and is compared as it is."""
    from core.compare import output_error
    from core.parity import SelectionTies, align_rows

    rng = np.random.default_rng(3)
    rows = _end2end_rows(random_grid(rng, 525), 0)[None]
    exported = rows.copy()
    exported[0, 120] = rows[0, 120] + [40.0, -30.0, 5.0, 5.0, -0.2, 0.0]  # another query
    ties = SelectionTies(1e-4, 1e-3)
    keep = ties.keep(rows, align_rows(rows, exported))
    assert ties.rows == 1 and int((~keep).sum()) == 1
    assert "1 row(s)" in (ties.note() or "")
    quiet = SelectionTies.silenced(rows, keep)  # nor is its box compared: it scores 0 in both runs
    assert quiet[0, 120, 4] == 0
    assert np.array_equal(np.delete(quiet, 120, axis=1), np.delete(rows, 120, axis=1))
    assert rows[0, 120, 4] > 0  # the input is left as it was
    diff, within, note = output_error([rows], [exported], "yolo_end2end", (1e-4, 1e-3))
    assert within is True and diff is not None and diff < 1e-6 and note
    many = rows.copy()
    many[0, 100:110, 0] += 25.0  # ten boxes moved: not a tie at the cut
    diff, within, note = output_error([rows], [many], "yolo_end2end", (1e-4, 1e-3))
    assert within is False and diff is not None and diff > 10 and note is None
    assert output_error([rows], [exported], "yolo_end2end", None)[1] is None  # INT8: not judged
