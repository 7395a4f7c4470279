"""One export, stage by stage: load, optimize, convert, parity, validate, package.

Each stage is a function over one :class:`~exporters.context.ExportContext`; what
differs between formats comes from the format's plug-in (exporters/formats/), so no
stage asks which format it is. Everything is written to a staging folder inside the
output directory and moved into place only when every stage has passed, so a failed
export never leaves files that look like a finished package.
"""

from __future__ import annotations

import json
import shutil
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core import offers
from core.advice import optimization_warnings
from core.checkpoint import CheckpointInfo, inspect_checkpoint
from core.errors import BadInput, InternalError, SlipwayError, ValidationFailed, missing_extra
from core.inference import wrapper_module
from core.paths import size_of
from core.registry import model_files, move_model, route_for
from core.spec import ExportSpec
from exporters.context import ExportContext
from exporters.emitter import Emitter
from exporters.formats import step
from exporters.images import parity_images
from exporters.loaders import load_model
from exporters.optimize.calibration import calibration_images
from exporters.optimize.fallback import accuracy_recovery, agreement_fallback
from exporters.optimize.prune import prune_model
from exporters.optimize.quantize import quantizer_for, start_job
from exporters.optimize.speed import judge_speed
from exporters.optimize.workspace import QUANTIZATION_WORK
from exporters.package import (
    golden_candidates,
    original_predictor,
    write_metadata,
    write_package,
    zip_package,
)
from exporters.parity import run_parity
from exporters.validation import load_validation_data, run_validation


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


# --- the stages ----------------------------------------------------------------


def load(ctx: ExportContext) -> None:
    """Everything that can be refused is refused here, before any long work."""
    spec = ctx.spec
    ctx.info = inspect_checkpoint(spec.checkpoint)
    ctx.framework = resolve_framework(spec, ctx.info)
    ctx.route = route_for(ctx.framework, spec.export_format)
    if missing := ctx.route.missing_modules():
        raise missing_extra(missing[0], ctx.route.extras[-1])
    known_task = ctx.info.task if spec.task == "auto" else spec.task
    offers.check(spec, ctx.framework, known_task)  # as the CLI and the app did before the job
    work = ctx.staging / "work"
    work.mkdir()
    model = ctx.model = load_model(spec, ctx.framework, spec.checkpoint, work)
    ctx.emitter.subject = f"{ctx.framework} {model.task} model '{model.model_name}'"
    if model.task != known_task:
        offers.check(spec, ctx.framework, model.task)  # what only loading could tell
    ctx.emitter.log(f"loaded {ctx.framework} {model.task} model '{model.model_name}', "
                    f"{len(model.class_names)} classes, input {model.input_size}")
    for note in model.notes:
        ctx.emitter.log(note)
    ctx.dataset = load_validation_data(spec, model) if spec.validation_config.enabled else None
    quantization = spec.optimization_config.quantization
    if quantization is not None and quantization.calibration_data is not None:
        calibration_images(quantization.calibration_data, quantization.calibration_samples)
    for warning in optimization_warnings(spec):
        ctx.emitter.log(warning, level="warning")
    ctx.original_size = size_of(spec.checkpoint)


def optimize(ctx: ExportContext) -> None:
    pruning = ctx.spec.optimization_config.pruning
    if pruning is None:
        ctx.emitter.progress(1.0, "no pruning requested")
        return
    stats = ctx.prune_stats = prune_model(ctx.loaded, pruning, ctx.emitter.log)
    ctx.emitter.log(f"pruned: {stats['method']}, sparsity {stats['sparsity_reached']:.2f}, "
                    f"{stats['parameters_before']:,} → {stats['parameters_after']:,} parameters")


def convert(ctx: ExportContext) -> None:
    """The route's steps, the plug-in's rewrites, then quantization of the float file."""
    spec, model, emitter = ctx.spec, ctx.loaded, ctx.emitter
    assert ctx.route is not None
    work = ctx.staging / "work"
    path: Path | None = None
    noted = len(model.notes)  # what the steps add to the model's notes is logged after them
    for index, name in enumerate(ctx.route.steps):
        emitter.progress(index / len(ctx.route.steps), name)
        previous = path
        try:
            path = step(name)(model, spec, path, work)
        except SlipwayError:
            raise
        except Exception as err:  # a converter crashed: its own words, the step and the model
            traceback.print_exc(file=sys.stderr)  # stderr is the job's log
            said = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise InternalError(f"{name} failed on {model.framework} model '{model.model_name}': "
                                f"{type(err).__name__}: {said}") from err
        if previous is not None and spec.format.keeps_onnx and previous.suffix == ".onnx":
            shutil.copyfile(previous, ctx.staging / "model.onnx")
    assert path is not None
    for note in model.notes[noted:]:
        emitter.log(note)
    if not path.exists() or (path.is_file() and path.stat().st_size == 0):
        raise InternalError(f"the converter wrote no model file ({path.name})")
    ctx.model_file = ctx.staging / f"model{spec.format.suffix}"
    move_model(path, ctx.model_file)
    if ctx.plugin.after_convert is not None:
        ctx.plugin.after_convert(ctx.model_file, model, spec, emitter)
    shutil.rmtree(work, ignore_errors=True)
    ctx.describe()
    _quantize(ctx)


def _quantize(ctx: ExportContext) -> None:
    quantization = ctx.spec.optimization_config.quantization
    if quantization is None:
        return
    quantize = quantizer_for(ctx.spec)
    if quantize is None:  # the converter applied it
        converter = ctx.spec.format.modules[0] if ctx.spec.format.modules else "the converter"
        ctx.quant_stats = {"method": quantization.method, "done_by": f"{converter}, at conversion"}
        return
    ctx.emitter.progress(0.8, f"quantizing: {quantization.method}")
    draft = write_metadata(ctx.staging, ctx.metadata({"status": "running"}))
    wrapper = wrapper_module().ModelWrapper(ctx.file, draft, threads=2)
    job = ctx.quantization = start_job(ctx.file, ctx.spec, wrapper, ctx.loaded.task,
                                       ctx.staging / QUANTIZATION_WORK)
    stats = quantize(job)
    ctx.emitter.log(_quantization_summary(stats))
    ctx.quant_stats = agreement_fallback(job, stats, ctx.emitter.log)
    ctx.describe()


def _gate(ctx: ExportContext) -> dict[str, Any]:
    """The parity gate, or the plug-in's checks where the format has no runtime here."""
    draft = ctx.metadata({"status": "running"})
    path = write_metadata(ctx.staging, draft)
    if ctx.plugin.gate is not None:
        return ctx.plugin.gate(ctx.loaded, ctx.file, draft)
    return run_parity(ctx.loaded, ctx.file, path, ctx.spec, ctx.emitter.progress)


def parity(ctx: ExportContext) -> None:
    ctx.parity = _kept_on_failure(lambda: _gate(ctx), ctx.out_dir, "parity", "parity_report.json")
    ctx.emitter.log(_parity_summary(ctx.parity))


def validate(ctx: ExportContext) -> None:
    """Accuracy on the user's data; a failed INT8 export first falls back to float layers."""
    dataset = ctx.dataset
    if dataset is None:
        ctx.emitter.progress(1.0, "no dataset validation requested")
        return
    metadata_path = ctx.staging / "metadata.json"

    def judge() -> dict[str, Any]:
        return run_validation(ctx.loaded, ctx.file, metadata_path, ctx.spec, dataset, ctx.emitter.progress)

    try:
        ctx.validation = judge()
    except ValidationFailed as err:
        recover = accuracy_recovery(ctx.quantization, ctx.quant_stats)
        if recover is None:
            _keep_report(err, ctx.out_dir, "validation", "validation_report.json")
            raise
        ctx.emitter.log(f"{err.message}; trying with the most sensitive layers in float")
        failures = [err]

        def judged() -> dict[str, Any]:
            try:
                return judge()
            except ValidationFailed as again:
                failures.append(again)
                return dict(again.details.get("validation", {}))

        settled = recover(dataset, judged, ctx.emitter.log)
        if settled is None:
            _keep_report(failures[-1], ctx.out_dir, "validation", "validation_report.json")
            raise failures[-1] from None
        ctx.validation, ctx.quant_stats = settled
        ctx.emitter.log("re-checking parity for the model with float layers restored")
        parity(ctx)
    assert ctx.validation is not None
    ctx.emitter.log(_validation_summary(ctx.validation))
    write_json(ctx.staging / "validation_results.json", ctx.validation)


def speed(ctx: ExportContext) -> None:
    """The speed gate: an optimized model that is not faster is not handed over (goal speed)."""
    report = _kept_on_failure(lambda: judge_speed(ctx.spec, ctx.quantization, ctx.prune_stats is not None)
                              or {}, ctx.out_dir, "speed", "speed_report.json")
    ctx.speed = report or None
    if ctx.speed is None:
        ctx.emitter.progress(1.0, "nothing optimized: no speed to judge")
    else:
        ctx.emitter.log(_speed_summary(ctx.speed))


def _optimization_stats(ctx: ExportContext, model_size: int) -> dict[str, Any]:
    stats: dict[str, Any] = {
        "original_size_mb": round(ctx.original_size / 1e6, 3),
        "exported_size_mb": round(model_size / 1e6, 3),
        "compression_ratio": round(ctx.original_size / model_size, 3) if model_size else None,
    }
    if ctx.prune_stats is not None:
        stats["pruning"] = ctx.prune_stats
    if ctx.quant_stats is not None:
        stats["quantization"] = ctx.quant_stats
        if ctx.quantization is not None and ctx.quantization.seconds:
            stats["quantization"] = {**ctx.quant_stats, "seconds": dict(ctx.quantization.seconds)}
    if ctx.speed is not None:
        stats["speed"] = ctx.speed
        if ctx.speed["judged"]:
            stats["latency_ms_before"] = ctx.speed["float_ms"]
            stats["latency_ms_after"] = ctx.speed["optimized_ms"]
    return stats


def package(ctx: ExportContext) -> None:
    staging, model = ctx.staging, ctx.loaded
    shutil.rmtree(staging / QUANTIZATION_WORK, ignore_errors=True)  # scratch, not package
    model_size = sum(size_of(f) for f in model_files(ctx.file))
    metadata = ctx.metadata(ctx.parity)
    metadata["optimization_stats"] = _optimization_stats(ctx, model_size)
    # seconds per stage so far (packaging's own is in the result's timings); not in "export",
    # which is the spec itself (read back as one)
    metadata["performance"] = {**metadata["performance"], "export_stage_seconds": dict(ctx.emitter.timings)}
    if ctx.validation is not None:
        metadata["validation"] = validation_metrics(ctx.validation)
    golden_images = golden_candidates(parity_images(ctx.spec, model.task))
    write_package(staging, metadata, golden_images, original_predictor(model, metadata))
    if ctx.plugin.package_extras is not None:
        ctx.plugin.package_extras(staging, metadata)
    ctx.emitter.write_log(staging / "export.log")
    for item in staging.iterdir():
        shutil.move(str(item), str(ctx.out_dir / item.name))
    staging.rmdir()
    zip_package(ctx.out_dir)


STAGES: tuple[tuple[str, str, Callable[[ExportContext], None]], ...] = (
    ("load", "", load),
    ("optimize", "", optimize),
    ("convert", "", convert),
    ("parity", "comparing the export with the original on real images", parity),
    ("validate", "", validate),
    ("speed", "timing the optimized model against the float one", speed),
    ("package", "writing metadata, wrappers and the zip", package),
)


def run_export(spec: ExportSpec, out_dir: Path, emitter: Emitter) -> dict[str, Any]:
    """Run every stage; returns the result event. Raises SlipwayError subclasses."""
    ctx = ExportContext(spec, out_dir, emitter)
    shutil.rmtree(ctx.staging, ignore_errors=True)
    ctx.staging.mkdir(parents=True)
    for name, message, run in STAGES:
        if name == "load":
            message = f"reading {spec.checkpoint.name}"
        elif name == "convert" and ctx.route is not None:
            message = f"{ctx.framework} → {spec.export_format} via {' → '.join(ctx.route.steps)}"
        emitter.stage(name, message)
        run(ctx)
    timings = emitter.finish()
    model_size = sum(size_of(f) for f in model_files(out_dir / ctx.file.name))
    return {
        "type": "result",
        "package_dir": str(out_dir),
        "model_path": str(out_dir / ctx.file.name),
        "model_size_bytes": model_size,
        "framework": ctx.framework,
        "task": ctx.loaded.task,
        "export_format": spec.export_format,
        "optimization_stats": _optimization_stats(ctx, model_size),
        "parity": ctx.parity,
        "validation_metrics": validation_metrics(ctx.validation),
        "timings": timings,
    }


# --- reports -------------------------------------------------------------------


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
    return "; ".join(parts)


def _speed_summary(report: dict[str, Any]) -> str:
    if not report["judged"]:
        return f"speed not judged: {report['reason']}"
    verdict = "faster" if report["passed"] else "not faster, kept for its size (goal: size)"
    return (f"speed: {report['optimized_ms']:.2f} ms against {report['float_ms']:.2f} ms for the float "
            f"model ({report['speedup']:.2f}×): {verdict}")


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
