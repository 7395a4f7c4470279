"""Deployment packages built from an export: download, edge (iOS / Android), container (Triton).

``types`` is the registry of package types (one entry each, registered by the module that
builds it: ``download``, ``edge``, ``container`` with ``triton``); ``service`` walks an entry:
checks the export's format, builds, records the deployment and stores the package.
"""

from __future__ import annotations

from core.packaging.result import PackageResult
from core.packaging.service import build, package, upload_export
from core.packaging.types import PackageType, for_format, get, names, package_types

__all__ = ["PackageResult", "PackageType", "build", "for_format", "get", "names", "package",
           "package_types", "upload_export"]
