"""Hugging Face → ONNX: torch.onnx.export of the loaded head module, at the processor's size.

The loader's module takes ``pixel_values`` and returns the named outputs in order, so
the graph is exported at exactly the tensor size the image processor produces (not a
default of the exporter's), for every head: classification, set-prediction detection
and semantic segmentation. A processor whose output size follows the image (DETR's
shortest/longest edge) gives a graph with dynamic height and width, traced at batch 1.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from core.errors import BadInput, InternalError
from core.spec import ExportSpec
from exporters.loaders.base import LoadedModel
from exporters.steps import onnx_config, onnx_opset
from exporters.steps.tracing import float_sampling_grids, traceable

# outputs whose spatial axes follow the input's when the input size varies
SPATIAL_OUTPUTS = {"semantic": ("logits",)}


def dynamic_axes(model: LoadedModel, requested: bool | dict[str, list[int]],
                 variable_size: bool) -> dict[str, dict[int, str]] | None:
    """export_config.dynamic_axes per tensor (True: the batch axis of every tensor), plus
    height and width wherever they follow the image."""
    names = [model.input_name, *model.output_names]
    axes: dict[str, dict[int, str]] = {}
    if requested is True:
        axes = {name: {0: "batch"} for name in names}
    elif isinstance(requested, dict):
        unknown = set(requested) - set(names)
        if unknown:
            raise BadInput(f"export_config.dynamic_axes names {sorted(unknown)}; this model's tensors "
                           f"are {sorted(names)}")
        axes = {name: {int(a): f"{name}_{a}" for a in dims} for name, dims in requested.items()}
    if variable_size:
        axes.setdefault(model.input_name, {}).update({2: "height", 3: "width"})
        for name in SPATIAL_OUTPUTS.get(model.task, ()):
            axes.setdefault(name, {}).update({2: f"{name}_height", 3: f"{name}_width"})
    return axes or None


def hf2onnx(model: LoadedModel, spec: ExportSpec, source: Path | None, work: Path) -> Path:
    import torch

    cfg = onnx_config(spec)
    opset = onnx_opset(model, spec)
    variable_size = model.preprocessing.get("input_size") is None
    path = work / "model.onnx"
    path.parent.mkdir(parents=True, exist_ok=True)
    batch = 1 if variable_size else spec.batch_size
    try:
        with warnings.catch_warnings(), traceable(model.module, fixed_size=not variable_size):
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model.module.eval(),
                (model.dummy_input(batch),),
                str(path),
                opset_version=opset,
                input_names=[model.input_name],
                output_names=model.output_names,
                dynamic_axes=dynamic_axes(model, cfg.dynamic_axes, variable_size),
                do_constant_folding=True,
                dynamo=False,
            )
    except (RuntimeError, ValueError, TypeError, NotImplementedError) as err:  # the exporter's own errors
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InternalError(f"torch.onnx.export failed for Hugging Face {model.model_name} "
                            f"({model.task}): {first}") from err
    float_sampling_grids(path)
    if cfg.simplify:
        from exporters.steps.pytorch import _simplify  # onnxslim, as for timm

        _simplify(path)
    return path
