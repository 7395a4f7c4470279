"""One export, stage by stage: load, optimize, convert, parity, validate, package.

Everything is written to a staging folder inside the output directory and moved
into place only when every stage has passed, so a failed export never leaves
files that look like a finished package.
"""

from __future__ import annotations

import json
import platform
import shutil
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from core.checkpoint import CheckpointInfo, inspect_checkpoint
from core.errors import BadInput, InternalError, Unsupported, ValidationFailed, missing_extra
from core.metadata import build_metadata, sha256_of
from core.paths import size_of
from core.protocol import STAGING_DIR
from core.registry import FORMAT_SUFFIX, Route, route_for, unavailable_reason
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
from exporters.loaders import LoadedModel, load_model
from exporters.package import write_metadata, write_package, zip_package
from exporters.parity import coreml_structure_report, run_parity
from exporters.steps import get_step
from exporters.steps.onnx_preprocessing import embed_preprocessing

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


def _check_not_yet_built(spec: ExportSpec) -> None:
    """Say so before any long work, rather than after converting."""
    cfg = spec.export_config
    if isinstance(cfg, TFLiteConfig) and cfg.quantization != "none":
        raise Unsupported(f"export_config.quantization '{cfg.quantization}': INT8 TFLite is not in "
                          "this build yet; export with quantization 'none'")
    opt = spec.optimization_config
    if opt.quantization is not None or opt.pruning is not None:
        raise Unsupported("optimization_config: quantization and pruning are not in this build yet; "
                          "export without them")
    if spec.validation_config.enabled:
        raise Unsupported("validation_config: accuracy validation on a dataset is not in this build "
                          "yet; every export still passes the parity gate")


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


def model_files(model_file: Path) -> list[Path]:
    """The files a runtime loads: OpenVINO's graph comes with its weights."""
    if model_file.suffix == ".xml":
        return [model_file, model_file.with_suffix(".bin")]
    return [model_file]


def _move_model(path: Path, target: Path) -> None:
    shutil.move(str(path), str(target))
    if path.suffix == ".xml":  # OpenVINO IR: the weights travel beside the graph
        shutil.move(str(path.with_suffix(".bin")), str(target.with_suffix(".bin")))


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
    _move_model(path, target)
    cfg = spec.export_config
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
    _check_not_yet_built(spec)
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
    original_size = size_of(spec.checkpoint)

    emitter.stage("optimize")
    emitter.progress(1.0, "no optimization requested")

    emitter.stage("convert", f"{framework} → {spec.export_format} via {' → '.join(route.steps)}")
    model_file = _convert(model, spec, route, staging, emitter)

    emitter.stage("parity", "comparing the export with the original on real images")
    io = describe_io(model, model_file, spec)
    draft = _metadata(model, spec, model_file, info, io, {"status": "running"})
    metadata_path = write_metadata(staging, draft)
    try:
        if spec.export_format == "coreml":
            parity = coreml_structure_report(model, model_file, draft)
        else:
            parity = run_parity(model, model_file, metadata_path, spec, emitter.progress)
    except ValidationFailed as err:
        report = err.details.get("parity")
        if report is not None:  # kept for the user to read; no model file is left behind
            (out_dir / "parity_report.json").write_text(json.dumps(report, indent=2) + "\n")
        raise
    emitter.log(_parity_summary(parity))

    emitter.stage("validate")
    emitter.progress(1.0, "no dataset validation requested")

    emitter.stage("package", "writing metadata, wrappers and the zip")
    metadata = _metadata(model, spec, model_file, info, io, parity)
    write_package(staging, metadata)
    model_size = sum(size_of(f) for f in model_files(model_file))
    stats = {
        "original_size_mb": round(original_size / 1e6, 3),
        "exported_size_mb": round(model_size / 1e6, 3),
        "compression_ratio": round(original_size / model_size, 3) if model_size else None,
    }
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
        "validation_metrics": None,
        "timings": timings,
    }


def _parity_summary(parity: dict[str, Any]) -> str:
    if parity.get("status") == "not_run":
        return f"parity not run: {parity['reason']}; structure checks passed"
    task = parity["task_agreement"]
    worst = max((o["max_abs_diff"] for o in parity["outputs"].values()), default=0.0)
    return (f"parity passed on {parity['images']} images: {task['metric']} {task['value']:.1%}, "
            f"max abs diff {worst:.3g}")
