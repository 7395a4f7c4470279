"""Raw output tensors for every postprocessing type and variant of metadata.json, each with
the metadata section that decodes it, to hand to two wrappers' post-processing.

Real ones come from random-weight models built from the libraries' own configurations, as
tests/zoo/ builds them: Ultralytics YOLO26 detect / obb / segment / pose (the NMS-free
one-to-one rows and the one-to-many anchor grid of the same head, and rows from Ultralytics'
own NMS as a graph with NMS embedded gives them), Ultralytics RT-DETR, and transformers' DETR,
RT-DETR and SegFormer, each run on a real photo through the Python wrapper's preprocessing.
Random arrays shaped like them cover what real models rarely reach: the MAX_NMS cap, a
Fast-NMS chain, class-agnostic NMS, the max_detections cap, boxes in the letterbox padding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from core.inference import wrapper_module
from core.metadata import (
    Classification,
    Nms,
    Preprocessing,
    SemanticLogits,
    SetPrediction,
    YoloGrid,
    YoloRows,
)

W = wrapper_module()
IMGSZ = 160  # the zoo's Ultralytics input size
LETTERBOX: list[dict[str, Any]] = [
    {"op": "resize", "mode": "fit", "size": [IMGSZ, IMGSZ], "rule": "round", "antialias": False},
    {"op": "pad", "size": [IMGSZ, IMGSZ], "position": "center", "fill": [114, 114, 114]}]
PLAIN = {"scale": 1 / 255, "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}
IMAGENET = {"scale": 1 / 255, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
HF_LABELS = ["person", "bicycle", "car", "cat", "dog", "bird", "boat", "chair", "bottle", "plant"]


@dataclass
class Case:
    name: str
    post: dict[str, Any]  # metadata.json's postprocessing section, as the loaders write it
    outputs: list[np.ndarray]  # float32, batch of one
    transform: dict[str, float]  # tensor -> image, with the tensor's width and height
    shape: tuple[int, int]  # the original image's height and width
    classes: list[str]
    steps: list[dict[str, Any]] = field(default_factory=lambda: LETTERBOX)
    conf: float | None = None  # None: metadata's default
    iou: float | None = None
    at_least: int = 1  # the reference finds at least this many predictions
    keys: frozenset[str] = frozenset()  # and every one of them carries these
    exactly: int | None = None  # the reference finds exactly this many (a cap or rule at work)

    def metadata(self) -> dict[str, Any]:
        return {"model_info": {"task": "detect"}, "input_spec": {"dtype": "float32", "format": "NCHW"},
                "preprocessing": {"steps": self.steps, "normalize": PLAIN, "source": "test"},
                "postprocessing": self.post, "output_spec": {"outputs": [
                    {"name": f"output{i}", "shape": list(o.shape)} for i, o in enumerate(self.outputs)]},
                "classes": [{"id": i, "name": n} for i, n in enumerate(self.classes)]}

    def reference(self, masks: bool = True) -> list[dict[str, Any]]:
        """The Python wrapper's predictions (the reference)."""
        post = W.Postprocessor(self.post, self.metadata()["classes"])
        return list(post.decode(self.outputs, self.transform, self.shape, self.conf, self.iou, masks=masks))


def dump(model: Any) -> dict[str, Any]:
    return dict(model.model_dump(mode="json", exclude_none=True))


def nms(**overrides: Any) -> Nms:
    settings: dict[str, Any] = {"iou_threshold": 0.7, "confidence_threshold": 0.25, "max_detections": 300}
    return Nms(**{**settings, **overrides})


def preprocess(photo: np.ndarray, steps: list[dict[str, Any]], normalize: dict[str, Any]
               ) -> tuple[np.ndarray, dict[str, float]]:
    section = Preprocessing.model_validate({"steps": steps, "normalize": normalize, "source": "test"})
    pre = W.Preprocessor(section.model_dump(mode="json", exclude_none=True),
                         {"dtype": "float32", "format": "NCHW"})
    tensor, transform = pre(photo)
    return tensor, dict(transform)


def photo(name: str) -> np.ndarray:
    from skimage import data

    rgb = getattr(data, name)()
    return np.ascontiguousarray(rgb[:, :, :3])


def between(scores: np.ndarray, n: int) -> float:
    """A threshold with exactly n scores above it, halfway to the next one (no score sits on it)."""
    ranked = np.sort(np.asarray(scores, dtype=np.float64).ravel())[::-1]
    assert ranked[n - 1] > ranked[n], f"scores {n} and {n + 1} tie: the data is degenerate"
    return float((ranked[n - 1] + ranked[n]) / 2)


def _numpy(outputs: Any) -> list[np.ndarray]:
    first = outputs[0] if isinstance(outputs, tuple) else outputs
    items = list(first) if isinstance(first, (list, tuple)) else [first]
    return [np.ascontiguousarray(t.detach().numpy(), dtype=np.float32) for t in items]


# --- Ultralytics ----------------------------------------------------------------------

GridType = Literal["yolo_detect", "yolo_segment", "yolo_pose", "yolo_obb"]
GRID_TYPES: dict[str, GridType] = {"detect": "yolo_detect", "obb": "yolo_obb", "segment": "yolo_segment",
                                   "pose": "yolo_pose"}
YOLO26 = {"detect": "yolo26n.yaml", "obb": "yolo26n-obb.yaml", "segment": "yolo26n-seg.yaml",
          "pose": "yolo26n-pose.yaml"}


def _extras(task: str) -> dict[str, Any]:
    extras: dict[str, dict[str, Any]] = {"pose": {"keypoint_shape": [17, 3]},
                                         "segment": {"mask_prototypes": 32}}
    return extras.get(task, {})


def _keys(task: str) -> frozenset[str]:
    keys = {"obb": {"rbox", "polygon"}, "pose": {"keypoints"}, "segment": {"mask"}}
    return frozenset(keys.get(task, set()))


def ultralytics_cases(folder: Path) -> list[Case]:
    """YOLO26 heads (random weights brought to life as tests/zoo/ does it: random norms, batch
    norms calibrated and class biases set on the photo itself, box layers shaped) on a real photo:
    the one-to-one rows (yolo_end2end), the one-to-many grid (yolo_<task>, NMS in the wrapper)
    and that grid through Ultralytics' own NMS (yolo_nms), plus Ultralytics RT-DETR's rows
    (normalized cx, cy, w, h) and its decoder's queries as set prediction (boxes first, then
    probabilities: ``max``). Thresholds sit between the scores, so each case keeps a known
    number of candidates."""
    import torch
    from ultralytics import RTDETR, YOLO
    from ultralytics.utils.nms import non_max_suppression

    from tests.zoo.ultralytics_zoo import _set_class_biases, _shape_box_heads
    from tests.zoo.weights import calibrate_batch_norms, randomize_norms, reproducible

    rgb = photo("chelsea")  # 300 x 451: a letterbox with padding above and below
    tensor, t = preprocess(rgb, LETTERBOX, PLAIN)
    x = torch.from_numpy(tensor)
    cases = []
    for task, yaml in YOLO26.items():
        with reproducible(0):
            model = YOLO(yaml).model.float()
            randomize_norms(model, 0)
            calibrate_batch_norms(model, x)
            _shape_box_heads(model.model[-1])
            _set_class_biases(model, x)
        model.eval()
        names = [model.names[i] for i in range(len(model.names))]
        grid_type = GRID_TYPES[task]
        box_format: Literal["xyxy", "xywhr"] = "xywhr" if task == "obb" else "xyxy"
        with torch.no_grad():
            model.end2end = True
            rows = _numpy(model(x))
            model.end2end = False
            grid = _numpy(model(x))
        best = grid[0][0, 4 : 4 + len(names)].max(axis=0)
        conf = between(best, 30)
        nmsed = non_max_suppression(torch.from_numpy(grid[0]), conf, 0.7, nc=len(names),
                                    rotated=task == "obb")
        padded = np.zeros((1, 300, nmsed[0].shape[1]), dtype=np.float32)  # an embedded NMS's zero rows
        padded[0, : len(nmsed[0])] = nmsed[0].numpy()
        common: dict[str, Any] = {"transform": t, "shape": rgb.shape[:2], "classes": names,
                                  "keys": _keys(task)}
        end2end = YoloRows(type="yolo_end2end", decoded_type="yolo_end2end", nms=nms(enabled=False),
                           box_format=box_format, **_extras(task))
        cases.append(Case(f"{yaml[:-5]}-end2end", dump(end2end), rows, conf=between(rows[0][0, :, 4], 12),
                          exactly=12 if task != "detect" else None, at_least=8, **common))
        in_graph = YoloRows(type="yolo_nms", decoded_type=grid_type, nms=nms(in_model=True),
                            box_format=box_format, **_extras(task))
        cases.append(Case(f"{yaml[:-5]}-nms-rows", dump(in_graph), [padded, *grid[1:]], conf=conf, **common))
        wrapper_nms = dump(YoloGrid(type=grid_type, decoded_type=grid_type, nms=nms(), **_extras(task)))
        cases.append(Case(f"{yaml[:-5]}-grid", wrapper_nms, grid, conf=conf, **common))
        # many weak, overlapping candidates: NMS decides most of them
        cases.append(Case(f"{yaml[:-5]}-grid-many", wrapper_nms, grid, conf=between(best, 150), iou=0.45,
                          at_least=5, **common))
    cases += _rtdetr_cases(RTDETR, x, t, rgb.shape[:2])
    return cases


def _rtdetr_cases(rtdetr: Any, x: Any, t: dict[str, float], shape: tuple[int, int]) -> list[Case]:
    import torch

    torch.manual_seed(0)
    model = rtdetr("rtdetr-l.yaml").model.float().eval()
    names = [model.names[i] for i in range(len(model.names))]
    with torch.no_grad():
        rows, (boxes, scores, *_) = model(x)
    rows_np = np.ascontiguousarray(rows.numpy(), dtype=np.float32)
    queries = np.concatenate([boxes[-1].numpy(), scores[-1].sigmoid().numpy()], axis=-1).astype(np.float32)
    post = YoloRows(type="yolo_end2end", decoded_type="yolo_end2end", nms=nms(enabled=False),
                    box_format="xywh", normalized=True)
    sets = SetPrediction(scores="max", confidence_threshold=0.5, max_detections=300, boxes_index=None)
    common: dict[str, Any] = {"transform": t, "shape": shape, "classes": names}
    return [Case("rtdetr-l-rows", dump(post), [rows_np], conf=between(rows_np[0, :, 4], 12), **common),
            Case("rtdetr-l-queries-max", dump(sets), [queries], conf=between(queries[0, :, 4:].max(-1), 12),
                 **common)]


# --- transformers -----------------------------------------------------------------------


def _hf_model(model_type: str, architecture: str, config: dict[str, Any]) -> Any:
    import torch
    import transformers

    from tests.zoo.hf import Recipe, _config

    torch.manual_seed(0)
    recipe = Recipe(model_type, "detect", architecture, config)
    return getattr(transformers, architecture)(_config(recipe)).eval()


def transformers_cases() -> list[Case]:
    """DETR (softmax with a no-object class), RT-DETR (sigmoid over queries x classes) and
    SegFormer (per-pixel logits, stretched as transformers does, or mapped back through a
    center crop) on real photos, through the Python wrapper's preprocessing."""
    import torch

    from tests.zoo.hf import _DETR, _RT

    cases = []
    rgb = photo("coffee")  # 400 x 600
    detr_steps: list[dict[str, Any]] = [
        {"op": "resize", "mode": "shortest_edge", "edge": 160, "max_edge": 240, "rule": "detr"}]
    tensor, t = preprocess(rgb, detr_steps, IMAGENET)
    with torch.no_grad():
        out = _hf_model("detr", "DetrForObjectDetection", _DETR)(torch.from_numpy(tensor))
    logits, boxes = out.logits.numpy().astype(np.float32), out.pred_boxes.numpy().astype(np.float32)
    probs = W._softmax(logits[0])[:, :-1].max(-1)
    softmax = dump(SetPrediction(scores="softmax", confidence_threshold=0.5, max_detections=100))
    common: dict[str, Any] = {"transform": t, "shape": rgb.shape[:2], "classes": HF_LABELS,
                              "steps": detr_steps}
    cases.append(Case("detr-softmax", softmax, [logits, boxes], conf=between(probs, 15), **common))
    swapped = dump(SetPrediction(scores="softmax", confidence_threshold=0.5, max_detections=8, scores_index=1,
                                 boxes_index=0))
    cases.append(Case("detr-softmax-swapped-capped", swapped, [boxes, logits], conf=between(probs, 15),
                      exactly=8, **common))

    rt_steps: list[dict[str, Any]] = [{"op": "resize", "mode": "exact", "size": [160, 160]}]
    tensor, t = preprocess(rgb, rt_steps, PLAIN)
    with torch.no_grad():
        out = _hf_model("rt_detr", "RTDetrForObjectDetection", _RT)(torch.from_numpy(tensor))
    logits, boxes = out.logits.numpy().astype(np.float32), out.pred_boxes.numpy().astype(np.float32)
    sig = W._sigmoid(logits[0])
    common = {"transform": t, "shape": rgb.shape[:2], "classes": HF_LABELS, "steps": rt_steps}
    sigmoid = dump(SetPrediction(scores="sigmoid", top_k=100, confidence_threshold=0.5, max_detections=100))
    cases.append(Case("rt_detr-sigmoid", sigmoid, [logits, boxes], conf=between(sig, 20), **common))
    top10 = dump(SetPrediction(scores="sigmoid", top_k=10, confidence_threshold=0.5, max_detections=100))
    cases.append(Case("rt_detr-sigmoid-top10", top10, [logits, boxes], conf=between(sig, 40), exactly=10,
                      **common))

    seg_rgb = photo("astronaut")[:, 60:]  # 512 x 452
    config = {"depths": [1, 1, 1, 1]}
    segformer = _hf_model("segformer", "SegformerForSemanticSegmentation", config)
    semantic: list[tuple[str, list[dict[str, Any]], Literal["inverse", "stretch"]]] = [
        ("segformer-stretch", [{"op": "resize", "mode": "exact", "size": [128, 128]}], "stretch"),
        ("segformer-inverse-crop", [{"op": "resize", "mode": "shortest_edge", "edge": 144},
                                    {"op": "center_crop", "size": [128, 128], "rule": "floor"}], "inverse"),
    ]
    for name, steps, mapping in semantic:
        tensor, t = preprocess(seg_rgb, steps, IMAGENET)
        with torch.no_grad():
            logits = segformer(torch.from_numpy(tensor)).logits.numpy().astype(np.float32)
        cases.append(Case(name, dump(SemanticLogits(mapping=mapping)), [logits], t, seg_rgb.shape[:2],
                          HF_LABELS, steps, at_least=2, keys=frozenset({"area", "mask"})))
    return cases


# --- random arrays ------------------------------------------------------------------------

Maker = Callable[[np.random.Generator], Case]


def _grid(boxes: np.ndarray, scores: np.ndarray, extra: np.ndarray | None = None) -> np.ndarray:
    """(1, 4 + classes + extras, anchors) from per-anchor cx, cy, w, h, class scores, extras."""
    parts = [boxes, scores] + ([extra] if extra is not None else [])
    return np.ascontiguousarray(np.concatenate(parts, axis=1).T[None], dtype=np.float32)


LETTERBOX_WIDE = {"gain_x": 0.25, "gain_y": 0.25, "pad_x": 0.0, "pad_y": 30.0, "width": 160, "height": 160}


def max_nms_cap(rng: np.random.Generator) -> Case:
    """30,000 copies of one box outscore 10,000 separate ones: only the copies reach NMS."""
    high = np.tile([[50.0, 60.0, 30.0, 20.0]], (30000, 1)) + rng.uniform(0, 0.5, (30000, 4))
    low = np.stack([rng.uniform(5, 150, 10000), rng.uniform(35, 125, 10000), np.full(10000, 3.0),
                    np.full(10000, 3.0)], axis=1)
    scores = np.zeros((40000, 2))
    scores[:30000, 0] = rng.uniform(0.8, 0.9, 30000)
    scores[30000:, 1] = rng.uniform(0.4, 0.5, 10000)
    post = dump(YoloGrid(type="yolo_detect", decoded_type="yolo_detect", nms=nms()))
    return Case("random-max-nms-cap", post, [_grid(np.concatenate([high, low]), scores)], LETTERBOX_WIDE,
                (400, 640), ["a", "b"], exactly=1)


def _overlapping(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Clusters of boxes of three classes, shifted a little: NMS has work within and across classes."""
    centers = rng.uniform(20, 140, (count // 6, 2)).repeat(6, axis=0)
    sizes = rng.uniform(10, 40, (len(centers), 2))
    boxes = np.concatenate([centers + rng.normal(0, 3, centers.shape), sizes], axis=1)
    scores = np.zeros((len(boxes), 3))
    scores[np.arange(len(boxes)), rng.integers(0, 3, len(boxes))] = rng.uniform(0.1, 0.95, len(boxes))
    return boxes, scores


def class_agnostic(rng: np.random.Generator) -> Case:
    boxes, scores = _overlapping(rng, 120)
    settings = nms(class_agnostic=True, iou_threshold=0.5)
    post = dump(YoloGrid(type="yolo_detect", decoded_type="yolo_detect", nms=settings))
    return Case("random-class-agnostic", post, [_grid(boxes, scores)], LETTERBOX_WIDE, (400, 640),
                ["a", "b", "c"], at_least=5)


def max_detections(rng: np.random.Generator) -> Case:
    boxes, scores = _overlapping(rng, 120)
    post = dump(YoloGrid(type="yolo_detect", decoded_type="yolo_detect", nms=nms(max_detections=7)))
    return Case("random-max-detections", post, [_grid(boxes, scores)], LETTERBOX_WIDE, (400, 640),
                ["a", "b", "c"], exactly=7)


def letterbox_padding(rng: np.random.Generator) -> Case:
    """Boxes wholly in the padding above the image are dropped; boxes across its edge are clipped."""
    boxes = np.array([[80, 10, 20, 10], [40, 25, 30, 20], [120, 140, 30, 30], [80, 80, 40, 40]],
                     dtype=np.float64)
    scores = np.array([[0.9, 0], [0.8, 0], [0, 0.7], [0, 0.6]])
    post = dump(YoloGrid(type="yolo_detect", decoded_type="yolo_detect", nms=nms()))
    return Case("random-letterbox-padding", post, [_grid(boxes, scores)], LETTERBOX_WIDE, (400, 640),
                ["a", "b"], exactly=3)


CHAIN = np.array([[60, 60, 40, 12, 0.3], [70, 62, 40, 12, 0.35], [80, 64, 40, 12, 0.4]])  # A, B, C


def fast_nms_chain(rng: np.random.Generator) -> Case:
    """A overlaps B and B overlaps C above the threshold, A and C below it: Fast-NMS keeps A only
    (greedy NMS would keep C too), among random rotated boxes of two classes further down."""
    count = 60
    others = np.concatenate([rng.uniform(10, 150, (count, 1)), rng.uniform(100, 150, (count, 1)),
                             rng.uniform(5, 25, (count, 2)), rng.uniform(-0.8, 2.4, (count, 1))], axis=1)
    scores = np.zeros((3 + count, 2))
    scores[:3, 0] = [0.95, 0.9, 0.85]
    scores[3 + np.arange(count), rng.integers(0, 2, count)] = rng.uniform(0.3, 0.8, count)
    boxes = np.concatenate([CHAIN, others])
    post = dump(YoloGrid(type="yolo_obb", decoded_type="yolo_obb", nms=nms(iou_threshold=0.6)))
    grid = _grid(boxes[:, :4], scores, boxes[:, 4:])
    return Case("random-obb-fast-nms-chain", post, [grid], LETTERBOX_WIDE, (400, 640), ["a", "b"], at_least=5,
                keys=frozenset({"rbox", "polygon"}))


def rows_xywh_pose(rng: np.random.Generator) -> Case:
    """Normalized cx, cy, w, h rows with 2-D keypoints, best first, then zero rows."""
    n = 25
    rows = np.zeros((1, 40, 6 + 10), dtype=np.float32)
    rows[0, :n, :2] = rng.uniform(0.1, 0.9, (n, 2))
    rows[0, :n, 2:4] = rng.uniform(0.05, 0.4, (n, 2))
    rows[0, :n, 4] = np.sort(rng.uniform(0.1, 0.99, n))[::-1]
    rows[0, :n, 5] = rng.integers(0, 3, n)
    rows[0, :n, 6:] = rng.uniform(-10, 170, (n, 10))
    post = dump(YoloRows(type="yolo_end2end", decoded_type="yolo_end2end", nms=nms(enabled=False),
                         box_format="xywh", normalized=True, keypoint_shape=[5, 2]))
    return Case("random-rows-xywh-normalized-pose", post, [rows], LETTERBOX_WIDE, (400, 640), ["a", "b", "c"],
                at_least=10, keys=frozenset({"keypoints"}))


def detr_like(rng: np.random.Generator) -> Case:
    """Softmax queries as a trained DETR gives them: "no object" wins most queries (a decoder that
    let it compete would report it); boxes first on the scores' axis (no boxes_index)."""
    queries, classes = 60, 5
    logits = rng.normal(0, 1.5, (queries, classes + 1))
    logits[:, -1] += np.where(rng.uniform(size=queries) < 0.8, 6.0, -2.0)
    boxes = np.concatenate([rng.uniform(0.1, 0.9, (queries, 2)), rng.uniform(0.05, 0.5, (queries, 2))],
                           axis=1)
    scores = np.concatenate([boxes, logits], axis=1)[None].astype(np.float32)
    post = dump(SetPrediction(scores="softmax", confidence_threshold=0.3, max_detections=100,
                              boxes_index=None))
    return Case("random-detr-softmax-boxes-first", post, [scores], LETTERBOX_WIDE, (400, 640),
                ["a", "b", "c", "d", "e"], at_least=5)


def classifiers(rng: np.random.Generator) -> list[Case]:
    logits = rng.normal(0, 3, (1, 1000)).astype(np.float32)
    probs = W._softmax(rng.normal(0, 2, (1, 10))).astype(np.float32)
    names = [f"class{i}" for i in range(1000)]
    return [Case("random-logits", dump(Classification(type="logits", top_k=5)), [logits], LETTERBOX_WIDE,
                 (400, 640), names, exactly=5),
            Case("random-probabilities", dump(Classification(type="probabilities", top_k=3)), [probs],
                 LETTERBOX_WIDE, (400, 640), names[:10], exactly=3)]


def semantic_letterbox(rng: np.random.Generator) -> Case:
    """Smooth random logits at a quarter of a letterboxed input, mapped back through the letterbox."""
    import cv2

    coarse = rng.normal(0, 2, (5, 10, 10)).astype(np.float32)
    logits = np.stack([cv2.resize(c, (40, 40), interpolation=cv2.INTER_CUBIC) for c in coarse])[None]
    return Case("random-semantic-letterbox", dump(SemanticLogits(mapping="inverse")), [logits],
                LETTERBOX_WIDE, (400, 640), ["sky", "road", "tree", "car", "person"], at_least=3,
                keys=frozenset({"area", "mask"}))


def random_cases(seed: int = 0) -> list[Case]:
    rng = np.random.default_rng(seed)
    makers: list[Maker] = [max_nms_cap, class_agnostic, max_detections, letterbox_padding, fast_nms_chain,
                           rows_xywh_pose, detr_like, semantic_letterbox]
    return [make(rng) for make in makers] + classifiers(rng)
