"""Load a timm classifier: a bare state dict (with --model-name), a timm training
checkpoint ({"arch", "state_dict"}), a safetensors file, or a pickled timm module."""

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


def _read_checkpoint(path: Path) -> tuple[dict[str, Any] | None, Any, str | None]:
    """(state dict, pickled module, architecture named inside the file)."""
    import torch

    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return dict(load_file(str(path))), None, None
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=False)
    except Exception as err:  # unpickling fails with every exception type there is
        raise BadInput(f"{path.name} could not be read as a PyTorch checkpoint: {err}") from err
    if isinstance(obj, torch.nn.Module):
        return None, obj, None
    if not isinstance(obj, dict):
        raise BadInput(f"{path.name} holds a {type(obj).__name__}, not a state dict")
    arch = obj.get("arch") if isinstance(obj.get("arch"), str) else None
    for key in ("state_dict_ema", "state_dict", "model"):
        if isinstance(obj.get(key), dict):
            return obj[key], None, arch
    return obj, None, arch


def _build(arch: str, state: dict[str, Any]) -> Any:
    """The architecture with the weights loaded; the class count comes from the weights."""
    import timm

    if not timm.is_model(arch):
        close = timm.list_models(f"*{arch.split('_')[0]}*")[:5]
        hint = f" (did you mean one of: {', '.join(close)}?)" if close else ""
        raise BadInput(f"model_name: '{arch}' is not a timm architecture{hint}")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    model = timm.create_model(arch, pretrained=False)
    head = model.pretrained_cfg.get("classifier") or "fc"
    head = head[0] if isinstance(head, (list, tuple)) else head
    weight = state.get(f"{head}.weight")
    if weight is not None and int(weight.shape[0]) != model.num_classes:
        model = timm.create_model(arch, pretrained=False, num_classes=int(weight.shape[0]))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        first = str(err).splitlines()[0]
        raise BadInput(
            f"the weights do not fit timm architecture '{arch}': {first} — check --model-name"
        ) from None
    return model


def load(spec: ExportSpec, checkpoint: Path, work: Path) -> LoadedModel:
    import timm

    state, module, arch_in_file = _read_checkpoint(checkpoint)
    arch = spec.model_name or arch_in_file
    if module is None:
        if arch is None:
            raise BadInput(
                f"{checkpoint.name} is a bare state dict: name its timm architecture with "
                "--model-name (e.g. resnet18, mobilenetv3_small_100)"
            )
        assert state is not None
        module = _build(arch, state)
    arch = arch or getattr(module, "default_cfg", {}).get("architecture", type(module).__name__)
    module = module.float().eval()
    overrides: dict[str, Any] = {}
    if spec.input_size:
        overrides["input_size"] = (3, spec.input_size, spec.input_size)
    config = timm.data.resolve_data_config(overrides, model=module)
    if config.get("crop_mode", "center") != "center":
        raise Unsupported(f"timm crop_mode '{config['crop_mode']}' is not supported yet (center is)")
    _, h, w = config["input_size"]
    num_classes = int(module.num_classes)
    names = spec.class_names or _labels_beside(checkpoint, num_classes)
    if len(names) != num_classes:
        raise BadInput(f"class_names has {len(names)} names; the model has {num_classes} outputs")
    transform = timm.data.create_transform(**config, is_training=False)

    def framework_preprocess(rgb: np.ndarray) -> np.ndarray:
        from PIL import Image

        return transform(Image.fromarray(rgb)).numpy()[None]

    return LoadedModel(
        framework="timm",
        framework_version=timm.__version__,
        task="classify",
        model_name=str(arch),
        module=module,
        class_names=names,
        input_size=(int(h), int(w)),
        preprocessing={
            "resize": {"method": "shorter_side_center_crop", "size": [int(h), int(w)],
                       "crop_pct": float(config["crop_pct"]),
                       "interpolation": pil_interpolation(config["interpolation"]),
                       "antialias": True},
            "normalize": normalize_section(1 / 255, list(config["mean"]), list(config["std"])),
            "format": format_section(),
        },
        postprocessing={"type": "logits", "top_k": min(5, num_classes)},
        input_name="input",
        output_names=["logits"],
        framework_preprocess=framework_preprocess,
        checkpoint=checkpoint,
    )


def _labels_beside(checkpoint: Path, count: int) -> list[str]:
    """labels.txt next to the checkpoint names the classes; otherwise class_0, class_1 …"""
    labels = checkpoint.parent / "labels.txt"
    if labels.is_file():
        names = [line.strip() for line in labels.read_text(encoding="utf-8").splitlines() if line.strip()]
        if len(names) == count:
            return names
    return [f"class_{i}" for i in range(count)]
