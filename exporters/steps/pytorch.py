"""Generic PyTorch conversions: torch.onnx (TorchScript-based exporter) and TorchScript."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from core.errors import BadInput, Unsupported
from core.spec import ExportSpec, OnnxConfig, TorchScriptConfig
from exporters.loaders.base import LoadedModel
from exporters.steps import onnx_config, onnx_opset
from exporters.steps.tracing import traceable


def _dynamic_axes(model: LoadedModel, cfg: OnnxConfig) -> dict[str, dict[int, str]] | None:
    if cfg.dynamic_axes is False:
        return None
    if cfg.dynamic_axes is True:  # batch only: the preprocessing fixes height and width
        names = [model.input_name, *model.output_names]
        return {name: {0: "batch"} for name in names}
    known = {model.input_name, *model.output_names}
    unknown = set(cfg.dynamic_axes) - known
    if unknown:
        raise BadInput(
            f"export_config.dynamic_axes names {sorted(unknown)}; this model's tensors are "
            f"{sorted(known)}"
        )
    return {name: {int(a): f"{name}_{a}" for a in axes} for name, axes in cfg.dynamic_axes.items()}


def torch2onnx(model: LoadedModel, spec: ExportSpec, source: Path | None, work: Path) -> Path:
    import torch

    cfg = onnx_config(spec)
    path = work / "model.onnx"
    dynamic = cfg.dynamic_axes if isinstance(cfg.dynamic_axes, dict) else {}
    fixed_size = all(axis < 2 for axis in dynamic.get(model.input_name, []))
    with warnings.catch_warnings(), traceable(model.module, fixed_size):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model.module,
            (model.dummy_input(spec.batch_size),),
            str(path),
            opset_version=onnx_opset(model, spec),
            input_names=[model.input_name],
            output_names=model.output_names,
            dynamic_axes=_dynamic_axes(model, cfg),
            do_constant_folding=True,
            dynamo=False,
        )
    if cfg.simplify:
        _simplify(path)
    return path


def _simplify(path: Path) -> None:
    """Fold constants and drop redundant nodes with onnxslim when it is installed."""
    try:
        import onnxslim
    except ImportError:
        return
    import onnx

    slim = onnxslim.slim(onnx.load(str(path)))
    if slim is not None:
        onnx.save(slim, str(path))


def torch2torchscript(model: LoadedModel, spec: ExportSpec, source: Path | None, work: Path) -> Path:
    import torch

    cfg = spec.export_config
    assert isinstance(cfg, TorchScriptConfig)
    path = work / "model.torchscript"
    module: Any = model.module
    try:
        # Hugging Face LeViT caches its attention biases (derived from parameters) on its first
        # call in eval mode: one call first, without gradients, so the trace records the steady
        # graph (the first call's differs, and the tracer's check fails) and that cached tensor
        # is a plain constant (with gradients it cannot be one)
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            if cfg.method == "script":
                scripted = torch.jit.script(module)
            else:
                example = model.dummy_input(spec.batch_size)
                module(example)
                scripted = torch.jit.trace(module, example, strict=False)
    except Exception as err:  # TorchScript raises many unrelated types
        alternative = "trace" if cfg.method == "script" else "script"
        raise Unsupported(
            f"TorchScript {cfg.method} failed for this model ({str(err).splitlines()[0]}); "
            f"try export_config.method '{alternative}'"
        ) from err
    parity = spec.parity_for_precision()
    scripted, note = freeze_checked(scripted.eval(), _gate_inputs(model, spec), parity.atol, parity.rtol)
    if note:
        model.notes.append(note)
    torch.jit.save(scripted, str(path))
    if cfg.optimize_for_mobile:
        optimize_torchscript_for_mobile(path)
    return path


def optimize_torchscript_for_mobile(path: Path) -> None:
    """Apply PyTorch's mobile passes in place; the result still loads with torch.jit.load."""
    import torch
    from torch.utils.mobile_optimizer import optimize_for_mobile

    if not xnnpack_available():
        raise Unsupported(
            f"export_config.optimize_for_mobile needs a PyTorch build with XNNPACK; this torch "
            f"{torch.__version__} has none. Export without it, or on a machine whose torch has it"
        )
    module = torch.jit.load(str(path), map_location="cpu")
    torch.jit.save(optimize_for_mobile(module), str(path))


def xnnpack_available() -> bool:
    """PyTorch's mobile passes need XNNPACK, which some builds (CUDA wheels) leave out."""
    import torch

    probe = getattr(torch._C, "_is_xnnpack_enabled", None)
    return bool(probe and probe())


def _tensors(out: Any) -> list[Any]:
    """The tensors of a module's output (a tensor, or tuples, lists and dicts of them)."""
    if isinstance(out, dict):
        return [t for v in out.values() for t in _tensors(v)]
    if isinstance(out, (list, tuple)):
        return [t for v in out for t in _tensors(v)]
    return [out] if hasattr(out, "abs") else []


def freeze_checked(scripted: Any, inputs: Iterable[Any], atol: float | None, rtol: float | None
                   ) -> tuple[Any, str | None]:
    """``torch.jit.freeze`` with its numerics optimizations (batch norms folded into the
    convolutions: 3-10% faster on CPU), unless on ``inputs`` they move an output by more than
    half the parity tolerance ``atol + rtol·max|output|`` (an ill-conditioned network: folding
    rescales weights by gamma/sqrt(var)); then frozen without them, exactly. Returns the module
    and, when it was frozen exactly, why."""
    import torch

    folded = torch.jit.freeze(scripted)
    if atol is None or rtol is None:
        return folded, None
    with torch.no_grad():
        for x in inputs:
            for ref, got in zip(_tensors(scripted(x)), _tensors(folded(x)), strict=True):
                tolerance = atol + rtol * float(ref.abs().max())
                drift = float((ref.float() - got.float()).abs().max())
                if drift > tolerance / 2:
                    return torch.jit.freeze(scripted, optimize_numerics=False), (
                        f"TorchScript frozen without folding batch norms: folded, an output moved by "
                        f"{drift:.3g} on a parity image (tolerance {tolerance:.3g})")
    return folded, None


def _gate_inputs(model: LoadedModel, spec: ExportSpec) -> Iterator[Any]:
    """The parity gate's images as the export's input tensors (metadata.json's preprocessing)."""
    import torch

    from exporters.images import parity_images
    from exporters.preprocessing import tensor_preprocessor

    preprocess = tensor_preprocessor(model.preprocessing)
    for _, rgb in parity_images(spec, model.task):
        yield torch.from_numpy(preprocess(rgb)[0]).repeat(spec.batch_size, 1, 1, 1)
