"""TensorRT's plug-in: an engine built from ONNX on this machine's GPU; the package also
carries the ONNX model and build_engine.sh to rebuild it on the target."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.spec import ExportSpec
from exporters.formats import FormatPlugin, IOSpec, register
from exporters.formats.onnx import describe_onnx
from exporters.loaders.base import LoadedModel
from exporters.steps.tensorrt import onnx2tensorrt


def describe(model: LoadedModel, path: Path, spec: ExportSpec) -> IOSpec:
    """Engines hold engine bytes only: the ONNX model beside it says what goes in and out."""
    return describe_onnx(path.with_suffix(".onnx"))


def package_extras(package_dir: Path, metadata: dict[str, Any]) -> None:
    from wrappers.render import render_build_engine

    script = package_dir / "build_engine.sh"
    script.write_text(render_build_engine(metadata), encoding="utf-8")
    script.chmod(0o755)


TENSORRT = register(FormatPlugin(
    name="tensorrt",
    describe=describe,
    steps={"onnx2tensorrt": onnx2tensorrt},
    package_extras=package_extras,
))
