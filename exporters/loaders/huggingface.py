"""Load a Hugging Face image classifier from a save_pretrained() directory (no hub access)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from core.errors import BadInput, Unsupported
from core.spec import ExportSpec
from exporters.loaders.base import (
    LoadedModel,
    format_section,
    normalize_section,
    pil_interpolation,
)


def _logits_module(model: Any) -> Any:
    """The HF model as a module whose forward(x) returns the logits tensor, as ONNX has it."""
    import torch

    class LogitsModule(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
            return self.inner(pixel_values=pixel_values).logits

    return LogitsModule(model).eval()


def _preprocessing(processor: Any) -> tuple[dict[str, Any], tuple[int, int]]:
    """The image processor's settings as metadata.json's preprocessing section."""
    size = dict(getattr(processor, "size", {}) or {})
    interpolation = pil_interpolation(getattr(processor, "resample", 2))
    if not getattr(processor, "do_resize", True):
        raise Unsupported("image processors that do not resize are not supported")
    if "height" in size and "width" in size:
        h, w = int(size["height"]), int(size["width"])
        resize = {"method": "resize", "size": [h, w], "interpolation": interpolation, "antialias": True}
    elif "shortest_edge" in size and getattr(processor, "do_center_crop", False):
        crop = dict(processor.crop_size)
        h, w = int(crop["height"]), int(crop["width"])
        resize = {"method": "shorter_side_center_crop", "size": [h, w],
                  "crop_pct": min(h, w) / int(size["shortest_edge"]),
                  "interpolation": interpolation, "antialias": True}
    else:
        raise Unsupported(
            f"{type(processor).__name__} with size {size} is not supported yet "
            "(height/width, or shortest_edge with a center crop, are)"
        )
    scale = float(processor.rescale_factor) if getattr(processor, "do_rescale", True) else 1.0
    if getattr(processor, "do_normalize", False):
        mean, std = list(processor.image_mean), list(processor.image_std)
    else:
        mean, std = [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]
    section = {
        "resize": resize,
        "normalize": normalize_section(scale, mean, std),
        "format": format_section(),
        "image_processor": type(processor).__name__,
    }
    return section, (h, w)


def load(spec: ExportSpec, checkpoint: Path, work: Path) -> LoadedModel:
    import transformers
    from transformers import AutoConfig, AutoImageProcessor, AutoModelForImageClassification

    model_dir = checkpoint if checkpoint.is_dir() else checkpoint.parent
    try:
        config = AutoConfig.from_pretrained(str(model_dir), local_files_only=True)
        model = AutoModelForImageClassification.from_pretrained(str(model_dir), local_files_only=True)
    except ValueError as err:
        raise Unsupported(f"{model_dir.name}: not an image-classification model ({err})") from err
    except (OSError, KeyError) as err:
        raise BadInput(f"{model_dir} could not be loaded as a Hugging Face model: {err}") from err
    if spec.task not in ("auto", "classify"):
        raise Unsupported(f"task '{spec.task}': Hugging Face models are supported for classify only")
    try:
        processor = AutoImageProcessor.from_pretrained(str(model_dir), local_files_only=True)
    except (OSError, ValueError) as err:
        raise BadInput(
            f"{model_dir} has no usable preprocessor_config.json, so its preprocessing is unknown: {err}"
        ) from err
    preprocessing, (h, w) = _preprocessing(processor)
    if spec.input_size and spec.input_size != h:
        raise Unsupported("input_size cannot override a Hugging Face model's image processor size")
    id2label = dict(config.id2label or {})
    names = spec.class_names or [str(id2label.get(i, f"class_{i}")) for i in range(config.num_labels)]
    if len(names) != config.num_labels:
        raise BadInput(f"class_names has {len(names)} names; the model has {config.num_labels} labels")

    def framework_preprocess(rgb: np.ndarray) -> np.ndarray:
        return np.asarray(processor(images=rgb, return_tensors="np")["pixel_values"], dtype=np.float32)

    return LoadedModel(
        framework="huggingface",
        framework_version=transformers.__version__,
        task="classify",
        model_name=str(config.model_type),
        module=_logits_module(model.float()),
        class_names=names,
        input_size=(h, w),
        preprocessing=preprocessing,
        postprocessing={"type": "logits", "top_k": min(5, len(names))},
        input_name="pixel_values",
        output_names=["logits"],
        framework_preprocess=framework_preprocess,
        checkpoint=model_dir,
        handle=model_dir,
    )
