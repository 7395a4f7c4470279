"""Hugging Face → ONNX through Optimum's exporter (optimum-onnx)."""

from __future__ import annotations

from pathlib import Path

from core.errors import InternalError, missing_extra
from core.spec import ExportSpec
from exporters.loaders.base import LoadedModel
from exporters.steps import onnx_config


def hf2onnx(model: LoadedModel, spec: ExportSpec, source: Path | None, work: Path) -> Path:
    if model.unpruned is not None:  # Optimum re-reads the checkpoint: export the pruned module
        from exporters.steps.pytorch import torch2onnx

        return torch2onnx(model, spec, source, work)
    cfg = onnx_config(spec)
    try:
        from optimum.exporters.onnx import main_export
    except ImportError:
        raise missing_extra("optimum-onnx", "huggingface") from None
    out = work / "optimum"
    main_export(
        str(model.handle),
        output=str(out),
        task="image-classification",
        opset=cfg.opset_version,
        device="cpu",
        local_files_only=True,
        do_validation=False,  # Slipway's parity gate checks it, on real images
        no_dynamic_axes=not cfg.dynamic_axes,
        library_name="transformers",
        batch_size=spec.batch_size,  # Optimum's dummy inputs default to batch 2
    )
    path = out / "model.onnx"
    if not path.exists():
        raise InternalError("Optimum reported success but wrote no model.onnx")
    return path
