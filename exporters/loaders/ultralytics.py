"""Load an Ultralytics checkpoint: YOLO detect, segment, pose, obb and classify models
(YOLOv8 … YOLO26) and RT-DETR.

What the export computes, and how metadata.json decodes it:

* grid heads (YOLOv8, v9, 11, 12): the anchor grid, decoded and NMS'd by the wrapper
  (``YoloGrid``); with ``embed_nms`` Ultralytics' NMS is in the graph (``YoloRows``
  ``yolo_nms``).
* NMS-free heads (YOLOv10, YOLO26: a one-to-one branch beside the one-to-many one):
  Ultralytics 8.4 exports that branch when asked with ``nms=False`` (its default, ``nms``
  unset, exports the one-to-many branch for external NMS): the graph ends in a top-k and
  gives rows of the best ``max_det`` detections (``YoloRows`` ``yolo_end2end``). The
  reference module is switched to the same branch, so the parity gate compares like with
  like. With ``embed_nms`` the one-to-many branch and Ultralytics' NMS are exported instead.
* RT-DETR: rows of normalized cx, cy, w, h, score, class after a plain resize
  (``yolo_end2end``, ``box_format`` xywh, ``normalized``).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Literal

from core.errors import BadInput, Unsupported
from core.metadata import Classification, Nms, YoloGrid, YoloRows
from core.spec import ExportSpec, OnnxConfig, TorchScriptConfig
from exporters.loaders.base import LoadedModel
from exporters.preprocessing import verify
from exporters.preprocessing.ultralytics import read as read_preprocessing

# Ultralytics' own predict defaults, carried into metadata.json.
CONF, IOU, MAX_DET = 0.25, 0.7, 300
TASKS = ("detect", "segment", "pose", "obb", "classify")
GridType = Literal["yolo_detect", "yolo_segment", "yolo_pose", "yolo_obb"]
GRID_TYPES: dict[str, GridType] = {
    "detect": "yolo_detect", "segment": "yolo_segment", "pose": "yolo_pose", "obb": "yolo_obb"}
# model classes that need more than an image (text prompts, visual prompts): refused up front
REFUSED_MODELS = {
    "WorldModel": "YOLO-World takes text embeddings of its vocabulary beside the image",
    "YOLOEModel": "YOLOE takes text or visual prompt embeddings beside the image",
}


def _imgsz(spec: ExportSpec, train_args: dict[str, Any]) -> int:
    if spec.input_size:
        return spec.input_size
    size = train_args.get("imgsz", 640)
    return int(size[0] if isinstance(size, (list, tuple)) else size)


def head_kind(net: Any) -> str:
    """``rtdetr``, ``end2end`` (a head with a one-to-one branch) or ``grid``."""
    head = net.model[-1] if hasattr(net, "model") else None
    if "RTDETR" in type(head).__name__:
        return "rtdetr"
    return "end2end" if getattr(head, "one2one_cv2", None) is not None else "grid"


def _check_options(spec: ExportSpec) -> None:
    """Options no Ultralytics export can honour, refused before the checkpoint is read."""
    cfg = spec.export_config
    if isinstance(cfg, TorchScriptConfig) and cfg.method == "script":
        raise Unsupported(
            "export_config.method 'script': Ultralytics models go to TorchScript through Ultralytics' "
            "exporter, which traces them (torch.jit.trace); their forward (dynamic anchors, dict "
            "outputs) is not scriptable. Use method 'trace' (the default)")


def _check_model(net: Any, task: str, kind: str, spec: ExportSpec) -> None:
    """The model classes, tasks and option combinations this loader refuses, with the reason."""
    for cls in type(net).__mro__:
        if cls.__name__ in REFUSED_MODELS:
            raise Unsupported(f"Ultralytics {type(net).__name__} is not supported: "
                              f"{REFUSED_MODELS[cls.__name__]}, which the export cannot take")
    if task not in TASKS:
        raise Unsupported(f"Ultralytics task '{task}' is not supported yet ({', '.join(TASKS)} are)")
    if spec.task not in ("auto", task):
        raise BadInput(f"task: the checkpoint is a '{task}' model, not '{spec.task}'")
    cfg = spec.export_config
    if kind == "rtdetr" and isinstance(cfg, OnnxConfig) and cfg.embed_nms:
        raise BadInput("export_config.embed_nms: RT-DETR predicts a set of boxes without NMS; "
                       "export it without embed_nms")


def _nms(*, enabled: bool = True, in_model: bool = False) -> Nms:
    return Nms(enabled=enabled, in_model=in_model, iou_threshold=IOU, confidence_threshold=CONF,
               max_detections=MAX_DET, class_agnostic=False)


def _postprocessing(task: str, kind: str, head: Any, embed_nms: bool, classes: int) -> dict[str, Any]:
    if task == "classify":
        return Classification(type="probabilities", top_k=min(5, classes)).model_dump(mode="json")
    extras: dict[str, Any] = {}
    if task == "pose":
        extras["keypoint_shape"] = [int(v) for v in head.kpt_shape]
    if task == "segment":
        extras["mask_prototypes"] = int(head.nm)
    grid = GRID_TYPES[task]
    rotated: Literal["xyxy", "xywhr"] = "xywhr" if task == "obb" else "xyxy"
    post: YoloGrid | YoloRows
    if kind == "rtdetr":
        post = YoloRows(type="yolo_end2end", decoded_type="yolo_end2end", nms=_nms(enabled=False),
                        box_format="xywh", normalized=True,
                        raw_output="(batch, queries, 6): cx, cy, w, h normalized to the input, score, "
                        "class; best first")
    elif embed_nms:
        post = YoloRows(type="yolo_nms", decoded_type=grid, nms=_nms(in_model=True), box_format=rotated,
                        raw_output="(batch, max_det, 6 + extras): box, score, class, extras; NMS in the "
                        "graph, zero rows after the last detection", **extras)
    elif kind == "end2end":
        post = YoloRows(type="yolo_end2end", decoded_type="yolo_end2end", nms=_nms(enabled=False),
                        box_format=rotated,
                        raw_output="(batch, max_det, 6 + extras): box, score, class, extras from the "
                        "NMS-free one-to-one head, best first", **extras)
    else:
        post = YoloGrid(type=grid, decoded_type=grid, nms=_nms(),
                        raw_output="(batch, 4 + num_classes + extras, anchors): cx, cy, w, h in input "
                        "pixels, class scores, then mask coefficients / keypoints / the angle", **extras)
    return post.model_dump(mode="json", exclude_none=True)


def _reference(net: Any, kind: str, embed_nms: bool) -> Any:
    """The module the parity gate compares with, in the branch the export takes."""
    reference = net.float().eval()  # Ultralytics' exporter converts a deep copy of it
    if kind == "end2end":
        reference.end2end = not embed_nms
    return reference


def load(spec: ExportSpec, checkpoint: Path, work: Path) -> LoadedModel:
    import ultralytics
    from ultralytics import YOLO

    _check_options(spec)
    # Ultralytics writes exports beside the checkpoint: give it a private copy.
    local = work / f"model{checkpoint.suffix}"
    shutil.copyfile(checkpoint, local)
    try:
        yolo = YOLO(str(local))
    except Exception as err:  # any unpickling failure means a bad checkpoint
        raise BadInput(f"{checkpoint.name} could not be loaded as an Ultralytics model: {err}") from err
    net = yolo.model
    task = str(yolo.task)
    kind = head_kind(net)
    _check_model(net, task, kind, spec)
    train_args = dict(getattr(net, "args", {}) or {})
    size = _imgsz(spec, train_args)
    stride = int(max(int(net.stride.max()), 32)) if hasattr(net, "stride") else 32
    if task != "classify" and size % stride:
        raise BadInput(f"input_size {size} must be a multiple of the model stride {stride}")
    names = [str(yolo.names[i]) for i in sorted(yolo.names)]
    if spec.class_names and len(spec.class_names) != len(names):
        raise BadInput(f"class_names has {len(spec.class_names)} names; the model has {len(names)}")
    embed_nms = bool(getattr(spec.export_config, "embed_nms", False))
    reference = _reference(net, kind, embed_nms)
    # Ultralytics' own transforms, read into metadata.json; RT-DETR's predictor stretches (scale_fill)
    pre = read_preprocessing(task, size, stride, scale_fill=kind == "rtdetr")
    verify(pre)
    return LoadedModel(
        framework="ultralytics",
        framework_version=ultralytics.__version__,
        task=task,
        model_name=Path(str(getattr(net, "yaml", {}).get("yaml_file") or checkpoint.stem)).stem,
        module=reference,
        class_names=spec.class_names or names,
        input_size=(size, size),
        preprocessing=pre.section(),
        postprocessing=_postprocessing(task, kind, reference.model[-1], embed_nms, len(names)),
        input_name="images",
        output_names=["output0", "output1"] if task == "segment" else ["output0"],
        framework_preprocess=pre.framework_preprocess,
        checkpoint=local,
        handle=yolo,
    )
