"""OpenVINO IR (model.xml + model.bin): Ultralytics' own exporter, or from an ONNX model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.errors import InternalError
from core.spec import ExportSpec, OpenVinoConfig
from exporters.loaders.base import LoadedModel
from exporters.steps.ultralytics import export_with_ultralytics


def _config(spec: ExportSpec) -> OpenVinoConfig:
    cfg = spec.export_config
    assert isinstance(cfg, OpenVinoConfig)
    return cfg


def _reverse_input_channels(ov_model: Any) -> Any:
    """The model then takes BGR planes (OpenCV's order); metadata.json says so too."""
    import openvino as ov

    ppp = ov.preprocess.PrePostProcessor(ov_model)
    ppp.input().tensor().set_layout(ov.Layout("NCHW"))
    ppp.input().preprocess().reverse_channels()
    return ppp.build()


def _save(ov_model: Any, cfg: OpenVinoConfig, target: Path) -> Path:
    import openvino as ov

    if cfg.reverse_input_channels:
        ov_model = _reverse_input_channels(ov_model)
    target.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(ov_model, str(target), compress_to_fp16=cfg.precision == "FP16")
    if not target.with_suffix(".bin").is_file():
        raise InternalError(f"OpenVINO wrote {target.name} without its weights file")
    return target


def onnx2openvino(model: LoadedModel, spec: ExportSpec, source: Path | None, work: Path) -> Path:
    import openvino as ov

    assert source is not None and source.suffix == ".onnx"
    return _save(ov.convert_model(str(source)), _config(spec), work / "openvino" / "model.xml")


def ultralytics2openvino(
    model: LoadedModel, spec: ExportSpec, source: Path | None, work: Path
) -> Path:
    import openvino as ov

    cfg = _config(spec)
    folder = export_with_ultralytics(model, spec, format="openvino", half=cfg.precision == "FP16")
    xml = next(folder.glob("*.xml"), None) if folder.is_dir() else None
    if xml is None:
        raise InternalError(f"Ultralytics reported success but wrote no OpenVINO model in {folder}")
    if not cfg.reverse_input_channels:
        return xml
    ov_model = ov.Core().read_model(str(xml))
    return _save(ov_model, cfg, work / "openvino" / "model.xml")
