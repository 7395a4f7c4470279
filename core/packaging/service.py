"""``slipway package``: build a package from an export (or a package folder / zip), record the
deployment, and store it where the settings or ``--upload`` say.

An EXPORT_ID records a DeploymentTarget (download / edge_package / container) whose
config says where the package is. Upload keys follow the seed: exports/<export-id>/…,
edge-packages/<deployment-id>.zip, container-packages/<deployment-id>.zip and
triton-models/<deployment-id>/… . When an upload fails the deployment is marked
failed with the reason: a package is never reported as stored when it is not.
"""

from __future__ import annotations

import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from core.errors import BadInput
from core.packaging.common import Progress
from core.packaging.container import build_container
from core.packaging.download import ZIP_NAME, build_download
from core.packaging.edge import build_edge
from core.packaging.result import PackageResult
from core.paths import data_dir
from core.settings import Settings
from core.storage import (
    Storage,
    container_package_key,
    edge_package_key,
    export_key,
    export_prefix,
    extract_zip,
    parse_s3_url,
    triton_model_prefix,
)

PACKAGE_TYPES = {"download": "download", "edge-ios": "edge_package", "edge-android": "edge_package",
                 "container": "container"}


def build(kind: str, source: Path, out: Path, progress: Progress | None = None) -> PackageResult:
    if kind == "download":
        return build_download(source, out, progress)
    if kind in ("edge-ios", "edge-android"):
        return build_edge(source, kind.removeprefix("edge-"), out, progress)
    if kind == "container":
        return build_container(source, out, progress)
    raise BadInput(f"unknown package type {kind!r}; choose one of {', '.join(PACKAGE_TYPES)}")


def storage_for(upload: str | None, settings: Settings | None = None) -> Storage | None:
    """``--upload s3://bucket/prefix``, else S3 when the settings choose it, else None (local only)."""
    settings = settings or Settings.load()
    if upload:
        bucket, prefix = parse_s3_url(upload)
        return settings.s3_storage(bucket, prefix)
    return settings.storage() if settings.storage_backend == "s3" else None


def package(source: str, kind: str, *, out: Path | None = None, upload: str | None = None,
            progress: Progress | None = None, settings: Settings | None = None) -> dict[str, Any]:
    """Build, record and store one package; the summary the CLI prints as JSON."""
    if kind not in PACKAGE_TYPES:
        raise BadInput(f"unknown package type {kind!r}; choose one of {', '.join(PACKAGE_TYPES)}")
    settings = settings or Settings.load()
    storage = storage_for(upload, settings)  # settings errors surface before any work
    out = out or data_dir() / "packages" / f"{kind}-{uuid.uuid4().hex[:12]}"
    path = Path(source)
    if path.suffix == ".zip" and path.is_file():
        with tempfile.TemporaryDirectory() as scratch:
            folder = extract_zip(path, Path(scratch) / "package")
            result = build(kind, folder, out, progress)
        return _store(result, storage, None, settings, progress)
    if path.is_dir():
        return _store(build(kind, path, out, progress), storage, None, settings, progress)
    from core.jobs import JobService

    job = JobService().get(source)
    if job.status != "completed":
        raise BadInput(f"export {job.id[:8]} is {job.status}; only a completed export can be packaged")
    result = build(kind, Path(job.package_dir), out, progress)
    return _store(result, storage, job.id, settings, progress)


def _store(result: PackageResult, storage: Storage | None, export_id: str | None, settings: Settings,
           progress: Progress | None) -> dict[str, Any]:
    summary = result.summary()
    deployment_id: str | None = None
    service: Any = None
    if export_id is not None:
        from core.deployments import DeploymentService

        service = DeploymentService()
        target = service.create(export_id, PACKAGE_TYPES[result.kind], config=_config(result, {}))
        deployment_id = target.id
        summary["deployment_id"] = deployment_id
    if storage is None:
        return summary
    try:
        stored = _upload(result, storage, export_id, deployment_id or uuid.uuid4().hex, settings, progress)
    except BaseException as err:
        if service is not None and deployment_id is not None:
            service.mark_failed(deployment_id, f"upload failed: {getattr(err, 'message', err)}")
        raise
    summary.update(stored)
    if service is not None and deployment_id is not None:
        service.update_config(deployment_id, _config(result, stored))
    return summary


def _upload(result: PackageResult, storage: Storage, export_id: str | None, key_id: str,
            settings: Settings, progress: Progress | None) -> dict[str, Any]:
    stored: dict[str, Any] = {}
    if result.kind == "download":
        key = export_key(export_id or key_id, ZIP_NAME)
    elif result.kind == "container":
        key = container_package_key(key_id)
        repository = Path(result.extra["model_repository"]) / result.extra["model_name"]
        objects = storage.upload_tree(repository, triton_model_prefix(key_id), progress)
        stored["triton_model_url"] = storage.url(triton_model_prefix(key_id))
        stored["triton_model_files"] = [o.key for o in objects]
    else:
        key = edge_package_key(key_id)
    obj = storage.upload(result.zip_path, key, progress)
    expires = settings.presign_expiry_s
    stored.update({"storage_url": obj.url, "sha256": obj.sha256, "size_bytes": obj.size,
                   "download_url": storage.share_url(key, expires),
                   "expires_at": (datetime.now(UTC) + timedelta(seconds=expires)).isoformat()})
    return stored


def _config(result: PackageResult, stored: dict[str, Any]) -> dict[str, Any]:
    """The deployment_config of the seed's DeploymentTarget for this package type."""
    config: dict[str, Any] = {"package_path": str(result.zip_path), **{k: v for k, v in stored.items()
                                                                        if k != "triton_model_files"}}
    if result.kind.startswith("edge-"):
        config.update(target_platform=result.extra["target_platform"], includes_sample_code=True,
                      package_url=stored.get("storage_url", str(result.zip_path)))
    elif result.kind == "container":
        config.update(dockerfile_url=stored.get("storage_url", str(result.zip_path)),
                      image_name=result.extra["image_name"], image_tag=result.extra["image_tag"],
                      model_name=result.extra["model_name"])
    return config


def upload_export(export_id: str, package_dir: Path, upload: str,
                  progress: Progress | None = None) -> dict[str, Any]:
    """``slipway export ... --upload``: the package's files to exports/<export-id>/, a link to its zip."""
    settings = Settings.load()
    storage = storage_for(upload, settings)
    assert storage is not None
    objects = storage.upload_tree(package_dir, export_prefix(export_id), progress,
                                  skip=frozenset({"result.json"}))
    zip_key = export_key(export_id, ZIP_NAME)
    return {"storage_url": storage.url(zip_key), "files": len(objects),
            "download_url": storage.share_url(zip_key, settings.presign_expiry_s)}
