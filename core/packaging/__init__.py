"""Deployment packages built from an export: download, edge (iOS / Android), container (Triton).

One module per type (``download``, ``edge``, ``container`` with ``triton``); ``service``
records the deployment and stores the package.
"""

from __future__ import annotations

from core.packaging.result import PackageResult
from core.packaging.service import PACKAGE_TYPES, build, package, upload_export

__all__ = ["PACKAGE_TYPES", "PackageResult", "build", "package", "upload_export"]
