"""One export, stage by stage: load, optimize, convert, parity, validate, package.

Everything is written to a staging folder inside the output directory and moved
into place only when every stage has passed, so a failed export never leaves
files that look like a finished package.
"""

from __future__ import annotations

import json
import platform
import shutil
from collections.abc import Callable
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from core.advice import optimization_warnings
from core.checkpoint import CheckpointInfo, inspect_checkpoint
from core.errors import BadInput, InternalError, Unsupported, ValidationFailed, missing_extra
from core.inference import wrapper_module
from core.metadata import build_metadata
from core.paths import sha256_of, size_of
from core.protocol import STAGING_DIR
from core.registry import (
    FORMAT_SUFFIX,
    Route,
    model_files,
    move_model,
    route_for,
    unavailable_reason,
)
from core.spec import (
    CoreMLConfig,
    ExportSpec,
    OnnxConfig,
    OpenVinoConfig,
    TensorRTConfig,
    TFLiteConfig,
)
from exporters.describe import IOSpec, describe_io
from exporters.emitter import Emitter
from exporters.images import parity_images
from exporters.loaders import LoadedModel, load_model
from exporters.optimize.calibration import calibration_images
from exporters.optimize.fallback import agreement_fallback, can_fall_back, fall_back
from exporters.optimize.prune import prune_model
from exporters.optimize.quantize import (
    QuantizationJob,
    quantized_at_conversion,
    quantizer_for,
    start_job,
)
from exporters.optimize.workspace import QUANTIZATION_WORK
from exporters.package import (
    golden_candidates,
    original_predictor,
    write_metadata,
    write_package,
    zip_package,
)
from exporters.parity import coreml_structure_report, run_parity
from exporters.steps import get_step
from exporters.steps.onnx_compat import make_portable
from exporters.steps.onnx_preprocessing import embed_preprocessing
from exporters.validation import load_validation_data, run_validation

ENVIRONMENT_PACKAGES = (
    "torch", "torchvision", "onnx", "onnxruntime", "onnxslim", "ultralytics", "timm",
    "transformers", "optimum", "optimum-onnx", "numpy", "opencv-python-headless", "openvino",
    "tensorflow", "onnx2tf", "ai-edge-litert", "coremltools", "tensorrt",
)


def resolve_framework(spec: ExportSpec, info: CheckpointInfo) -> str:
    """The spec's framework, checked against what the checkpoint says it is."""
    if spec.framework == "auto":
        return info.framework
    if info.kind == "ultralytics-pickle" and spec.framework != "ultralytics":
        raise BadInput(f"framework: {info.path.name} is an Ultralytics checkpoint, not {spec.framework}")
    if info.kind == "hf-directory" and spec.framework != "huggingface":
        raise BadInput(f"framework: {info.path.name} is a Hugging Face model, not {spec.framework}")
    if info.kind in ("state-dict", "safetensors") and spec.framework == "ultralytics":
        raise BadInput(f"framework: {info.path.name} is a bare state dict, not an Ultralytics checkpoint")
    return spec.framework


def environment() -> dict[str, str]:
    versions = {"python": platform.python_version(), "platform": platform.platform()}
    for name in ENVIRONMENT_PACKAGES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            continue
    return versions


def _check_options(spec: ExportSpec) -> None:
    """Refuse options this build cannot honour before any long work, not after converting."""
    cfg = spec.export_config
    if isinstance(cfg, TFLiteConfig) and cfg.quantization != "none":
        method = {"dynamic": "dynamic", "full_integer": "static"}[cfg.quantization]
        raise BadInput(f"export_config.quantization '{cfg.quantization}': quantize TFLite through "
                       f"optimization_config.quantization (method '{method}'; --int8 {method}), like "
                       "every format, so it is calibrated, measured and validated the same way")
    opt = spec.optimization_config
    if opt.quantization is not None:
        quantizer_for(spec)  # raises Unsupported naming what the format offers


def _check_route(route: Route) -> None:
    """Fail before loading anything when this machine cannot run the route."""
    missing = route.missing_modules()
    if missing:
        raise missing_extra(missing[0], route.extras[-1])
    reason, _ = unavailable_reason(route)
    if reason:
        raise Unsupported(f"{route.framework} → {route.export_format}: {reason}")


# formats whose package also carries the ONNX model they were built from
KEEPS_ONNX = {"tensorrt"}


def _convert(model: LoadedModel, spec: ExportSpec, route: Route, staging: Path,
             emitter: Emitter) -> Path:
    work = staging / "work"
    path: Path | None = None
    for index, name in enumerate(route.steps):
        emitter.progress(index / len(route.steps), f"{name}")
        previous = path
        path = get_step(name)(model, spec, path, work)
        if previous is not None and spec.export_format in KEEPS_ONNX and previous.suffix == ".onnx":
            shutil.copyfile(previous, staging / "model.onnx")
    assert path is not None
    if not path.exists() or (path.is_file() and path.stat().st_size == 0):
        raise InternalError(f"the converter wrote no model file ({path.name})")
    target = staging / f"model{FORMAT_SUFFIX[spec.export_format]}"
    move_model(path, target)
    cfg = spec.export_config
    if isinstance(cfg, OnnxConfig):  # before the parity gate, which proves it changed nothing
        changed = make_portable(target)
        if any(changed.values()):
            emitter.log(f"ONNX graph made readable by OpenCV DNN: {changed}")
    if isinstance(cfg, OnnxConfig) and cfg.embed_preprocessing:
        emitter.progress(0.9, "embedding preprocessing in the graph")
        embed_preprocessing(target, model.input_name, model.preprocessing)
    shutil.rmtree(work, ignore_errors=True)
    return target


def _preprocessing(model: LoadedModel, spec: ExportSpec, input_spec: dict[str, Any]) -> dict[str, Any]:
    """The model's preprocessing, as this export's file expects its input."""
    pre = {**model.preprocessing, "embedded": input_spec["dtype"] == "uint8"}
    cfg = spec.export_config
    if isinstance(cfg, OpenVinoConfig) and cfg.reverse_input_channels:
        pre["format"] = {**pre["format"], "color_space": "BGR"}
    return pre


def _runtime_section(spec: ExportSpec, parity: dict[str, Any]) -> dict[str, Any]:
    """How the package's model must be run to compute what its parity gate checked."""
    section: dict[str, Any] = {"format": spec.export_format, "precision": spec.precision}
    cfg = spec.export_config
    if isinstance(cfg, OpenVinoConfig):
        section["openvino"] = {"INFERENCE_PRECISION_HINT": cfg.inference_precision}
    if isinstance(cfg, CoreMLConfig):
        # Ultralytics' exporter builds for iOS15 whatever is asked; such a model loads on
        # every newer target too, and the package says what it was built for
        section["coreml"] = {"compute_units": cfg.compute_units,
                             "requested_deployment_target": cfg.minimum_deployment_target,
                             "minimum_deployment_target": parity.get("loads_on",
                                                                     cfg.minimum_deployment_target)}
    if isinstance(cfg, TensorRTConfig):
        section["tensorrt"] = {"precision": cfg.precision, "max_batch_size": cfg.max_batch_size,
                               "workspace_size_gb": cfg.workspace_size_gb,
                               "built_on": "this machine's GPU; rebuild with build_engine.sh elsewhere"}
    return section


def _metadata(model: LoadedModel, spec: ExportSpec, model_file: Path, info: CheckpointInfo,
              io: IOSpec, parity: dict[str, Any]) -> dict[str, Any]:
    input_spec, outputs = io
    latency = parity.get("latency_ms_median")
    return build_metadata(
        model_info={
            "framework": model.framework,
            "task": model.task,
            "model_name": model.model_name,
            "export_format": spec.export_format,
            "model_file": model_file.name,
        },
        preprocessing=_preprocessing(model, spec, input_spec),
        postprocessing=model.postprocessing,
        input_spec=input_spec,
        outputs=outputs,
        class_names=model.class_names,
        source={
            "checkpoint": str(info.path),
            "checkpoint_name": info.path.name,
            "sha256": sha256_of(info.path),
            "kind": info.kind,
            "framework": model.framework,
            "framework_version": model.framework_version,
        },
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
        runtime=_runtime_section(spec, parity),
    )


def run_export(spec: ExportSpec, out_dir: Path, emitter: Emitter) -> dict[str, Any]:
    """Run every stage; returns the result event. Raises SlipwayError subclasses."""
    staging = out_dir / STAGING_DIR
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)

    emitter.stage("load", f"reading {spec.checkpoint.name}")
    _check_options(spec)
    info = inspect_checkpoint(spec.checkpoint)
    framework = resolve_framework(spec, info)
    route = route_for(framework, spec.export_format)
    _check_route(route)
    if framework != "ultralytics" and isinstance(spec.export_config, OnnxConfig) and \
            spec.export_config.embed_nms:
        raise BadInput(f"export_config.embed_nms: {framework} models here are classifiers, "
                       "which have no NMS")
    work = staging / "work"
    work.mkdir()
    model = load_model(spec, framework, spec.checkpoint, work)
    emitter.log(f"loaded {framework} {model.task} model '{model.model_name}', "
                f"{len(model.class_names)} classes, input {model.input_size}")
    dataset = load_validation_data(spec, model) if spec.validation_config.enabled else None
    quantization = spec.optimization_config.quantization
    if quantization is not None and quantization.calibration_data is not None:
        calibration_images(quantization.calibration_data, quantization.calibration_samples)
    for warning in optimization_warnings(spec):
        emitter.log(warning, level="warning")
    original_size = size_of(spec.checkpoint)

    emitter.stage("optimize")
    prune_stats: dict[str, Any] | None = None
    pruning = spec.optimization_config.pruning
    if pruning is None:
        emitter.progress(1.0, "no pruning requested")
    else:
        prune_stats = prune_model(model, pruning, emitter.log)
        emitter.log(f"pruned: {prune_stats['method']}, sparsity {prune_stats['sparsity_reached']:.2f}, "
                    f"{prune_stats['parameters_before']:,} → {prune_stats['parameters_after']:,} parameters")

    emitter.stage("convert", f"{framework} → {spec.export_format} via {' → '.join(route.steps)}")
    model_file = _convert(model, spec, route, staging, emitter)
    io = describe_io(model, model_file, spec)
    job: QuantizationJob | None = None
    quant_stats: dict[str, Any] | None = None
    if quantization is not None and (done_by := quantized_at_conversion(spec)):
        quant_stats = {"method": quantization.method, "done_by": done_by}
    elif quantization is not None:
        emitter.progress(0.8, f"quantizing: {quantization.method}")
        draft = _metadata(model, spec, model_file, info, io, {"status": "running"})
        wrapper = wrapper_module().ModelWrapper(model_file, write_metadata(staging, draft), threads=2)
        job = start_job(model_file, spec, wrapper, model.task, staging / QUANTIZATION_WORK)
        quantize = quantizer_for(spec)
        assert quantize is not None
        quant_stats = quantize(job)
        emitter.log(_quantization_summary(quant_stats))
        quant_stats = agreement_fallback(job, quant_stats, emitter.log)
        if (quant_stats.get("speedup") or 1.0) < 1.0:
            emitter.log(f"the quantized model runs slower than the float one on this machine "
                        f"({quant_stats['speedup']:.2f}× its speed): the report shows it; keep FP32 "
                        "or try another format for speed", level="warning")
        io = describe_io(model, model_file, spec)

    emitter.stage("parity", "comparing the export with the original on real images")
    draft = _metadata(model, spec, model_file, info, io, {"status": "running"})
    metadata_path = write_metadata(staging, draft)

    def parity_gate() -> dict[str, Any]:
        if spec.export_format == "coreml":
            return coreml_structure_report(model, model_file, draft)
        return run_parity(model, model_file, metadata_path, spec, emitter.progress)

    parity = _kept_on_failure(parity_gate, out_dir, "parity", "parity_report.json")
    emitter.log(_parity_summary(parity))

    emitter.stage("validate")
    validation: dict[str, Any] | None = None
    if dataset is None:
        emitter.progress(1.0, "no dataset validation requested")
    else:
        def validate() -> dict[str, Any]:
            return run_validation(model, model_file, metadata_path, spec, dataset, emitter.progress)

        try:
            validation = validate()
        except ValidationFailed as err:
            if job is None or quant_stats is None or not can_fall_back(job):
                _keep_report(err, out_dir, "validation", "validation_report.json")
                raise
            emitter.log(f"{err.message}; trying with the most sensitive layers in float")
            failures = [err]

            def judged() -> dict[str, Any]:
                try:
                    return validate()
                except ValidationFailed as again:
                    failures.append(again)
                    return dict(again.details.get("validation", {}))

            settled = fall_back(job, quant_stats, judged, emitter.log)
            if settled is None:
                _keep_report(failures[-1], out_dir, "validation", "validation_report.json")
                raise failures[-1] from None
            validation, quant_stats = settled
            emitter.log("re-checking parity for the model with float layers restored")
            parity = _kept_on_failure(parity_gate, out_dir, "parity", "parity_report.json")
        emitter.log(_validation_summary(validation))
        write_json(staging / "validation_results.json", validation)

    emitter.stage("package", "writing metadata, wrappers and the zip")
    shutil.rmtree(staging / QUANTIZATION_WORK, ignore_errors=True)  # scratch, not package
    model_size = sum(size_of(f) for f in model_files(model_file))
    stats: dict[str, Any] = {
        "original_size_mb": round(original_size / 1e6, 3),
        "exported_size_mb": round(model_size / 1e6, 3),
        "compression_ratio": round(original_size / model_size, 3) if model_size else None,
    }
    if prune_stats is not None:
        stats["pruning"] = prune_stats
    if quant_stats is not None:
        stats["latency_ms_before"] = quant_stats.get("latency_ms_before")
        stats["latency_ms_after"] = quant_stats.get("latency_ms_after")
        stats["quantization"] = quant_stats
    metadata = _metadata(model, spec, model_file, info, io, parity)
    metadata["optimization_stats"] = stats
    if validation is not None:
        metadata["validation"] = validation_metrics(validation)
    golden_images = golden_candidates(parity_images(spec, model.task))
    write_package(staging, metadata, golden_images, original_predictor(model, metadata))
    emitter.write_log(staging / "export.log")
    for item in staging.iterdir():
        shutil.move(str(item), str(out_dir / item.name))
    staging.rmdir()
    zip_package(out_dir)
    timings = emitter.finish()
    return {
        "type": "result",
        "package_dir": str(out_dir),
        "model_path": str(out_dir / model_file.name),
        "model_size_bytes": model_size,
        "framework": framework,
        "task": model.task,
        "export_format": spec.export_format,
        "optimization_stats": stats,
        "parity": parity,
        "validation_metrics": validation_metrics(validation),
        "timings": timings,
    }


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")


def _keep_report(err: ValidationFailed, out_dir: Path, key: str, name: str) -> None:
    """A failed gate's report stays for the user to read; no model file is left behind."""
    report = err.details.get(key)
    if report is not None:
        if "fallback_attempts" in err.details:
            report = {**report, "fallback_attempts": err.details["fallback_attempts"]}
        write_json(out_dir / name, report)


def _kept_on_failure(gate: Callable[[], dict[str, Any]], out_dir: Path, key: str,
                     name: str) -> dict[str, Any]:
    try:
        return gate()
    except ValidationFailed as err:
        _keep_report(err, out_dir, key, name)
        raise


def validation_metrics(report: dict[str, Any] | None) -> dict[str, Any] | None:
    """The job's validation_metrics in the product spec's shape."""
    if report is None:
        return None
    return {
        "metric": report["metric"],
        "original": report["original_metric"],
        "exported": report["exported_metric"],
        "accuracy_drop": report["accuracy_drop"],
        "accuracy_drop_max": report["accuracy_drop_max"],
        "passed": report["passed"],
        "images": report["dataset"]["images"],
    }


def _quantization_summary(stats: dict[str, Any]) -> str:
    parts = [f"quantized: {stats['method']}"]
    if "quant_format" in stats:
        parts.append(f"{stats['quant_format']}, per-channel {stats['per_channel']}")
    if stats.get("speedup"):
        parts.append(f"{stats['latency_ms_before']:.2f} ms → {stats['latency_ms_after']:.2f} ms "
                     f"({stats['speedup']:.2f}× the float model's speed)")
    return "; ".join(parts)


def _validation_summary(report: dict[str, Any]) -> str:
    return (f"validation passed on {report['dataset']['images']} images: {report['metric']} "
            f"{report['original_metric']:.4f} → {report['exported_metric']:.4f} "
            f"(drop {report['accuracy_drop']:.4f}, limit {report['accuracy_drop_max']})")


def _parity_summary(parity: dict[str, Any]) -> str:
    if parity.get("status") == "not_run":
        return f"parity not run: {parity['reason']}; structure checks passed"
    task = parity["task_agreement"]
    worst = max((o["max_abs_diff"] for o in parity["outputs"].values()), default=0.0)
    return (f"parity passed on {parity['images']} images: {task['metric']} {task['value']:.1%}, "
            f"max abs diff {worst:.3g}")
