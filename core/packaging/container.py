"""The container package: a Dockerfile on Triton Inference Server with its model repository.

    Dockerfile, build.sh, README.md, metadata.json, labels.txt
    model_repository/<name>/config.pbtxt
    model_repository/<name>/1/model.onnx      (TensorRT: 1/model.plan)
    container-package.zip

Docker is not needed to build it; the README says what was checked without it.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from core import triton
from core.packaging.common import (
    Progress,
    atomic_folder,
    check_export_folder,
    render_template,
    report,
    snapshot_export,
    zip_folder,
)
from core.packaging.describe import preprocessing_text
from core.packaging.result import PackageResult
from core.packaging.triton import (
    DEFAULT_MAX_BATCH,
    SERVABLE,
    batch_plan,
    config_pbtxt,
    model_name,
    request_shape,
)
from core.packaging.types import PackageType, register
from core.storage import Storage, container_package_key, triton_model_prefix

TRITON_IMAGE = "nvcr.io/nvidia/tritonserver:24.01-py3"  # the seed's base image
ZIP_NAME = "container-package.zip"


def build_container(source: Path, out: Path, progress: Progress | None = None, *,
                    max_batch_size: int = DEFAULT_MAX_BATCH,
                    triton_image: str = TRITON_IMAGE) -> PackageResult:
    checked = check_export_folder(source)  # the format was checked against the registry by service.build
    fmt = checked["model_info"]["export_format"]
    with atomic_folder(out) as staging, tempfile.TemporaryDirectory(dir=staging.parent) as scratch:
        tree = Path(scratch) / "export"
        metadata = snapshot_export(source, tree, progress, checked)
        name = model_name(metadata)
        platform, target_file = triton.platform(fmt), str(triton.repository_file(fmt))
        source_file = "model.engine" if fmt == "tensorrt" else metadata["model_info"]["model_file"]
        version_dir = staging / "model_repository" / name / "1"
        version_dir.mkdir(parents=True)
        shutil.copy2(tree / source_file, version_dir / target_file)
        config = config_pbtxt(metadata, max_batch_size)
        (version_dir.parent / "config.pbtxt").write_text(config, encoding="utf-8")
        for file in ("metadata.json", "labels.txt"):
            shutil.copy2(tree / file, staging / file)
        image = f"slipway/{name}:latest"
        values = _values(metadata, name, platform, target_file, image, triton_image, max_batch_size)
        dockerfile = render_template("container/Dockerfile", **values)
        (staging / "Dockerfile").write_text(dockerfile, encoding="utf-8")
        build = staging / "build.sh"
        build.write_text(render_template("container/build.sh", **values), encoding="utf-8")
        build.chmod(0o755)
        (staging / "README.md").write_text(render_template("container/README.md", **values), encoding="utf-8")
        report(progress, "zipping", percent=90.0)
        zip_folder(staging, staging / ZIP_NAME)
    return PackageResult("container", out, out / ZIP_NAME, metadata,
                         extra={"model_name": name, "image_name": image.split(":")[0], "image_tag": "latest",
                                "model_repository": str(out / "model_repository")})


def _values(metadata: dict[str, Any], name: str, platform: str, target_file: str, image: str,
            triton_image: str, max_batch_size: int) -> dict[str, Any]:
    spec = metadata["input_spec"]
    batching = batch_plan(metadata)
    shape = request_shape(metadata)
    dtype = str(spec["dtype"]).lower()
    outputs = metadata["output_spec"]["outputs"]
    fmt = metadata["model_info"]["export_format"]
    gpu_note = ("\nThe TensorRT plan only runs on the GPU model and TensorRT version it was built "
                "with: match the Triton image to it. Add `--gpus all` to docker run.\n"
                if fmt == "tensorrt" else
                "\nOn a GPU machine add `--gpus all` to docker run; ONNX Runtime also runs on CPU.\n")
    return {
        "model_name": name, "export_format": fmt, "task": metadata["model_info"].get("task"),
        "triton_image": triton_image, "image": image, "platform": platform, "model_file": target_file,
        "max_batch_size": max_batch_size if batching else 0, "input_name": spec["name"],
        "input_type": dtype, "request_shape": shape, "request_shape_tuple": tuple(shape),
        "batching": (f"dynamic batch: Triton batches up to {max_batch_size} requests" if batching
                     else "fixed batch: export with --dynamic to let Triton batch requests"),
        "outputs": ", ".join(f"`{o['name']}` {o['shape']}" for o in outputs),
        "output_names": [o["name"] for o in outputs],
        "kserve_type": triton.datatype_of(dtype), "numpy_type": dtype,
        "preprocessing": preprocessing_text(metadata), "gpu_note": gpu_note,
    }


def _config(result: PackageResult, stored: dict[str, Any]) -> dict[str, Any]:
    return {"dockerfile_url": stored.get("storage_url", str(result.zip_path)),
            "image_name": result.extra["image_name"], "image_tag": result.extra["image_tag"],
            "model_name": result.extra["model_name"]}


def _upload_model_repository(result: PackageResult, storage: Storage, key_id: str,
                             progress: Progress | None) -> dict[str, Any]:
    """The Triton model repository as loose files under triton-models/<deployment-id>/, ready to serve."""
    repository = Path(result.extra["model_repository"]) / result.extra["model_name"]
    objects = storage.upload_tree(repository, triton_model_prefix(key_id), progress)
    return {"triton_model_url": storage.url(triton_model_prefix(key_id)),
            "triton_model_files": [o.key for o in objects]}


CONTAINER = register(PackageType(
    name="container",
    title="Triton container",
    description="A Dockerfile on Triton Inference Server with its model repository and config.pbtxt.",
    deployment_type="container",
    formats=SERVABLE,
    export_hint="--format onnx",
    export_note="add --dynamic to let Triton batch requests",
    builder=build_container,
    storage_key=lambda _export_id, key_id: container_package_key(key_id),
    deployment_config=_config,
    extra_upload=_upload_model_repository,
    order=40,
))
