"""Edge packages: iOS (Core ML) and Android (TFLite, or ONNX for ONNX Runtime Android).

The seed's mobile layout: the model, labels.txt, metadata.json, sample_code/ios or
sample_code/android (the Swift or Kotlin wrapper with its sample app files, and the
golden test when the wrappers provide one), and a README on integrating it.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from core.errors import BadInput
from core.packaging.common import (
    Progress,
    atomic_folder,
    check_export_folder,
    copy_model,
    render_runtimes,
    render_template,
    report,
    snapshot_export,
    zip_folder,
)
from core.packaging.describe import bbox_note, input_size, preprocessing_text, verification_text
from core.packaging.result import PackageResult
from core.packaging.types import PackageType, register
from core.storage import edge_package_key

PLATFORMS: dict[str, dict[str, Any]] = {
    "ios": {"runtime_dir": "swift"},
    "android": {"runtime_dir": "kotlin"},
}
RUNTIME_NAME = {"tflite": "TensorFlow Lite / LiteRT", "onnx": "ONNX Runtime Android"}


def build_edge(source: Path, platform: str, out: Path, progress: Progress | None = None) -> PackageResult:
    if platform not in PLATFORMS:
        raise BadInput(f"unknown edge platform {platform!r}; choose ios or android")
    checked = check_export_folder(source)  # the format was checked against the registry by service.build
    rule = PLATFORMS[platform]
    zip_name = f"edge-package-{platform}.zip"
    with atomic_folder(out) as staging, tempfile.TemporaryDirectory(dir=staging.parent) as scratch:
        tree = Path(scratch) / "export"
        metadata = snapshot_export(source, tree, progress, checked)
        render_runtimes(tree)
        model_file = metadata["model_info"]["model_file"]
        copy_model(tree, model_file, staging / model_file)
        for name in ("labels.txt", "metadata.json"):
            shutil.copy2(tree / name, staging / name)
        samples = staging / "sample_code" / platform
        samples.mkdir(parents=True)
        runtime = tree / "runtimes" / rule["runtime_dir"]
        shutil.copytree(runtime, samples, dirs_exist_ok=True)
        if (tree / "runtimes" / "golden").is_dir():
            shutil.copytree(tree / "runtimes" / "golden", staging / "sample_code" / "golden")
        sample_files = sorted(p.relative_to(samples).as_posix() for p in samples.rglob("*") if p.is_file())
        (staging / "README.md").write_text(_readme(platform, metadata, sample_files), encoding="utf-8")
        report(progress, "zipping", percent=90.0)
        zip_folder(staging, staging / zip_name)
    return PackageResult(f"edge-{platform}", out, out / zip_name, metadata,
                         extra={"target_platform": platform, "sample_files": sample_files})


def _readme(platform: str, metadata: dict[str, Any], sample_files: list[str]) -> str:
    info = metadata["model_info"]
    spec = metadata["input_spec"]
    values: dict[str, Any] = {
        "model_name": info.get("model_name", "model"), "model_file": info["model_file"],
        "task": info.get("task_type") or info.get("task"), "num_classes": len(metadata.get("classes", [])),
        "sample_files": ", ".join(sample_files) or "(none: see the warning in the package summary)",
        "bbox_note": bbox_note(metadata), "input_name": spec["name"],
        "preprocessing": preprocessing_text(metadata), "verification": verification_text(metadata),
    }
    if platform == "ios":
        size = input_size(metadata)
        target = (metadata.get("runtime") or {}).get("coreml", {}).get("minimum_deployment_target", "?")
        return render_template("edge/README_ios.md", **values, input_size=f"{size[1]}x{size[0]}",
                               deployment_target=target)
    fmt = info["export_format"]
    return render_template("edge/README_android.md", **values, runtime=RUNTIME_NAME[fmt],
                           model_suffix=Path(info["model_file"]).suffix.lstrip("."),
                           input_shape=spec["shape"], input_layout=spec.get("format", ""))


def build_ios(source: Path, out: Path, progress: Progress | None = None) -> PackageResult:
    return build_edge(source, "ios", out, progress)


def build_android(source: Path, out: Path, progress: Progress | None = None) -> PackageResult:
    return build_edge(source, "android", out, progress)


def _config(result: PackageResult, stored: dict[str, Any]) -> dict[str, Any]:
    return {"target_platform": result.extra["target_platform"], "includes_sample_code": True,
            "package_url": stored.get("storage_url", str(result.zip_path))}


EDGE_IOS = register(PackageType(
    name="edge-ios",
    title="iOS edge package",
    description="The .mlpackage with the Swift wrapper, a sample ViewController, labels and a README.",
    deployment_type="edge_package",
    formats=("coreml",),
    export_hint="--format coreml",
    builder=build_ios,
    storage_key=lambda _export_id, key_id: edge_package_key(key_id),
    deployment_config=_config,
    order=20,
))
EDGE_ANDROID = register(PackageType(
    name="edge-android",
    title="Android edge package",
    description="The .tflite (or .onnx) with the Kotlin wrapper, a sample MainActivity and build.gradle.",
    deployment_type="edge_package",
    formats=tuple(RUNTIME_NAME),
    export_hint="--format tflite",
    builder=build_android,
    storage_key=lambda _export_id, key_id: edge_package_key(key_id),
    deployment_config=_config,
    order=30,
))
