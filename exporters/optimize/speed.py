"""The speed gate: an optimized model is handed over for speed only when it is faster.

An INT8 or FP16 model meant for a runtime that runs on this kind of machine (ONNX
Runtime and OpenVINO on the CPU) is timed against the float model of the same
runtime: both through the package's own wrapper runtime (its threads, its settings),
alternately, after a warm-up, so that whatever else loads the machine falls on both
alike; the medians are compared. Quantizing made the bundled timm classifier's ONNX
model about half as fast (0.42-0.57x, static INT8), so "optimized" is a claim to check,
not a given.

With ``optimization_config.goal`` speed, a model under ``MIN_SPEEDUP`` is not handed
over (exit 4, the report kept as speed_report.json, as the parity gate does). With
``goal`` size the speed is measured and recorded, and the smaller file is kept.
Mobile and GPU targets (TFLite, Core ML, TensorRT) are not judged on this CPU; the
report says so, and so does the package's metadata.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import ValidationFailed
from core.spec import ExportSpec
from exporters.images import probe_photo
from exporters.optimize.agreement import same_runtime

# "Faster" means at least this much faster: two equally fast models measured on a shared
# machine differ by a few percent either way, and a coin flip is not a speed-up.
MIN_SPEEDUP = 1.05
WARMUP = 3
ROUNDS = 15


def interleaved_latencies(
    wrapper: Any, files: list[Path], tensor: np.ndarray, rounds: int = ROUNDS
) -> list[float]:
    """Median milliseconds per run of several model files of one format, all loaded in this
    process and timed in turns (each round starts one file further along, so no file always
    runs first or right after another), so none profits from a quiet moment."""
    runs = [same_runtime(wrapper, path) for path in files]
    for run in runs:
        for _ in range(WARMUP):
            run(tensor)
    times: list[list[float]] = [[] for _ in runs]
    for index in range(rounds):
        for step in range(len(runs)):
            which = (index + step) % len(runs)
            start = time.perf_counter()
            runs[which](tensor)
            times[which].append(time.perf_counter() - start)
    return [float(np.median(t)) * 1000 for t in times]


def interleaved_medians(
    wrapper: Any, first: Path, second: Path, tensor: np.ndarray, rounds: int = ROUNDS
) -> tuple[float, float]:
    """Median milliseconds per run of two model files of one format, timed in turns
    (first-second, then second-first, ...)."""
    first_ms, second_ms = interleaved_latencies(wrapper, [first, second], tensor, rounds)
    return first_ms, second_ms


def _not_judged(goal: str, reason: str) -> dict[str, Any]:
    return {"goal": goal, "judged": False, "reason": reason}


def judge_speed(spec: ExportSpec, job: Any, pruned: bool) -> dict[str, Any] | None:
    """The speed report of an optimized export (None: nothing was optimized).

    ``job`` is the quantization job (its wrapper, the float file kept aside and the
    package's model file), or None when no post-conversion quantizer ran. Raises
    :class:`ValidationFailed` when the goal is speed and the model is not faster.
    """
    if spec.precision == "fp32" and not pruned:
        return None
    goal, fmt = spec.optimization_config.goal, spec.format
    if not fmt.speed_judged_here:
        return _not_judged(
            goal,
            f"{fmt.title} models run on other hardware (phones, GPUs, Apple "
            "silicon): their speed on this machine's CPU says nothing of it",
        )
    if job is None:
        what = (
            "pruning changed the network before conversion"
            if pruned
            else f"the converter wrote the {spec.precision.upper()} model directly"
        )
        return _not_judged(goal, f"no float model of this export to time against ({what})")
    tensor, _ = job.wrapper.preprocess(probe_photo())
    tensor = np.repeat(tensor, job.wrapper.fixed_batch, axis=0)
    float_ms, optimized_ms = interleaved_medians(job.wrapper, job.source, job.model_file, tensor)
    speedup = float_ms / optimized_ms if optimized_ms else 0.0
    report: dict[str, Any] = {
        "goal": goal,
        "judged": True,
        "runtime": fmt.parity_runtime,
        "float_ms": round(float_ms, 3),
        "optimized_ms": round(optimized_ms, 3),
        "speedup": round(speedup, 3),
        "min_speedup": MIN_SPEEDUP,
        "rounds": ROUNDS,
        "passed": speedup >= MIN_SPEEDUP,
    }
    if report["passed"]:
        return report
    measured = (
        f"the {spec.precision.upper()} {fmt.title} model runs at {speedup:.2f}× the float "
        f"model's speed ({optimized_ms:.2f} ms against {float_ms:.2f} ms, medians of {ROUNDS} "
        f"interleaved runs with the package's runtime; faster means ≥ {MIN_SPEEDUP}×)"
    )
    if goal == "size":
        report["kept_for"] = "size"
        return report
    raise ValidationFailed(
        f"speed gate failed: {measured}, so it is not handed over. Export it with the goal "
        "'size' (--goal size) to keep it for its smaller file, or keep FP32 for speed",
        details={"speed": report},
    )
