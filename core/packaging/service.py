"""``slipway package``: build a package from an export (or a package folder / zip), record the
deployment, and store it where the settings or ``--upload`` say.

The package types are the registry in ``core.packaging.types``: this module only
walks an entry (check the format, build, record its deployment type, upload to its
key, record its deployment_config). An EXPORT_ID records a DeploymentTarget whose
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
from typing import TYPE_CHECKING, Any

from core.errors import BadInput
from core.packaging import types
from core.packaging.common import Progress, check_export_folder
from core.packaging.download import ZIP_NAME
from core.packaging.result import PackageResult
from core.paths import data_dir
from core.settings import Settings
from core.storage import Storage, export_key, export_prefix, extract_zip, parse_s3_url

if TYPE_CHECKING:
    from core.deployments import DeploymentService
    from core.jobs import JobService


def build(kind: str, source: Path, out: Path, progress: Progress | None = None) -> PackageResult:
    """Build one package of the registered type ``kind`` from an export folder."""
    entry = types.get(kind)
    entry.check(check_export_folder(source)["model_info"]["export_format"])  # before anything is written
    return entry.builder(source, out, progress)


def storage_for(upload: str | None, settings: Settings | None = None) -> Storage | None:
    """``--upload s3://bucket/prefix``, else S3 when the settings choose it, else None (local only)."""
    settings = settings or Settings.load()
    if upload:
        bucket, prefix = parse_s3_url(upload)
        return settings.s3_storage(bucket, prefix)
    return settings.storage() if settings.storage_backend == "s3" else None


def package(source: str, kind: str, *, out: Path | None = None, upload: str | None = None,
            progress: Progress | None = None, settings: Settings | None = None, name: str | None = None,
            jobs: JobService | None = None, deployments: DeploymentService | None = None) -> dict[str, Any]:
    """Build, record and store one package; the summary the CLI prints as JSON.

    ``source``: an export id (records a deployment named ``name``), a package folder or its
    zip. ``jobs`` and ``deployments``: the services to use (default: the data directory's).
    A wrong package type or export format is refused before anything is written.
    """
    entry = types.get(kind)
    settings = settings or Settings.load()
    storage = storage_for(upload, settings)  # settings errors surface before any work
    path = Path(source)
    if path.suffix == ".zip" and path.is_file():
        with tempfile.TemporaryDirectory() as scratch:
            folder = extract_zip(path, Path(scratch) / "package")
            result = build(kind, folder, out or _default_out(kind), progress)
        return _store(result, storage, None, settings, progress)
    if path.is_dir():
        result = build(kind, path, out or _default_out(kind), progress)
        return _store(result, storage, None, settings, progress)
    if jobs is None:
        from core.jobs import JobService

        jobs = JobService()
    job = jobs.get(source)
    if job.status != "completed":
        raise BadInput(f"export {job.id[:8]} is {job.status}; only a completed export can be packaged")
    entry.check(job.export_format)
    result = build(kind, Path(job.package_dir), out or _default_out(kind), progress)
    name = name or f"{job.export_format} v{job.version} ({entry.name})"
    return _store(result, storage, job.id, settings, progress, name=name, deployments=deployments)


def _default_out(kind: str) -> Path:
    return data_dir() / "packages" / f"{kind}-{uuid.uuid4().hex[:12]}"


def _store(result: PackageResult, storage: Storage | None, export_id: str | None, settings: Settings,
           progress: Progress | None, *, name: str | None = None,
           deployments: DeploymentService | None = None) -> dict[str, Any]:
    entry = types.get(result.kind)
    summary = result.summary()
    deployment_id: str | None = None
    service: DeploymentService | None = None
    if export_id is not None:
        if deployments is None:
            from core.deployments import DeploymentService

            deployments = DeploymentService()
        service = deployments
        target = service.create(export_id, entry.deployment_type, name=name, config=_config(result, {}))
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
    entry = types.get(result.kind)
    stored: dict[str, Any] = {}
    if entry.extra_upload is not None:
        stored.update(entry.extra_upload(result, storage, key_id, progress))
    key = entry.storage_key(export_id, key_id)
    obj = storage.upload(result.zip_path, key, progress)
    expires = settings.presign_expiry_s
    stored.update({"storage_url": obj.url, "sha256": obj.sha256, "size_bytes": obj.size,
                   "download_url": storage.share_url(key, expires),
                   "expires_at": (datetime.now(UTC) + timedelta(seconds=expires)).isoformat()})
    return stored


def _config(result: PackageResult, stored: dict[str, Any]) -> dict[str, Any]:
    """The deployment_config of the seed's DeploymentTarget: where the package is, what was stored,
    the package type that made it, and the type's own fields."""
    entry = types.get(result.kind)
    config: dict[str, Any] = {"package_type": entry.name, "package_path": str(result.zip_path),
                              **{k: v for k, v in stored.items() if k != "triton_model_files"}}
    config.update(entry.deployment_config(result, stored))
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
