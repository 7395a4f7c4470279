"""Load a Hugging Face vision model from a save_pretrained() folder (local files only).

Three heads: image classification, object detection (DETR-style set prediction) and
semantic segmentation. The task comes from config.json's ``architectures`` (the head
class, see ``core.checkpoint.hf_task``), or from ``--task`` when config.json names
none. The module handed to the converters takes ``pixel_values`` and returns the
exported tensors in order: ``logits`` (classifiers, per-pixel logits for segmenters),
``logits, pred_boxes`` (detectors). Families and options Slipway cannot export are
refused here, with the reason, before any weights are read (:data:`REFUSED`, the
processor's options, sizes and opsets), never after a long conversion.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import numpy as np

from core.checkpoint import hf_task
from core.errors import BadInput, Unsupported
from core.metadata import Classification, SemanticLogits, SetPrediction
from core.spec import ExportSpec, OnnxConfig
from exporters.loaders.base import LoadedModel, family_opset
from exporters.preprocessing import ReadPreprocessing, describe, verify
from exporters.preprocessing.huggingface import read as read_preprocessing

# model types refused whole, and why (checked from config.json before any import)
REFUSED = {
    "dinat": "DiNAT's neighbourhood attention needs the natten package (custom kernels), which is not "
             "installed and whose operators do not export to ONNX",
    "nat": "NAT's neighbourhood attention needs the natten package (custom kernels), which is not "
           "installed and whose operators do not export to ONNX",
    "imagegpt": "ImageGPT takes colour-cluster ids (each pixel quantized to a 512-colour palette), not "
                "pixels, so no image tensor goes in",
    "shieldgemma2": "ShieldGemma 2 is a vision-language safety classifier: it needs a text prompt beside "
                    "the image (and is a 4-billion-parameter Gemma 3)",
    "deta": "DETA (deprecated in transformers) runs torchvision's NMS inside its two-stage decoder and "
            "again in its post-processing, which is not set prediction",
}
# families onnx2tf cannot convert to TFLite, and why (found by the zoo, make test-zoo)
_DEFORMABLE_TFLITE = ("onnx2tf cannot convert its multi-scale deformable attention (GridSample, then a "
                      "Tile of the sampling offsets: 'multiples' of the wrong length); export to ONNX, "
                      "OpenVINO or TorchScript instead")
NO_TFLITE = {"rt_detr": _DEFORMABLE_TFLITE, "rt_detr_v2": _DEFORMABLE_TFLITE, "d_fine": _DEFORMABLE_TFLITE,
             "deformable_detr": "onnx2tf cannot convert its multi-scale deformable attention (its sampling "
                                "weights are a 6-D tensor, which onnx2tf's broadcasting cannot take); export "
                                "to ONNX, OpenVINO or TorchScript instead",
             "mobilevitv2": "onnx2tf does not finish converting its patch folding (col2im): stopped "
                            "after 25 minutes; export to ONNX, OpenVINO or TorchScript instead",
             "dab-detr": "onnx2tf cannot convert its decoder's anchor-box queries (a reshape of the "
                         "(2, 256, queries) query tensor fails); export to ONNX, OpenVINO or TorchScript "
                         "instead",
             "dpt": "onnx2tf's conversion computes something else (segmentation logits off by up to 21): "
                    "the parity gate would refuse it; export to ONNX, OpenVINO or TorchScript instead",
             "segformer": "onnx2tf's conversion computes something else (logits off by up to 7, top-1 "
                          "agreeing on 1 image of 16): the parity gate would refuse it; export to ONNX, "
                          "OpenVINO or TorchScript instead"}
# detectors whose graph only runs at the size it was traced at: they need --imgsz N
FIXED_SIZE_ONLY = {
    "deformable_detr": "its multi-scale deformable attention computes the feature-map sizes in Python, so "
                       "the exported graph only runs at the size it was traced at",
}
# families whose graph needs a newer ONNX opset than the default, and why
MIN_OPSET = {
    "mobilevitv2": (18, "MobileViTV2 folds its patches back with col2im, an ONNX operator since opset 18"),
}
# formats whose models take one input size, and why
FIXED_SIZE_FORMATS = {
    "tflite": "a TFLite model takes one input size",
    "tensorrt": "Slipway builds TensorRT engines for one input size",
}
# set prediction, per detector family: how its processor's post_process_object_detection scores
# (softmax with a trailing no-object class; sigmoid with the top k (query, class) pairs,
# None meaning k = the number of queries)
SET_PREDICTION: dict[str, tuple[Literal["softmax", "sigmoid"], int | None]] = {
    "detr": ("softmax", None),
    "table-transformer": ("softmax", None),
    "yolos": ("softmax", None),
    "conditional_detr": ("sigmoid", 100),
    "deformable_detr": ("sigmoid", 100),
    "dab-detr": ("sigmoid", 100),
    "rt_detr": ("sigmoid", None),
    "rt_detr_v2": ("sigmoid", None),
    "d_fine": ("sigmoid", None),
}
# the pipelines' default thresholds (transformers' object-detection pipeline: 0.5)
DETECTION_THRESHOLD = 0.5
OUTPUTS = {"classify": ["logits"], "detect": ["logits", "pred_boxes"], "semantic": ["logits"]}
# the image a variable-size graph is traced at (height, width): a 4:3 photo
TRACE_IMAGE = (480, 640)


def _head_module(model: Any, names: list[str]) -> Any:
    """The HF model as a module whose forward(pixel_values) returns the named outputs in order."""
    import torch

    class HeadOutputs(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, pixel_values: torch.Tensor) -> Any:
            out = self.inner(pixel_values)  # positional: Perceiver names its input ``inputs``
            tensors = tuple(getattr(out, name) for name in names)
            return tensors[0] if len(tensors) == 1 else tensors

    return HeadOutputs(model).eval()


def read_config(model_dir: Path) -> dict[str, Any]:
    try:
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise BadInput(f"{model_dir / 'config.json'} could not be read: {err}") from None
    if not isinstance(config, dict):
        raise BadInput(f"{model_dir / 'config.json'} is not a JSON object")
    return config


def _mapping(task: str) -> dict[str, Any]:
    from transformers.models.auto import modeling_auto

    return dict({
        "classify": modeling_auto.MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES,
        "detect": modeling_auto.MODEL_FOR_OBJECT_DETECTION_MAPPING_NAMES,
        "semantic": modeling_auto.MODEL_FOR_SEMANTIC_SEGMENTATION_MAPPING_NAMES,
    }[task])


def architecture_and_task(config: dict[str, Any], spec_task: str) -> tuple[str, str]:
    """The head class to load and its task: config.json's ``architectures``, else the
    transformers auto-mapping of its model type for the task asked."""
    model_type = str(config.get("model_type", ""))
    names = config.get("architectures") or []
    architecture = str(names[0]) if isinstance(names, list) and names else None
    task = hf_task(architecture)
    if architecture is not None and task is None:
        raise Unsupported(f"{model_type}: {architecture} is not an image-classification, object-detection "
                          "or semantic-segmentation head; Slipway exports those three")
    if task is not None and architecture is not None:
        if spec_task not in ("auto", task):
            raise BadInput(f"task '{spec_task}': this checkpoint is a {architecture}, a {task} model; "
                           f"use --task {task} or leave --task auto")
        return architecture, task
    heads = {t: _mapping(t).get(model_type) for t in OUTPUTS}
    offered = {t: h for t, h in heads.items() if h}
    if not offered:
        raise Unsupported(f"model type '{model_type}' has no image-classification, object-detection or "
                          "semantic-segmentation head in transformers")
    if spec_task == "auto":
        if len(offered) > 1:
            raise BadInput(f"config.json names no architecture and model type '{model_type}' has "
                           f"{' and '.join(offered)} heads: pass --task")
        spec_task = next(iter(offered))
    head = offered.get(spec_task)
    if head is None:
        raise Unsupported(f"task '{spec_task}': model type '{model_type}' has no such head in transformers "
                          f"(it has {', '.join(offered)})")
    return (head[0] if isinstance(head, tuple) else head), spec_task


def refuse_early(model_type: str, task: str | None, export_format: str | None = None) -> None:
    """Families Slipway cannot export (to this format), refused before anything heavy runs."""
    if model_type in REFUSED:
        raise Unsupported(f"Hugging Face {model_type}: {REFUSED[model_type]}")
    if export_format == "tflite" and model_type in NO_TFLITE:
        raise Unsupported(f"Hugging Face {model_type} cannot be exported to tflite yet: "
                          f"{NO_TFLITE[model_type]}")
    if task == "detect" and model_type not in SET_PREDICTION:
        raise Unsupported(f"Hugging Face {model_type}: its detection post-processing is not known to "
                          f"Slipway (set prediction is built for {', '.join(sorted(SET_PREDICTION))})")


def check_opset(model_type: str, spec: ExportSpec) -> None:
    """An opset the family's graph cannot be written in (MIN_OPSET) is refused before the long work."""
    if isinstance(spec.export_config, OnnxConfig):
        family_opset(MIN_OPSET.get(model_type), spec.export_config.opset_version)


def _processor(model_dir: Path, overrides: dict[str, Any]) -> Any:
    from transformers import AutoImageProcessor

    try:
        return AutoImageProcessor.from_pretrained(str(model_dir), local_files_only=True, **overrides)
    except (OSError, ValueError, KeyError) as err:
        raise BadInput(
            f"{model_dir} has no usable preprocessor_config.json, so its preprocessing is unknown: {err}"
        ) from err


def preprocessing(model_dir: Path, model_type: str, task: str, spec: ExportSpec) -> ReadPreprocessing:
    """The image processor read into metadata.json's vocabulary. A processor whose output
    size follows the image (DETR's shortest/longest edge) gives a variable-size graph;
    ``--imgsz N`` turns its resize into an exact N x N, for the framework's own
    pipeline (the parity gate's reference) too."""
    read = read_preprocessing(_processor(model_dir, {}))
    if spec.input_size is not None:
        n = spec.input_size
        if read.input_size is None:
            read = read_preprocessing(_processor(model_dir, {"size": {"height": n, "width": n}}))
        elif read.input_size != (n, n):
            h, w = read.input_size
            raise Unsupported(f"--imgsz {n}: {model_type}'s image processor makes {w}x{h} tensors "
                              f"({describe(read.preprocessing)}); Slipway does not change a fixed "
                              "processor size: export without --imgsz")
    verify(read)
    if read.input_size is None:
        follows = (f"{model_type}: its image processor's output size follows each image "
                   f"({describe(read.preprocessing)})")
        if task != "detect":
            raise Unsupported(f"{follows}, and a {task} export needs a fixed size; export with --imgsz N "
                              "for a fixed N x N input")
        if model_type in FIXED_SIZE_ONLY:
            raise Unsupported(f"Hugging Face {model_type}: {FIXED_SIZE_ONLY[model_type]}; export with "
                              "--imgsz N for a fixed N x N input")
        if spec.export_format in FIXED_SIZE_FORMATS:
            raise Unsupported(f"{follows}, and {FIXED_SIZE_FORMATS[spec.export_format]}; export with "
                              "--imgsz N for a fixed N x N input")
    return read


def _traced_size(read: ReadPreprocessing) -> tuple[int, int]:
    """The tensor size to trace at: the processor's own, or what it gives a 4:3 photo."""
    if read.input_size is not None:
        return read.input_size
    probe = np.full((*TRACE_IMAGE, 3), 114, dtype=np.uint8)
    h, w = read.framework_preprocess(probe).shape[-2:]
    return int(h), int(w)


def _postprocessing(task: str, model_type: str, config: Any, classes: int) -> dict[str, Any]:
    if task == "classify":
        section: Any = Classification(type="logits", top_k=min(5, classes))
    elif task == "semantic":  # over the whole image, as post_process_semantic_segmentation does
        section = SemanticLogits(mapping="stretch")
    else:
        scores, top_k = SET_PREDICTION[model_type]
        queries = int(getattr(config, "num_queries", 100))
        k = queries if top_k is None and scores == "sigmoid" else top_k
        section = SetPrediction(scores=scores, top_k=k, confidence_threshold=DETECTION_THRESHOLD,
                                max_detections=k or queries)
    result: dict[str, Any] = section.model_dump(mode="json", exclude_none=True)
    return result


def _load_model(model_dir: Path, architecture: str, model_type: str, labels: dict[int, str]) -> Any:
    import transformers

    cls = getattr(transformers, architecture, None)
    if cls is None:
        raise Unsupported(f"{architecture} is not in transformers {transformers.__version__}: export "
                          "with the transformers version the checkpoint was saved with")
    # config.json's labels again: some configs (PvtConfig) reset num_labels to their default on load
    extra: dict[str, Any] = {"id2label": labels} if labels else {}
    try:  # eager attention: plain matmul/softmax ops every converter reads
        return cls.from_pretrained(str(model_dir), local_files_only=True, attn_implementation="eager",
                                   **extra)
    except ImportError as err:  # a backend the family needs (natten, ...)
        raise Unsupported(f"Hugging Face {model_type}: {str(err).strip().splitlines()[0]}") from err
    except (OSError, ValueError, KeyError, RuntimeError) as err:
        raise BadInput(f"{model_dir} could not be loaded as a {architecture}: {err}") from err


def load(spec: ExportSpec, checkpoint: Path, work: Path) -> LoadedModel:
    model_dir = checkpoint if checkpoint.is_dir() else checkpoint.parent
    config_json = read_config(model_dir)
    model_type = str(config_json.get("model_type", ""))
    refuse_early(model_type, None, spec.export_format)  # from config.json alone
    architecture, task = architecture_and_task(config_json, spec.task)
    refuse_early(model_type, task)
    check_opset(model_type, spec)
    import transformers

    read = preprocessing(model_dir, model_type, task, spec)
    labels = {int(k): str(v) for k, v in dict(config_json.get("id2label") or {}).items()}
    model = _load_model(model_dir, architecture, model_type, labels).float().eval()
    config = model.config
    classes = int(config.num_labels)
    id2label = {int(k): str(v) for k, v in dict(config.id2label or {}).items()}
    names = spec.class_names or [id2label.get(i, f"class_{i}") for i in range(classes)]
    if len(names) != classes:
        raise BadInput(f"class_names has {len(names)} names; the model has {classes} labels")
    notes = []
    if read.input_size is None:
        notes.append(f"{describe(read.preprocessing)}: the graph takes any height and width (batch 1)")
    return LoadedModel(
        framework="huggingface",
        framework_version=transformers.__version__,
        task=task,
        model_name=model_type,
        module=_head_module(model, OUTPUTS[task]),
        class_names=names,
        input_size=_traced_size(read),
        preprocessing=read.section(),
        postprocessing=_postprocessing(task, model_type, config, classes),
        input_name="pixel_values",
        output_names=list(OUTPUTS[task]),
        framework_preprocess=read.framework_preprocess,
        checkpoint=model_dir,
        handle=model_dir,
        notes=notes,
        min_opset=MIN_OPSET.get(model_type),
    )
