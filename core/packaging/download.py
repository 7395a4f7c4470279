"""The download package: export-package.zip in the seed's layout, every runtime included."""

from __future__ import annotations

import tempfile
from pathlib import Path

from core.packaging.common import (
    Progress,
    atomic_folder,
    render_runtimes,
    report,
    snapshot_export,
    zip_folder,
)
from core.packaging.result import PackageResult
from core.packaging.types import PackageType, register
from core.storage import export_key

ZIP_NAME = "export-package.zip"


def build_download(source: Path, out: Path, progress: Progress | None = None) -> PackageResult:
    with atomic_folder(out) as staging, tempfile.TemporaryDirectory(dir=staging.parent) as scratch:
        tree = Path(scratch) / "package"
        metadata = snapshot_export(source, tree, progress)
        render_runtimes(tree)
        report(progress, "zipping", percent=90.0)
        zip_folder(tree, staging / ZIP_NAME)
    return PackageResult("download", out, out / ZIP_NAME, metadata)


DOWNLOAD = register(PackageType(
    name="download",
    title="Download",
    description="The export's package zip (model, metadata, every runtime wrapper), ready to hand over.",
    deployment_type="download",
    formats=(),  # every export
    export_hint="",
    builder=build_download,
    storage_key=lambda export_id, key_id: export_key(export_id or key_id, ZIP_NAME),
    order=10,
))
