"""metadata.json: everything a runtime needs to use an exported model correctly.

The wrappers (Python, and later C++, Swift, Kotlin) read their whole behaviour
from this file: input size and resize method, normalization, layout, output
decoding, NMS settings and class names. The sections follow the product spec
(model_info, preprocessing, postprocessing, input_spec, output_spec, classes,
performance, runtime_wrappers) plus schema_version, source, export, parity,
environment and runtime (the format, the precision the parity gate checked and
the runtime settings that reproduce it, e.g. OpenVINO's inference precision).
"""

from __future__ import annotations

from typing import Any

from core.errors import InternalError

SCHEMA_VERSION = 1
REQUIRED_SECTIONS: tuple[str, ...] = (
    "schema_version",
    "model_info",
    "preprocessing",
    "postprocessing",
    "input_spec",
    "output_spec",
    "classes",
    "performance",
    "runtime_wrappers",
    "source",
    "export",
    "parity",
    "environment",
    "runtime",
)
TASK_TYPES = {
    "detect": "object_detection",
    "classify": "classification",
    "segment": "instance_segmentation",
    "pose": "pose_estimation",
}
RUNTIME_WRAPPERS = {  # what wrappers.render writes into every package
    "python": "runtimes/python/model_wrapper.py",
    "cpp": "runtimes/cpp/model_wrapper.cpp",
    "swift": "runtimes/swift/ModelWrapper.swift",
    "kotlin": "runtimes/kotlin/ModelWrapper.kt",
    "golden": "runtimes/golden/expected.json",
}


def classes_section(names: list[str]) -> list[dict[str, Any]]:
    return [{"id": i, "name": name} for i, name in enumerate(names)]


def build_metadata(
    *,
    model_info: dict[str, Any],
    preprocessing: dict[str, Any],
    postprocessing: dict[str, Any],
    input_spec: dict[str, Any],
    outputs: list[dict[str, Any]],
    class_names: list[str],
    source: dict[str, Any],
    export: dict[str, Any],
    parity: dict[str, Any],
    performance: dict[str, Any],
    environment: dict[str, str],
    runtime: dict[str, Any],
) -> dict[str, Any]:
    """Assemble metadata.json; raises if a section a wrapper relies on is missing."""
    task = model_info["task"]
    metadata: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "model_info": {**model_info, "task_type": TASK_TYPES[task]},
        "preprocessing": preprocessing,
        "postprocessing": postprocessing,
        "input_spec": input_spec,
        "output_spec": {"outputs": outputs},
        "classes": classes_section(class_names),
        "performance": performance,
        "runtime_wrappers": dict(RUNTIME_WRAPPERS),
        "source": source,
        "export": export,
        "parity": parity,
        "environment": environment,
        "runtime": runtime,
    }
    check_metadata(metadata)
    return metadata


def check_metadata(metadata: dict[str, Any]) -> None:
    """The invariants every runtime relies on; a violation is our bug, not the user's."""
    missing = [s for s in REQUIRED_SECTIONS if s not in metadata]
    if missing:
        raise InternalError(f"metadata.json is missing sections: {', '.join(missing)}")
    pre = metadata["preprocessing"]
    for key in ("resize", "normalize", "format"):
        if key not in pre:
            raise InternalError(f"metadata.json preprocessing lacks '{key}'")
    if pre["resize"]["method"] not in ("letterbox", "resize", "shorter_side_center_crop"):
        raise InternalError(f"unknown resize method {pre['resize']['method']!r}")
    if not metadata["classes"]:
        raise InternalError("metadata.json lists no classes")
