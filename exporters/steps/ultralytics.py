"""Ultralytics' own exporter, run on a private copy of the checkpoint."""

from __future__ import annotations

from pathlib import Path

from core.errors import BadInput, InternalError
from core.spec import ExportSpec, OnnxConfig, TorchScriptConfig
from exporters.loaders.base import LoadedModel
from exporters.steps.pytorch import optimize_torchscript_for_mobile


def _export(model: LoadedModel, spec: ExportSpec, **kwargs: object) -> Path:
    h, _w = model.input_size
    written = model.handle.export(imgsz=h, batch=spec.batch_size, device="cpu", verbose=False, **kwargs)
    path = Path(str(written)) if written else None
    if path is None or not path.exists() or path.stat().st_size == 0:
        raise InternalError(f"Ultralytics reported success but wrote no model file ({written!r})")
    return path


def ultralytics2onnx(model: LoadedModel, spec: ExportSpec, source: Path | None, work: Path) -> Path:
    cfg = spec.export_config
    assert isinstance(cfg, OnnxConfig)
    if isinstance(cfg.dynamic_axes, dict):
        raise BadInput("export_config.dynamic_axes: Ultralytics' exporter makes batch, height and "
                       "width dynamic together; use dynamic_axes: true")
    return _export(model, spec, format="onnx", opset=cfg.opset_version, simplify=cfg.simplify,
                   dynamic=bool(cfg.dynamic_axes), nms=cfg.embed_nms)


def ultralytics2torchscript(
    model: LoadedModel, spec: ExportSpec, source: Path | None, work: Path
) -> Path:
    cfg = spec.export_config
    assert isinstance(cfg, TorchScriptConfig)
    path = _export(model, spec, format="torchscript")
    if cfg.optimize_for_mobile:
        optimize_torchscript_for_mobile(path)
    return path
