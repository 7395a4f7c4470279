"""One export's state as it moves through the stages, and the metadata.json it makes.

Every stage (exporters/pipeline.py) reads and fills this one context; the format's
plug-in (exporters/formats/) does what differs between formats.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from core.checkpoint import CheckpointInfo
from core.datasets import Dataset
from core.metadata import build_metadata
from core.paths import sha256_of
from core.protocol import STAGING_DIR
from core.registry import Route
from core.spec import ExportSpec
from exporters.emitter import Emitter
from exporters.formats import FormatPlugin, IOSpec, plugin
from exporters.loaders.base import LoadedModel
from exporters.optimize.quantize import QuantizationJob

ENVIRONMENT_PACKAGES = (
    "torch", "torchvision", "onnx", "onnxruntime", "onnxslim", "ultralytics", "timm",
    "transformers", "optimum", "optimum-onnx", "numpy", "opencv-python-headless", "openvino",
    "tensorflow", "onnx2tf", "ai-edge-litert", "coremltools", "tensorrt",
)


def environment() -> dict[str, str]:
    versions = {"python": platform.python_version(), "platform": platform.platform()}
    for name in ENVIRONMENT_PACKAGES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            continue
    return versions


@dataclass
class ExportContext:
    spec: ExportSpec
    out_dir: Path
    emitter: Emitter
    # load
    info: CheckpointInfo | None = None
    framework: str = ""
    route: Route | None = None
    model: LoadedModel | None = None
    dataset: Dataset | None = None
    original_size: int = 0
    # optimize, convert
    prune_stats: dict[str, Any] | None = None
    model_file: Path | None = None
    io: IOSpec | None = None
    quantization: QuantizationJob | None = None
    quant_stats: dict[str, Any] | None = None
    # gates
    parity: dict[str, Any] = field(default_factory=dict)
    validation: dict[str, Any] | None = None
    speed: dict[str, Any] | None = None  # the speed gate's report (None: nothing optimized)

    @property
    def staging(self) -> Path:
        return self.out_dir / STAGING_DIR

    @property
    def plugin(self) -> FormatPlugin:
        return plugin(self.spec.export_format)

    @property
    def loaded(self) -> LoadedModel:
        assert self.model is not None, "the load stage has not run"
        return self.model

    @property
    def file(self) -> Path:
        assert self.model_file is not None, "the convert stage has not run"
        return self.model_file

    def describe(self) -> None:
        """Read the written file's inputs and outputs (after conversion, and again after quantizing)."""
        self.io = self.plugin.describe(self.loaded, self.file, self.spec)

    def preprocessing(self) -> dict[str, Any]:
        """The model's preprocessing, as this export's file expects its input."""
        assert self.io is not None
        pre = {**self.loaded.preprocessing, "embedded": self.io[0]["dtype"] == "uint8"}
        if self.plugin.adjust_preprocessing is not None:
            pre = self.plugin.adjust_preprocessing(pre, self.spec)
        return pre

    def metadata(self, parity: dict[str, Any]) -> dict[str, Any]:
        """metadata.json for the export as it stands, with this parity report."""
        model, spec, info = self.loaded, self.spec, self.info
        assert info is not None and self.io is not None
        input_spec, outputs = self.io
        latency = parity.get("latency_ms_median")
        return build_metadata(
            model_info={"framework": model.framework, "task": model.task, "model_name": model.model_name,
                        "export_format": spec.export_format, "model_file": self.file.name},
            preprocessing=self.preprocessing(),
            postprocessing=model.postprocessing,
            input_spec=input_spec,
            outputs=outputs,
            class_names=model.class_names,
            source={"checkpoint": str(info.path), "checkpoint_name": info.path.name,
                    "sha256": sha256_of(info.path), "kind": info.kind, "framework": model.framework,
                    "framework_version": model.framework_version},
            export=spec.model_dump(mode="json", exclude_none=True),
            parity=parity,
            performance={
                "inference_latency_ms": latency,
                "throughput_fps": round(1000 / latency, 1) if latency else None,
                "hardware": platform.processor() or platform.machine(),
                "batch_size": 1,
                "measured_during": "parity gate, median over its images, 2 threads, wrapper included",
            },
            environment=environment(),
            runtime={"format": spec.export_format, "precision": spec.precision,
                     **spec.format.runtime_section(spec.export_config, parity)},
        )
