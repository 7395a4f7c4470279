"""Load a timm classifier: a bare state dict (with --model-name), a timm training
checkpoint ({"arch", "state_dict"}), a safetensors file, or a pickled timm module."""

from __future__ import annotations

from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from core.errors import BadInput, Unsupported
from core.spec import ExportSpec, OnnxConfig
from exporters.loaders.base import LoadedModel, family_opset
from exporters.preprocessing import verify
from exporters.preprocessing.timm import read as read_preprocessing

# timm families (model modules, or architecture patterns within one) that cannot be exported
# yet, and why; checked before any weights are read into a model. Found by the zoo
# (tests/zoo/timm_zoo.py, make test-zoo).
_ENCODER = ("a vision encoder for a language model, with no classifier head (num_classes 0); "
            "Slipway exports image classifiers")
REFUSED: dict[str, str] = {
    "deepseek_vit": _ENCODER,
    "gemma4_vit": _ENCODER,
    "qwen3_vit": _ENCODER,
}
# what the ONNX-based routes (onnx, openvino, tflite, tensorrt) cannot take; TorchScript and
# Core ML trace the module and are not refused
NO_ONNX: dict[str, str] = {
    "*halo*": "torch.onnx cannot export the halo attention's Tensor.unfold over a padded input "
                "('ONNX export of operator Unfold, input size not accessible'); byoanet's other "
                "architectures (botnet, lambda_resnet, ...) are not refused",
}
# families onnx2tf or TensorFlow's converter cannot take to TFLite, and why (found by the zoo)
NO_TFLITE: dict[str, str] = {
    "sknet": "onnx2tf cannot convert its selective-kernel attention (the two branches stacked in a 5-D "
             "tensor and weighted there: its broadcasting of that product fails)",
    "csatv2": "TensorFlow's converter crashes (a segmentation fault) on its graph",
    "volo": "onnx2tf cannot convert its outlook attention (the patches folded back with col2im, then "
            "reshaped: the reshape fails)",
}
# families whose graph needs a newer ONNX opset than the default, and why
MIN_OPSET: dict[str, tuple[int, str]] = {
    "volo": (18, "VOLO's outlook attention folds patches back with col2im, an ONNX operator since opset 18"),
}
ONNX_ROUTES = ("onnx", "openvino", "tflite", "tensorrt")


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


def _check_arch(arch: str, export_format: str | None = None) -> None:
    """A known architecture, and for ``arch.tag`` a known pretrained configuration; then the
    families that cannot be exported, refused before anything is built."""
    import timm
    from timm.models import get_arch_name, get_pretrained_cfg

    if not timm.is_model(arch):
        close = timm.list_models(f"*{arch.split('_')[0]}*")[:5]
        hint = f" (did you mean one of: {', '.join(close)}?)" if close else ""
        raise BadInput(f"model_name: '{arch}' is not a timm architecture{hint}")
    if "." in arch:
        try:
            get_pretrained_cfg(arch)
        except RuntimeError:
            base = get_arch_name(arch)
            tags = ", ".join(timm.list_pretrained(f"{base}.*")[:8]) or "none"
            raise BadInput(f"model_name: '{arch}' names no pretrained configuration of {base} "
                           f"(its tags: {tags})") from None
    refuse_family(arch, export_format)


def refuse_family(arch: str, export_format: str | None = None) -> None:
    """Unsupported (exit 3) for an architecture that cannot be exported yet (to this format):
    its whole family (a timm model module) or the architectures a pattern names."""
    import timm
    from timm.models import get_arch_name, is_model_in_modules

    name = get_arch_name(arch)
    by_route = {**(NO_ONNX if export_format in ONNX_ROUTES else {}),
                **(NO_TFLITE if export_format == "tflite" else {})}
    for key, reason in {**REFUSED, **by_route}.items():
        if fnmatch(name, key) or is_model_in_modules(name, [key]):
            family = next((m for m in timm.list_modules() if is_model_in_modules(name, [m])), key)
            route = f" to {export_format}" if key in by_route else ""
            way_out = "; export to ONNX, OpenVINO or TorchScript instead" if key in NO_TFLITE else ""
            raise Unsupported(f"timm '{name}' (family {family}) cannot be exported{route} yet: "
                              f"{reason}{way_out}")


def min_opset(arch: str) -> tuple[int, str] | None:
    """The opset the architecture's family needs (MIN_OPSET), if newer than the default."""
    from timm.models import get_arch_name, is_model_in_modules

    name = get_arch_name(arch)
    return next((need for family, need in MIN_OPSET.items() if is_model_in_modules(name, [family])), None)


def exportable_attention(module: Any) -> None:
    """Attention without torch's fused kernel (F.scaled_dot_product_attention), which the
    ONNX exporter cannot trace for every family (eva02: 'is_causal must be bool, not
    Tensor'); the explicit softmax(q·kᵀ)·v computes the same."""
    for sub in module.modules():
        if isinstance(getattr(sub, "fused_attn", None), bool):
            sub.fused_attn = False


def _create(arch: str, **kwargs: Any) -> Any:
    """timm.create_model in timm's export mode (set_layer_config(exportable=True)): no fused
    attention, export-friendly layers; the arch.tag's pretrained config is the model's."""
    import timm
    from timm.layers import set_layer_config

    with set_layer_config(exportable=True):
        model = timm.create_model(arch, pretrained=False, **kwargs)
    exportable_attention(model)
    return model


def _build(arch: str, state: dict[str, Any], export_format: str | None = None) -> Any:
    """The architecture with the weights loaded; the class count comes from the weights."""
    _check_arch(arch, export_format)
    state = {k.removeprefix("module."): v for k, v in state.items()}
    model = _create(arch)
    head = model.pretrained_cfg.get("classifier") or "fc"
    head = head[0] if isinstance(head, (list, tuple)) else head
    weight = state.get(f"{head}.weight")
    if weight is not None and int(weight.shape[0]) != model.num_classes:
        model = _create(arch, num_classes=int(weight.shape[0]))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        if weight is None and _fits_headless(arch, state):
            raise Unsupported(f"the weights of timm '{arch}' have no classifier head (a feature "
                              "extractor); Slipway exports classifiers: export weights with a head") from None
        first = str(err).splitlines()[0]
        raise BadInput(
            f"the weights do not fit timm architecture '{arch}': {first} — check --model-name"
        ) from None
    return model


def _fits_headless(arch: str, state: dict[str, Any]) -> bool:
    """The weights are the architecture without its classifier (num_classes 0)."""
    try:
        _create(arch, num_classes=0).load_state_dict(state, strict=True)
    except RuntimeError:
        return False
    return True


def load(spec: ExportSpec, checkpoint: Path, work: Path) -> LoadedModel:
    import timm

    if spec.model_name:  # a family that cannot be exported is refused before the weights are read
        _check_arch(spec.model_name, spec.export_format)
    state, module, arch_in_file = _read_checkpoint(checkpoint)
    arch = spec.model_name or arch_in_file
    if module is None:
        if arch is None:
            raise BadInput(
                f"{checkpoint.name} is a bare state dict: name its timm architecture with "
                "--model-name (e.g. resnet18, mobilenetv3_small_100)"
            )
        assert state is not None
        module = _build(arch, state, spec.export_format)
    else:  # a pickled module: built with whatever attention its author had
        exportable_attention(module)
    arch = arch or getattr(module, "default_cfg", {}).get("architecture", type(module).__name__)
    if not spec.model_name and arch_in_file:  # named inside the file: the same checks, now
        _check_arch(arch, spec.export_format)
    if not int(getattr(module, "num_classes", 0) or 0):
        raise Unsupported(f"timm model '{arch}' has no classifier head (num_classes 0: a feature "
                          "extractor); Slipway exports classifiers: use a configuration or weights with "
                          "a head")
    module = module.float().eval()
    need = min_opset(str(arch))
    if isinstance(spec.export_config, OnnxConfig):  # an opset the graph cannot be written in: refused now
        family_opset(need, spec.export_config.opset_version)
    # timm's own data config (--imgsz overrides its size) and the eval transform it builds
    pre = read_preprocessing(module, spec.input_size)
    verify(pre)
    if pre.input_size is None:
        raise Unsupported(f"{pre.preprocessing.source}: the input size would follow each image")
    h, w = pre.input_size
    num_classes = int(module.num_classes)
    names = spec.class_names or _labels_beside(checkpoint, num_classes)
    if len(names) != num_classes:
        raise BadInput(f"class_names has {len(names)} names; the model has {num_classes} outputs")
    return LoadedModel(
        framework="timm",
        framework_version=timm.__version__,
        task="classify",
        model_name=str(arch),
        module=module,
        class_names=names,
        input_size=(int(h), int(w)),
        preprocessing=pre.section(),
        postprocessing={"type": "logits", "top_k": min(5, num_classes)},
        input_name="input",
        output_names=["logits"],
        framework_preprocess=pre.framework_preprocess,
        checkpoint=checkpoint,
        min_opset=need,
    )


def _labels_beside(checkpoint: Path, count: int) -> list[str]:
    """labels.txt next to the checkpoint names the classes; otherwise class_0, class_1 …"""
    labels = checkpoint.parent / "labels.txt"
    if labels.is_file():
        names = [line.strip() for line in labels.read_text(encoding="utf-8").splitlines() if line.strip()]
        if len(names) == count:
            return names
    return [f"class_{i}" for i in range(count)]
