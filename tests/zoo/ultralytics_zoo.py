"""Ultralytics families: every (version, task) with a model yaml in Ultralytics, plus RT-DETR.

Each checkpoint is ``YOLO(yaml)`` (``RTDETR(yaml)``) with random weights brought to life
(tests/zoo/weights.py: random norms, batch norms calibrated on real photos) and class
biases set so a real photo gives a handful of confident boxes, then ``.save()``d, the
file users get from training. Exports run at ``--imgsz 160`` to stay fast on 2 cores.

The framework's own pipeline is ``YOLO(checkpoint).predict(image, imgsz=160, rect=False)``
(the fixed square input every exported model has; NMS-free heads with ``nms=False``,
the branch the export takes), its results put in the wrapper's prediction shape.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from tests.zoo import Family
from tests.zoo.weights import calibrate_batch_norms, photos, randomize_norms, reproducible

IMGSZ = 160
# the smallest scale of each version that has the task's yaml (ultralytics/cfg/models/)
MODELS: dict[str, dict[str, str]] = {
    "yolov8": {"detect": "yolov8n.yaml", "segment": "yolov8n-seg.yaml", "pose": "yolov8n-pose.yaml",
               "obb": "yolov8n-obb.yaml", "classify": "yolov8n-cls.yaml"},
    "yolov9": {"detect": "yolov9t.yaml", "segment": "yolov9c-seg.yaml"},
    "yolov10": {"detect": "yolov10n.yaml"},
    "yolo11": {"detect": "yolo11n.yaml", "segment": "yolo11n-seg.yaml", "pose": "yolo11n-pose.yaml",
               "obb": "yolo11n-obb.yaml", "classify": "yolo11n-cls.yaml"},
    "yolo12": {"detect": "yolo12n.yaml", "segment": "yolo12n-seg.yaml", "pose": "yolo12n-pose.yaml",
               "obb": "yolo12n-obb.yaml", "classify": "yolo12n-cls.yaml"},
    "yolo26": {"detect": "yolo26n.yaml", "segment": "yolo26n-seg.yaml", "pose": "yolo26n-pose.yaml",
               "obb": "yolo26n-obb.yaml", "classify": "yolo26n-cls.yaml"},
    "rtdetr": {"detect": "rtdetr-l.yaml"},
}
NMS_FREE = ("yolov10", "yolo26")  # heads with a one-to-one branch: exported without NMS
SLICE = {("yolo26", "detect"), ("yolo11", "obb"), ("rtdetr", "detect")}
DETECTIONS_PER_PHOTO = 6  # at most about this many boxes above 0.3 on most photos


def _letterboxed(size: int, task: str) -> Any:
    import torch
    from ultralytics.data.augment import LetterBox

    letterbox = LetterBox((size, size), auto=False)
    batch = np.stack([letterbox(image=rgb).transpose(2, 0, 1) for rgb in photos(task)])
    return torch.from_numpy(batch.astype(np.float32) / 255.0)


def _class_heads(head: Any) -> list[tuple[str, Any]]:
    """(branch, final class layers) of a YOLO head: cv3 (one-to-many), one2one_cv3 (NMS-free);
    RT-DETR's decoder score heads."""
    if hasattr(head, "dec_score_head"):
        return [("rtdetr", [*head.dec_score_head, head.enc_score_head])]
    branches = [("grid", [seq[-1] for seq in head.cv3])]
    if getattr(head, "one2one_cv3", None) is not None:
        branches.append(("end2end", [seq[-1] for seq in head.one2one_cv3]))
    return branches


def _scores(net: Any, batch: Any, branch: str) -> Any:
    """(images, candidates) confidence scores of one branch of the head."""
    import torch

    if branch == "end2end":
        net.end2end = True
    elif hasattr(net, "end2end"):
        net.end2end = False
    with torch.no_grad():
        out = net(batch)
    out = out[0] if isinstance(out, tuple) else out
    out = out[0] if isinstance(out, (tuple, list)) else out
    if branch in ("end2end", "rtdetr"):
        return out[:, :, 4]
    nc = net.model[-1].nc
    return out[:, 4 : 4 + nc].flatten(1)


def _shape_box_heads(head: Any) -> None:
    """Boxes of a few strides, as trained heads give: random box layers predict distances of
    half the image or more, every box then clips to the whole image and many coincide."""
    import torch

    reg_max = int(getattr(head, "reg_max", 1))
    for name in ("cv2", "one2one_cv2"):
        for seq in getattr(head, name, None) or []:
            layer = seq[-1]
            layer.weight.data *= 0.3
            if reg_max > 1:  # DFL: each side's bins favour the first few (two or three strides)
                bins = torch.arange(reg_max, dtype=layer.bias.dtype)
                layer.bias.data = (-0.35 * bins).repeat(layer.bias.numel() // reg_max)
            else:  # distances in strides, directly
                layer.bias.data.fill_(2.5)


def _gray_features(net: Any, layers: list[Any], branch: str, size: int) -> list[Any]:
    """What each final class layer sees in the middle of a uniformly grey (114) image."""
    import torch

    seen: list[Any] = [None] * len(layers)

    def hook(index: int) -> Any:
        def keep(module: Any, inputs: tuple[Any, ...], output: Any) -> None:
            x = inputs[0]
            seen[index] = x[0, :, x.shape[2] // 2, x.shape[3] // 2].clone() if x.ndim == 4 else None
        return keep

    handles = [layer.register_forward_hook(hook(i)) for i, layer in enumerate(layers)]
    try:
        _scores(net, torch.full((1, 3, size, size), 114 / 255), branch)
    finally:
        for handle in handles:
            handle.remove()
    return seen


def _set_class_biases(net: Any, batch: Any) -> None:
    """Shift each branch's class biases so a typical photo has a few confident boxes
    (random initialisation leaves every score near 0.0001)."""
    import torch

    head = net.model[-1]
    for branch, layers in _class_heads(head):
        gray = _gray_features(net, layers, branch, batch.shape[-1])
        for layer, feature in zip(layers, gray, strict=True):
            # class weights orthogonal to what the letterbox's grey padding looks like: a
            # trained head does not fire on padding, and these heads then score it sigmoid(bias)
            weight = layer.weight.data.reshape(layer.weight.shape[0], -1)
            if feature is not None and weight.shape[1] == feature.numel():
                weight -= (weight @ feature)[:, None] * feature[None, :] / feature.dot(feature)
            layer.bias.data.zero_()
        scores = _scores(net, batch, branch).clamp(1e-6, 1 - 1e-6)
        logits = torch.log(scores / (1 - scores))
        # most photos get at most a few boxes: dense overlapping boxes make NMS decisions that
        # sit on the IoU threshold, where a rounding difference flips them
        kth = logits.topk(DETECTIONS_PER_PHOTO, dim=1).values[:, -1].quantile(0.8)
        shift = float(np.log(0.3 / 0.7) - kth)
        for layer in layers:
            layer.bias.data += shift
    if hasattr(net, "end2end"):
        net.end2end = False


def build_checkpoint(yaml: str, folder: Path, seed: int = 0) -> Path:
    """A random-weight Ultralytics checkpoint that behaves like a trained one on photos."""
    from exporters.offline import configure_offline

    folder.mkdir(parents=True, exist_ok=True)
    configure_offline(folder / "cache")
    from ultralytics import RTDETR, YOLO

    with reproducible(seed):
        model = RTDETR(yaml) if yaml.startswith("rtdetr") else YOLO(yaml)
        net = model.model.float()
        randomize_norms(net, seed)
        batch = _letterboxed(IMGSZ, "classify" if yaml.endswith("-cls.yaml") else "detect")
        calibrate_batch_norms(net, batch)
        if not yaml.endswith("-cls.yaml"):
            if not yaml.startswith("rtdetr"):
                _shape_box_heads(net.model[-1])
            _set_class_biases(net, batch)
    path = folder / yaml.replace(".yaml", ".pt")
    model.save(str(path))
    return path


@cache
def _model(checkpoint: Path) -> Any:
    from ultralytics import YOLO

    return YOLO(str(checkpoint))


def _masks(result: Any, shape: tuple[int, int]) -> list[np.ndarray]:
    """Ultralytics' instance masks (input resolution) scaled to the original image."""
    from ultralytics.utils import ops

    if result.masks is None:
        return []
    scaled = ops.scale_masks(result.masks.data[None].float(), shape)[0]
    return [m.numpy() > 0.5 for m in scaled]


def framework_predict(checkpoint: Path, rgb: np.ndarray, conf: float, task: str,
                      nms_free: bool) -> list[dict[str, Any]]:
    """Ultralytics' own predict on an RGB image, in the wrapper's prediction shape."""
    model = _model(checkpoint)
    kwargs: dict[str, Any] = {"conf": conf, "imgsz": IMGSZ, "rect": False, "verbose": False}
    if nms_free:
        kwargs["nms"] = False
    result = model.predict(np.ascontiguousarray(rgb[:, :, ::-1]), **kwargs)[0]  # Ultralytics takes BGR
    names = result.names
    if task == "classify":
        probs = result.probs.data.numpy()
        top = np.argsort(-probs, kind="stable")[:5]
        return [{"class_id": int(i), "class_name": names[int(i)], "confidence": float(probs[i])} for i in top]
    if task == "obb":
        obb = result.obb
        return [{"class_id": int(c), "class_name": names[int(c)], "confidence": float(s), "bbox": b.tolist(),
                 "rbox": r.tolist(), "polygon": p.tolist()}
                for c, s, b, r, p in zip(obb.cls.numpy(), obb.conf.numpy(), obb.xyxy.numpy(),
                                         obb.xywhr.numpy(), obb.xyxyxyxy.numpy(), strict=True)]
    boxes = result.boxes
    found = [{"class_id": int(c), "class_name": names[int(c)], "confidence": float(s), "bbox": b.tolist()}
             for c, s, b in zip(boxes.cls.numpy(), boxes.conf.numpy(), boxes.xyxy.numpy(), strict=True)]
    if task == "pose" and result.keypoints is not None:
        for item, kpts in zip(found, result.keypoints.data.numpy(), strict=True):
            item["keypoints"] = kpts.tolist()
    if task == "segment":
        for item, mask in zip(found, _masks(result, rgb.shape[:2]), strict=True):
            item["mask"] = mask
    # Ultralytics keeps boxes that lie wholly in the letterbox padding (clipped to zero area);
    # the wrapper drops them: they cover no pixel of the image
    return [p for p in found if p["bbox"][2] > p["bbox"][0] and p["bbox"][3] > p["bbox"][1]]


def _family(version: str, task: str, yaml: str) -> Family:
    nms_free = version in NMS_FREE
    head = "NMS-free head" if nms_free else ("set prediction" if version == "rtdetr" else "")
    return Family(
        name=f"ultralytics/{yaml.removesuffix('.yaml')}",
        library="ultralytics",
        task=task,
        build=lambda folder: build_checkpoint(yaml, folder),
        export_args=("--imgsz", str(IMGSZ)),
        framework_predict=lambda ckpt, rgb, conf: framework_predict(ckpt, rgb, conf, task, nms_free),
        in_slice=(version, task) in SLICE,
        note=", ".join(p for p in (head, f"imgsz {IMGSZ}") if p),
    )


FAMILIES: list[Family] = [_family(version, task, yaml)
                          for version, tasks in MODELS.items() for task, yaml in tasks.items()]
