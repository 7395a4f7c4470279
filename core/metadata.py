"""metadata.json: everything a runtime needs to use an exported model correctly.

The wrappers (Python, C++, Swift, Kotlin) read their whole behaviour from this
file: the preprocessing steps, normalization, layout, output decoding, NMS
settings and class names. The sections follow the product spec (model_info,
preprocessing, postprocessing, input_spec, output_spec, classes, performance,
runtime_wrappers) plus schema_version, source, export, parity, environment and
runtime (the format, the precision the parity gate checked and the runtime
settings that reproduce it, e.g. OpenVINO's inference precision).

The preprocessing and postprocessing sections are typed here
(:class:`Preprocessing`, :data:`Postprocessing`): they are the vocabulary every
wrapper implements, so a loader can only write what the wrappers can do.

Schema version 2 (this one) describes the image geometry as an ordered list of
``steps`` (resize, center_crop, pad). Version 1 packages had a single
``resize`` object; the Python wrapper still reads them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from core.errors import BadInput, InternalError

SCHEMA_VERSION = 2
TASK_TYPES = {
    "detect": "object_detection",
    "classify": "classification",
    "segment": "instance_segmentation",
    "pose": "pose_estimation",
    "obb": "oriented_object_detection",
    "semantic": "semantic_segmentation",
}
RUNTIME_WRAPPERS = {  # what wrappers.render writes into every package
    "python": "runtimes/python/model_wrapper.py",
    "cpp": "runtimes/cpp/model_wrapper.cpp",
    "swift": "runtimes/swift/ModelWrapper.swift",
    "kotlin": "runtimes/kotlin/ModelWrapper.kt",
    "golden": "runtimes/golden/expected.json",
}


class _Section(BaseModel):
    """A metadata section: unknown keys are an error, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid")


# --- preprocessing -----------------------------------------------------------
#
# The image goes through ``steps`` in order (geometry on the uint8 RGB image),
# then every pixel becomes (pixel * scale - mean) / std, in the channel order
# ``format.color_space`` names. Sizes are [height, width]; an ``edge`` is one int.

Interpolation = Literal["nearest", "bilinear", "bicubic", "lanczos", "box", "hamming", "area"]
Pixel = Annotated[list[Annotated[int, Field(ge=0, le=255)]], Field(min_length=3, max_length=3)]
Size = Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=2, max_length=2)]
Fraction = Annotated[list[Annotated[float, Field(gt=0, le=1)]], Field(min_length=2, max_length=2)]


class Resize(_Section):
    """Resample the image.

    ``mode``:
      - ``exact``: to ``size`` [h, w], aspect ratio not kept;
      - ``shortest_edge``: the shorter edge becomes ``edge``, aspect kept; the longer
        edge is capped at ``max_edge`` when given;
      - ``longest_edge``: the longer edge becomes ``edge``, aspect kept;
      - ``fit``: the largest size that fits in ``size`` [h, w], aspect kept (letterbox).

    ``rule`` says how a library rounds the computed size (each wrapper implements
    every rule exactly): ``floor`` (torchvision, Hugging Face
    ``get_resize_output_image_size``: new_long = int(edge * long / short)), ``detr``
    (DETR/Conditional DETR ``get_size_with_aspect_ratio``), ``yolos`` (YOLOS's, which
    also rounds down to a multiple of 16), ``round`` (Ultralytics LetterBox:
    gain = target / reference side, new side = round(side * gain), at least 1) and
    ``timm`` (timm ResizeKeepRatio: ratio = reference side / target, new side =
    round(side / ratio); the same sizes as ``round`` but for the floating-point
    rounding of ties, which timm and Ultralytics land on differently). The reference
    side is the shorter one (``shortest_edge``), the longer one (``longest_edge``) or
    the one that limits the fit (``fit``); ``detr`` and ``yolos`` apply to
    ``shortest_edge`` only.

    ``multiple_of`` then rounds each side up to a multiple of it (TextNet's ``size_divisor``).

    ``antialias`` true resamples as PIL does (the filter widens when shrinking; what
    timm, Hugging Face and torchvision's PIL path do); false resamples as OpenCV's
    ``cv2.resize`` does (Ultralytics' letterbox).
    """

    op: Literal["resize"] = "resize"
    mode: Literal["exact", "shortest_edge", "longest_edge", "fit"]
    size: Size | None = None
    edge: Annotated[int, Field(ge=1)] | None = None
    max_edge: Annotated[int, Field(ge=1)] | None = None
    rule: Literal["floor", "detr", "yolos", "round", "timm"] = "floor"
    interpolation: Interpolation = "bilinear"
    antialias: bool = True
    multiple_of: Annotated[int, Field(ge=1)] | None = None  # each side rounded up to it (TextNet)

    @model_validator(mode="after")
    def _size_or_edge(self) -> Resize:
        if self.mode in ("exact", "fit") and (self.size is None or self.edge is not None):
            raise ValueError(f"resize mode {self.mode!r} takes size [h, w], not edge")
        if self.mode in ("shortest_edge", "longest_edge") and (self.edge is None or self.size is not None):
            raise ValueError(f"resize mode {self.mode!r} takes edge, not size")
        if self.max_edge is not None and self.mode != "shortest_edge":
            raise ValueError("max_edge caps the longer edge of a shortest_edge resize only")
        return self


class CenterCrop(_Section):
    """Cut ``size`` [h, w] from the centre, or, with ``fraction`` [fh, fw] instead, a
    (floor(fh * s), floor(fw * s)) crop where s is the image's shorter side (Perceiver's
    crop of the shorter side before its resize); an image smaller than the crop is padded
    with ``fill`` first. ``rule``: ``floor`` puts the crop at floor((h - ch) / 2) and a
    padded image at ceil((ch - h) / 2) (Hugging Face); ``round`` at round((h - ch) / 2)
    (Python's round: halves to even) and floor((ch - h) / 2) (torchvision, timm);
    ``floor_pad_floor`` at floor((h - ch) / 2) and floor((ch - h) / 2) (Hugging Face's
    fast, torchvision-based image processors)."""

    op: Literal["center_crop"] = "center_crop"
    size: Size | None = None
    fraction: Fraction | None = None
    rule: Literal["floor", "round", "floor_pad_floor"] = "round"
    fill: Pixel = [0, 0, 0]

    @model_validator(mode="after")
    def _size_or_fraction(self) -> CenterCrop:
        if (self.size is None) == (self.fraction is None):
            raise ValueError("center_crop takes size [h, w] or fraction [fh, fw], one of them")
        return self


class Pad(_Section):
    """Pad with ``fill`` up to ``size`` [h, w], or up to the next multiple of
    ``multiple_of``. ``center`` splits the padding as Ultralytics' letterbox does
    (top = round(dh - 0.1), bottom = round(dh + 0.1)); ``bottom_right`` adds it all
    below and to the right (Hugging Face's pad)."""

    op: Literal["pad"] = "pad"
    size: Size | None = None
    multiple_of: Annotated[int, Field(ge=1)] | None = None
    position: Literal["center", "bottom_right"] = "center"
    fill: Pixel = [114, 114, 114]

    @model_validator(mode="after")
    def _size_or_multiple(self) -> Pad:
        if (self.size is None) == (self.multiple_of is None):
            raise ValueError("pad takes either size [h, w] or multiple_of")
        return self


Step = Annotated[Resize | CenterCrop | Pad, Field(discriminator="op")]


class Normalize(_Section):
    """(pixel * scale - mean) / std per channel; mean and std in RGB order. Any
    per-channel affine map a library applies (rescale, offsets, normalize twice)
    is folded into these three by the loader."""

    method: Literal["standard"] = "standard"
    formula: Literal["(pixel * scale - mean) / std"] = "(pixel * scale - mean) / std"
    scale: float
    mean: Annotated[list[float], Field(min_length=3, max_length=3)]
    std: Annotated[list[float], Field(min_length=3, max_length=3)]


class Format(_Section):
    """``color_space`` is the channel order the model takes (BGR: Hugging Face's
    ``do_flip_channel_order``, OpenVINO's ``reverse_input_channels``)."""

    input_layout: Literal["HWC"] = "HWC"
    output_layout: Literal["NCHW", "NHWC"] = "NCHW"
    color_space: Literal["RGB", "BGR"] = "RGB"
    dtype: Literal["float32"] = "float32"


class Preprocessing(_Section):
    steps: list[Step]
    normalize: Normalize
    format: Format = Format()
    embedded: bool = False  # the graph normalizes: feed uint8 RGB NHWC after the steps
    # the tensor's [h, w] after the steps; None (or absent: sections are written without
    # nulls, which OpenCV's JSON reader in the C++ wrapper rejects) when it follows the
    # image (the graph takes variable height and width, e.g. DETR's shortest/longest edge)
    input_size: Size | None = None
    source: str  # what the steps were read from, e.g. "ConvNextImageProcessor"


# --- postprocessing ----------------------------------------------------------


class Nms(_Section):
    enabled: bool = True
    in_model: bool = False  # NMS runs inside the exported graph
    iou_threshold: float
    confidence_threshold: float
    max_detections: int
    class_agnostic: bool = False


class Classification(_Section):
    """``logits``: softmax gives the probabilities; ``probabilities``: already are."""

    type: Literal["logits", "probabilities"]
    top_k: int = 5


class YoloGrid(_Section):
    """YOLO's anchor-grid output (batch, 4 + classes [+ extras], anchors): cx, cy, w, h in
    input pixels, class scores, then mask coefficients (segment), keypoints (pose) or
    the angle in radians (obb). The wrapper decodes it and runs NMS (rotated for obb)."""

    type: Literal["yolo_detect", "yolo_segment", "yolo_pose", "yolo_obb"]
    decoded_type: str | None = None
    nms: Nms
    output_format: dict[str, str] = {"bbox_format": "xyxy", "coordinates": "absolute"}
    raw_output: str = ""
    keypoint_shape: list[int] | None = None  # pose: [keypoints, 2 or 3]
    mask_prototypes: int | None = None  # segment: coefficients per box


class YoloRows(_Section):
    """Rows of final detections (batch, max_detections, 6 + extras): x1, y1, x2, y2 in
    input pixels, score, class, then mask coefficients / keypoints / the angle (obb:
    the box is cx, cy, w, h, see ``box_format``). ``yolo_nms``: NMS was embedded in the
    graph; ``yolo_end2end``: the head itself is NMS-free (YOLOv10, YOLO26).
    ``decoded_type`` is the type that decodes the *original* model's output (the parity
    gate's reference): the grid type for yolo_nms, yolo_end2end itself for end-to-end heads.
    Extras are keypoints when ``keypoint_shape`` is set and mask coefficients when
    ``mask_prototypes`` is set (as for the grid types).

    ``box_format``: ``xyxy`` (x1, y1, x2, y2), ``xywh`` (cx, cy, w, h: Ultralytics RT-DETR)
    or ``xywhr`` (cx, cy, w, h with the angle in radians as the row's last column: obb).
    ``normalized``: the box is a fraction of the input tensor's width and height
    (Ultralytics RT-DETR) rather than input pixels; the wrapper multiplies it by the
    tensor's size before mapping it back to the image."""

    type: Literal["yolo_nms", "yolo_end2end"]
    decoded_type: str
    nms: Nms
    box_format: Literal["xyxy", "xywh", "xywhr"] = "xyxy"
    normalized: bool = False
    output_format: dict[str, str] = {"bbox_format": "xyxy", "coordinates": "absolute"}
    raw_output: str = ""
    keypoint_shape: list[int] | None = None
    mask_prototypes: int | None = None


class SetPrediction(_Section):
    """DETR-style set prediction: one box per query, no NMS. Boxes are cx, cy, w, h
    normalized to the image the model saw (so they map to the original image through
    the inverse of the resize). ``scores``: ``softmax`` over classes with the last one
    meaning "no object" (DETR, YOLOS), ``sigmoid`` per class and the top ``top_k``
    (query, class) pairs kept (Conditional DETR, RT-DETR), ``max`` for scores that
    are already probabilities (Ultralytics RT-DETR). ``scores_index`` and
    ``boxes_index`` are positions in output_spec.outputs; with no ``boxes_index`` the
    boxes are the first four values of the scores output's last axis."""

    type: Literal["set_prediction"] = "set_prediction"
    scores: Literal["softmax", "sigmoid", "max"]
    top_k: int | None = None
    confidence_threshold: float
    max_detections: int
    scores_index: int = 0
    boxes_index: int | None = 1
    output_format: dict[str, str] = {"bbox_format": "xyxy", "coordinates": "absolute"}


class SemanticLogits(_Section):
    """Per-pixel class logits (batch, classes, h, w) at a fraction of the input size.
    The wrapper resamples them bilinearly (align_corners false, as torch's interpolate)
    onto the original image, then takes the argmax. ``mapping`` says how they cover it:
    ``inverse`` through the inverse of the preprocessing geometry (after a center crop
    they cover the cropped part, and the border logits extend beyond it); ``stretch``
    over the whole image whatever the geometry, as transformers'
    ``post_process_semantic_segmentation`` (and so its pipeline) resizes them, even
    after a center crop."""

    type: Literal["semantic_logits"] = "semantic_logits"
    top_k: int | None = None
    mapping: Literal["inverse", "stretch"] = "inverse"


Postprocessing = Annotated[
    Classification | YoloGrid | YoloRows | SetPrediction | SemanticLogits,
    Field(discriminator="type"),
]


# --- the whole file ------------------------------------------------------------


class ModelInfo(_Section):
    framework: str
    task: str
    task_type: str
    model_name: str
    export_format: str
    model_file: str


class TensorSpec(_Section):
    """A tensor as the model file declares it; dynamic axes are names."""

    name: str
    shape: list[int | str | None]
    dtype: str
    format: Literal["NCHW", "NHWC", "image"] | None = None  # inputs: the layout fed
    color_space: str | None = None  # Core ML image inputs
    image_bias: list[float] | None = None
    runtime_name: str | None = None  # outputs: the runtime's own name (a TFLite signature's)
    layout: Literal["NHWC"] | None = None  # outputs the wrapper turns back to NCHW


class OutputSpec(_Section):
    outputs: list[TensorSpec]


class ClassEntry(_Section):
    id: int
    name: str


class Source(_Section):
    checkpoint: str
    checkpoint_name: str
    sha256: str
    kind: str
    framework: str
    framework_version: str


class Runtime(_Section):
    """How to run the file as the parity gate ran it; one optional section per format's settings."""

    format: str
    precision: str
    openvino: dict[str, Any] | None = None
    coreml: dict[str, Any] | None = None
    tensorrt: dict[str, Any] | None = None
    tflite: dict[str, Any] | None = None


class Metadata(_Section):
    """metadata.json, typed: what packaging, the endpoint, the app and the README read.

    The reports (``parity``, ``optimization_stats``, ``validation``), the spec that made
    the export (``export``), ``performance`` and ``environment`` are records for people
    and tools, kept as the worker wrote them."""

    schema_version: Literal[2]
    model_info: ModelInfo
    preprocessing: Preprocessing
    postprocessing: Postprocessing
    input_spec: TensorSpec
    output_spec: OutputSpec
    classes: Annotated[list[ClassEntry], Field(min_length=1)]
    performance: dict[str, Any]
    runtime_wrappers: dict[str, str]
    source: Source
    export: dict[str, Any]
    parity: dict[str, Any]
    environment: dict[str, str]
    runtime: Runtime
    optimization_stats: dict[str, Any] | None = None
    validation: dict[str, Any] | None = None

    @property
    def class_names(self) -> list[str]:
        return [c.name for c in sorted(self.classes, key=lambda c: c.id)]

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


def _problems(err: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'metadata'}: {e['msg']}" for e in err.errors())


def upgrade(data: dict[str, Any]) -> dict[str, Any]:
    """A schema-1 file (one ``preprocessing.resize`` object) as schema 2, as the packaged
    Python wrapper reads it."""
    if data.get("schema_version") != 1:
        return data
    from core.inference import wrapper_module

    pre = dict(data.get("preprocessing") or {})
    resize = pre.pop("resize", None)
    if isinstance(resize, dict):
        pre["steps"] = wrapper_module().steps_from_v1(resize)
        pre.setdefault("input_size", resize.get("size"))
        pre.setdefault("source", "schema 1")
    return {**data, "schema_version": SCHEMA_VERSION, "preprocessing": pre}


def read_metadata(path: Path) -> Metadata:
    """A package's metadata.json, checked against the schema; BadInput names what is wrong."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput(f"{Path(path).parent} is not a Slipway package: it has no metadata.json") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BadInput(f"{path} cannot be read as JSON: {err}") from None
    if not isinstance(data, dict):
        raise BadInput(f"{path} does not hold a JSON object")
    try:
        return Metadata.model_validate(upgrade(data))
    except ValidationError as err:
        raise BadInput(f"{path} is not a Slipway metadata.json: {_problems(err)}") from None


def classes_section(names: list[str]) -> list[dict[str, Any]]:
    return [{"id": i, "name": name} for i, name in enumerate(names)]


def build_metadata(
    *,
    model_info: dict[str, Any],
    preprocessing: dict[str, Any],
    postprocessing: dict[str, Any],
    input_spec: dict[str, Any],
    outputs: list[dict[str, Any]],
    class_names: list[str],
    source: dict[str, Any],
    export: dict[str, Any],
    parity: dict[str, Any],
    performance: dict[str, Any],
    environment: dict[str, str],
    runtime: dict[str, Any],
) -> dict[str, Any]:
    """Assemble metadata.json; raises if a section a wrapper relies on is missing."""
    task = model_info["task"]
    metadata: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "model_info": {**model_info, "task_type": TASK_TYPES[task]},
        "preprocessing": preprocessing,
        "postprocessing": postprocessing,
        "input_spec": input_spec,
        "output_spec": {"outputs": outputs},
        "classes": classes_section(class_names),
        "performance": performance,
        "runtime_wrappers": dict(RUNTIME_WRAPPERS),
        "source": source,
        "export": export,
        "parity": parity,
        "environment": environment,
        "runtime": runtime,
    }
    check_metadata(metadata)
    return metadata


def check_metadata(metadata: dict[str, Any]) -> None:
    """The invariants every runtime relies on; a violation is our bug, not the user's."""
    try:
        Metadata.model_validate(metadata)
    except ValidationError as err:
        raise InternalError(f"metadata.json does not follow the schema: {_problems(err)}") from None
