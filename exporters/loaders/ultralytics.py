"""Load an Ultralytics YOLO checkpoint (detect, classify, segment, pose)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import BadInput
from core.spec import ExportSpec
from exporters.loaders.base import LoadedModel, format_section, normalize_section

# Ultralytics' own predict defaults, carried into metadata.json.
CONF, IOU, MAX_DET = 0.25, 0.7, 300


def _imgsz(spec: ExportSpec, train_args: dict[str, Any]) -> int:
    if spec.input_size:
        return spec.input_size
    size = train_args.get("imgsz", 640)
    return int(size[0] if isinstance(size, (list, tuple)) else size)


def _postprocessing(task: str, head: Any, embed_nms: bool) -> dict[str, Any]:
    if task == "classify":
        return {"type": "probabilities", "top_k": 5}
    kind = {"detect": "yolo_detect", "segment": "yolo_segment", "pose": "yolo_pose"}[task]
    post: dict[str, Any] = {
        "type": "yolo_nms" if embed_nms else kind,
        "decoded_type": kind,
        "nms": {
            "enabled": True,
            "in_model": embed_nms,
            "iou_threshold": IOU,
            "confidence_threshold": CONF,
            "max_detections": MAX_DET,
            "class_agnostic": False,
        },
        "output_format": {"bbox_format": "xyxy", "coordinates": "absolute"},
        "raw_output": "(batch, 4 + num_classes [+ extras], anchors): cx, cy, w, h in input pixels, "
        "then class scores",
    }
    if task == "pose":
        post["keypoint_shape"] = [int(v) for v in head.kpt_shape]
    if task == "segment":
        post["mask_prototypes"] = int(head.nm)
    return post


def load(spec: ExportSpec, checkpoint: Path, work: Path) -> LoadedModel:
    import ultralytics
    from ultralytics import YOLO

    # Ultralytics writes exports beside the checkpoint: give it a private copy.
    local = work / f"model{checkpoint.suffix}"
    shutil.copyfile(checkpoint, local)
    try:
        yolo = YOLO(str(local))
    except Exception as err:  # any unpickling failure means a bad checkpoint
        raise BadInput(f"{checkpoint.name} could not be loaded as an Ultralytics model: {err}") from err
    task = str(yolo.task)
    if task not in ("detect", "classify", "segment", "pose"):
        raise BadInput(f"Ultralytics task '{task}' is not supported (detect, classify, segment, pose)")
    if spec.task not in ("auto", task):
        raise BadInput(f"task: the checkpoint is a '{task}' model, not '{spec.task}'")
    net = yolo.model
    train_args = dict(getattr(net, "args", {}) or {})
    size = _imgsz(spec, train_args)
    stride = int(max(int(net.stride.max()), 32)) if hasattr(net, "stride") else 32
    if task != "classify" and size % stride:
        raise BadInput(f"input_size {size} must be a multiple of the model stride {stride}")
    names = [str(yolo.names[i]) for i in sorted(yolo.names)]
    if spec.class_names and len(spec.class_names) != len(names):
        raise BadInput(f"class_names has {len(spec.class_names)} names; the model has {len(names)}")
    reference = net.float().eval()  # Ultralytics' exporter converts a deep copy of it
    if task == "classify":
        resize = {"method": "shorter_side_center_crop", "size": [size, size], "crop_pct": 1.0,
                  "interpolation": "bilinear", "antialias": True}
    else:
        resize = {"method": "letterbox", "size": [size, size], "fill_value": 114, "stride": stride,
                  "interpolation": "linear", "antialias": False}
    embed_nms = bool(getattr(spec.export_config, "embed_nms", False))
    return LoadedModel(
        framework="ultralytics",
        framework_version=ultralytics.__version__,
        task=task,
        model_name=Path(str(getattr(net, "yaml", {}).get("yaml_file") or checkpoint.stem)).stem,
        module=reference,
        class_names=spec.class_names or names,
        input_size=(size, size),
        preprocessing={
            "resize": resize,
            "normalize": normalize_section(1 / 255, [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]),
            "format": format_section(),
        },
        postprocessing=_postprocessing(task, reference.model[-1], embed_nms),
        input_name="images",
        output_names=["output0", "output1"] if task == "segment" else ["output0"],
        framework_preprocess=_framework_preprocess(task, size, stride),
        checkpoint=local,
        handle=yolo,
    )


def _framework_preprocess(task: str, size: int, stride: int) -> Any:
    """Ultralytics' own transforms, used to check the metadata-driven preprocessing."""

    if task == "classify":
        from PIL import Image
        from ultralytics.data.augment import classify_transforms

        transform = classify_transforms(size)

        def classify(rgb: np.ndarray) -> np.ndarray:
            return transform(Image.fromarray(rgb)).numpy()[None]

        return classify

    from ultralytics.data.augment import LetterBox

    letterbox = LetterBox((size, size), auto=False, stride=stride)

    def detect(rgb: np.ndarray) -> np.ndarray:
        img = letterbox(image=rgb)
        return np.ascontiguousarray(img.transpose(2, 0, 1)[None], dtype=np.float32) / 255.0

    return detect
