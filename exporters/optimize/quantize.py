"""Quantize an exported model file in place: the quantizers the format plug-ins register.

Runs at the end of the convert stage, on the float model the converter wrote,
with the package's draft metadata (so calibration images go through exactly the
model's preprocessing). Returns what optimization_stats reports.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.registry import move_model
from core.spec import ExportSpec, QuantizationConfig
from exporters.optimize import onnx_quant
from exporters.optimize.agreement import AgreementProbe
from exporters.optimize.calibration import calibration_images, calibration_tensors
from exporters.optimize.speed import interleaved_latencies


@dataclass
class QuantizationJob:
    """Everything a quantizer needs; ``wrapper`` runs the float model with its metadata."""

    model_file: Path  # the package's model: the float export now, the quantized one after
    source: Path  # the float export, kept aside so a fallback can quantize it again
    spec: ExportSpec
    config: QuantizationConfig
    wrapper: Any
    task: str
    work: Path
    exclude: list[str] = field(default_factory=list)
    tensors: list[Any] = field(default_factory=list)  # calibration tensors, once read
    probe: AgreementProbe | None = None
    ranges: Path | None = None  # ONNX Runtime's activation ranges, calibrated once
    setting: onnx_quant.Setting | None = None  # the static INT8 setting chosen by measuring
    seconds: dict[str, float] = field(default_factory=dict)  # time spent per step
    calibrations: int = 0  # passes of the calibration images through the model for ranges

    def calibration(self) -> tuple[list[Any], AgreementProbe]:
        if not self.tensors or self.probe is None:
            assert self.config.calibration_data is not None
            with self.timed("read calibration images"):
                images = calibration_images(self.config.calibration_data, self.config.calibration_samples)
                self.tensors = calibration_tensors(self.wrapper, images)
                self.probe = AgreementProbe(self.wrapper, images, self.task)
        return self.tensors, self.probe

    def prepared(self) -> Path:
        """The float model after ONNX Runtime's pre-processing, made once."""
        path = self.work / "float_prepared.onnx"
        if not path.exists():
            with self.timed("pre-process (shape inference, graph optimization)"):
                onnx_quant.prepare(self.source, self.work)
        return path

    def calibrated(self) -> Path:
        """The activation ranges of the prepared model on the calibration images, once per export."""
        if self.ranges is None:
            tensors, _ = self.calibration()
            prepared = self.prepared()
            with self.timed("calibrate"):
                self.ranges = onnx_quant.calibrate(prepared, tensors, self.config, self.work)
            self.calibrations += 1
        return self.ranges

    @contextmanager
    def timed(self, step: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[step] = round(self.seconds.get(step, 0.0) + time.perf_counter() - start, 3)


Quantizer = Callable[[QuantizationJob], dict[str, Any]]


def onnx_dynamic(job: QuantizationJob) -> dict[str, Any]:
    target = job.work / "dynamic.onnx"
    stats = onnx_quant.quantize_dynamic(job.source, target, job.config.dtype)
    return _replace(job, target, stats)


def onnx_fp16(job: QuantizationJob) -> dict[str, Any]:
    target = job.work / "fp16.onnx"
    stats = onnx_quant.to_fp16(job.source, target)
    return _replace(job, target, stats)


def onnx_static(job: QuantizationJob) -> dict[str, Any]:
    """Candidates quantized from one calibration (job.calibrated), timed together; a fallback
    step keeps the chosen setting and only adds float nodes."""
    tensors, probe = job.calibration()
    ranges = job.calibrated()
    target = job.work / "static.onnx"
    tail = onnx_quant.postprocessing_nodes(job.prepared())
    exclude = tail + [n for n in job.exclude if n not in tail]

    def measure(paths: list[Path]) -> list[float]:
        return interleaved_latencies(job.wrapper, paths, tensors[0])

    with job.timed("quantize candidates" if job.setting is None else "quantize fallback steps"):
        stats, job.setting = onnx_quant.quantize_static(
            job.prepared(), target, ranges, job.config, probe, measure, exclude, job.setting
        )
    stats.update(
        postprocessing_in_float=tail, calibration_images=len(tensors), calibration_passes=job.calibrations
    )
    return _replace(job, target, stats)


def openvino_static(job: QuantizationJob) -> dict[str, Any]:
    """NNCF post-training quantization of the IR, its options fitted and measured
    (openvino_quant); the decoding tail stays float, as for ONNX."""
    from exporters.optimize import openvino_quant

    tensors, probe = job.calibration()

    def measure(paths: list[Path]) -> list[float]:
        return interleaved_latencies(job.wrapper, paths, tensors[0])

    with job.timed("quantize candidates"):
        target, stats = openvino_quant.quantize_candidates(
            job.source, job.work, tensors, job.exclude, probe, measure
        )
    return _replace(job, target, stats)


def _replace(job: QuantizationJob, target: Path, stats: dict[str, Any]) -> dict[str, Any]:
    """Put the quantized file in the package (its speed is the speed gate's to measure)."""
    move_model(target, job.model_file, copy=True)
    return stats


def _tflite(job: QuantizationJob, mode: str) -> dict[str, Any]:
    """Convert the kept SavedModel again with TensorFlow's quantization options."""
    import numpy as np

    from exporters.steps.tflite import run_tf_convert

    saved_model = job.work / "saved_model"
    extra = ["--quantization", mode, "--saved-model", str(saved_model.resolve())]
    stats: dict[str, Any] = {"method": job.config.method, "tool": f"TensorFlow Lite converter ({mode})"}
    if mode == "int8":
        tensors, _ = job.calibration()
        representative = job.work / "representative.npy"
        np.save(representative, np.concatenate(tensors).astype(np.float32))
        extra += ["--representative", str(representative.resolve())]
        stats["calibration_images"] = len(tensors)
    supported = list(getattr(job.spec.export_config, "supported_ops", ["TFLITE_BUILTINS"]))
    target = run_tf_convert(None, job.work / f"tflite-{mode}", supported, *extra)
    if job.config.calibration_data is not None:
        _, probe = job.calibration()
        stats["agreement"] = round(probe(target), 4)
    return _replace(job, target, stats)


def tflite_dynamic(job: QuantizationJob) -> dict[str, Any]:
    return _tflite(job, "dynamic")


def tflite_fp16(job: QuantizationJob) -> dict[str, Any]:
    return _tflite(job, "fp16")


def tflite_static(job: QuantizationJob) -> dict[str, Any]:
    return _tflite(job, "int8")


def quantizer_for(spec: ExportSpec) -> Quantizer | None:
    """The post-conversion quantizer of the spec's format and method, from the format's plug-in;
    None when the converter itself applies the method (the descriptor says which: Core ML
    FP16). A method the format lacks was refused before the job (core.offers)."""
    from exporters.formats import plugin

    cfg = spec.optimization_config.quantization
    assert cfg is not None
    if cfg.method in spec.format.quantized_at_conversion:
        return None
    return plugin(spec.export_format).quantizers[cfg.method]


def start_job(model_file: Path, spec: ExportSpec, wrapper: Any, task: str, work: Path) -> QuantizationJob:
    """Set the float export aside; the quantizer writes the package's model file."""
    config = spec.optimization_config.quantization
    assert config is not None
    work.mkdir(parents=True, exist_ok=True)
    source = work / f"float{model_file.suffix}"
    move_model(model_file, source, copy=True)
    return QuantizationJob(model_file, source, spec, config, wrapper, task, work)
