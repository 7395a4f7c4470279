"""Ultralytics' own exporter, run on a private copy of the checkpoint."""

from __future__ import annotations

from pathlib import Path

from core.errors import BadInput, InternalError
from core.spec import ExportSpec, TorchScriptConfig
from exporters.loaders.base import LoadedModel
from exporters.loaders.ultralytics import head_kind
from exporters.steps import onnx_config
from exporters.steps.pytorch import optimize_torchscript_for_mobile


def nms_argument(model: LoadedModel, embed: bool) -> bool | None:
    """Ultralytics' ``nms``: True puts NMS in the graph; False exports an NMS-free head's
    one-to-one branch (YOLOv10, YOLO26), which the loader made the reference too; None (its
    default) the grid of the one-to-many branch, for NMS outside the graph."""
    if embed:
        return True
    return False if head_kind(model.handle.model) == "end2end" else None


def export_with_ultralytics(model: LoadedModel, spec: ExportSpec, **kwargs: object) -> Path:
    """Run ``YOLO.export``; the file or folder it wrote, checked to exist and not be empty."""
    h, _w = model.input_size
    kwargs["nms"] = nms_argument(model, bool(kwargs.pop("nms", False)))
    written = model.handle.export(imgsz=h, batch=spec.batch_size, device="cpu", verbose=False, **kwargs)
    path = Path(str(written)) if written else None
    empty = path is not None and path.is_dir() and not any(path.iterdir())
    if path is None or not path.exists() or path.stat().st_size == 0 or empty:
        raise InternalError(f"Ultralytics reported success but wrote no model file ({written!r})")
    return path


def ultralytics2onnx(model: LoadedModel, spec: ExportSpec, source: Path | None, work: Path) -> Path:
    cfg = onnx_config(spec)
    if isinstance(cfg.dynamic_axes, dict):
        raise BadInput("export_config.dynamic_axes: Ultralytics' exporter makes batch, height and "
                       "width dynamic together; use dynamic_axes: true")
    return export_with_ultralytics(model, spec, format="onnx", opset=cfg.opset_version, simplify=cfg.simplify,
                   dynamic=bool(cfg.dynamic_axes), nms=cfg.embed_nms)


def ultralytics2torchscript(
    model: LoadedModel, spec: ExportSpec, source: Path | None, work: Path
) -> Path:
    cfg = spec.export_config
    assert isinstance(cfg, TorchScriptConfig)
    path = export_with_ultralytics(model, spec, format="torchscript")
    if cfg.optimize_for_mobile:
        optimize_torchscript_for_mobile(path)
    return path
