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

ZIP_NAME = "export-package.zip"


def build_download(source: Path, out: Path, progress: Progress | None = None) -> PackageResult:
    with atomic_folder(out) as staging, tempfile.TemporaryDirectory(dir=staging.parent) as scratch:
        tree = Path(scratch) / "package"
        metadata = snapshot_export(source, tree, progress)
        render_runtimes(tree)
        report(progress, "zipping", percent=90.0)
        zip_folder(tree, staging / ZIP_NAME)
    return PackageResult("download", out, out / ZIP_NAME, metadata)
