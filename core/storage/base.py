"""What every storage backend offers, and the seed's key layout.

Keys are relative, '/'-separated, and never start with '/' or contain '..':

    exports/<export-id>/...                  an export's files and its export-package.zip
    edge-packages/<deployment-id>.zip        iOS / Android packages
    container-packages/<deployment-id>.zip   Dockerfile + Triton model repository
    triton-models/<deployment-id>/...        a Triton model repository, ready to serve
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import BadInput

ProgressCallback = Callable[[dict[str, Any]], None]
"""Receives ``{"type": "progress", "stage": "upload", "key", "bytes", "total", "percent"}``."""

PRESIGN_DEFAULT_S = 24 * 3600  # the seed's download link lifetime


def export_prefix(export_id: str) -> str:
    return f"exports/{export_id}"


def export_key(export_id: str, name: str) -> str:
    return f"{export_prefix(export_id)}/{name}"


def edge_package_key(deployment_id: str) -> str:
    return f"edge-packages/{deployment_id}.zip"


def container_package_key(deployment_id: str) -> str:
    return f"container-packages/{deployment_id}.zip"


def triton_model_prefix(deployment_id: str) -> str:
    return f"triton-models/{deployment_id}"


def triton_model_key(deployment_id: str, name: str) -> str:
    return f"{triton_model_prefix(deployment_id)}/{name}"


def check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\\" in key:
        raise BadInput(f"storage key {key!r} is not a relative path of plain names")
    return key


@dataclass(frozen=True)
class StoredObject:
    """An object known to be in storage with these bytes (size and SHA-256 were checked)."""

    key: str
    url: str
    size: int
    sha256: str


class Storage(ABC):
    """Local folder or S3 bucket: the same calls, the same key layout."""

    @abstractmethod
    def upload(self, path: Path, key: str, progress: ProgressCallback | None = None) -> StoredObject:
        """Store a file under ``key``; returns only after its bytes were verified in storage."""

    @abstractmethod
    def download(self, key: str, path: Path) -> Path:
        """Fetch ``key`` into ``path`` (written atomically, checksum verified when stored with one)."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def delete(self, key: str) -> None: ...

    @abstractmethod
    def url(self, key: str) -> str:
        """Where the object lives: ``s3://bucket/key`` or a ``file://`` URI."""

    @abstractmethod
    def share_url(self, key: str, expires_in: int = PRESIGN_DEFAULT_S) -> str:
        """A link someone else can download from (presigned for S3, file URI locally)."""

    @abstractmethod
    def test_connection(self) -> str:
        """A message saying what was reached; raises BadInput naming what is wrong."""

    def upload_tree(self, folder: Path, prefix: str, progress: ProgressCallback | None = None,
                    skip: frozenset[str] = frozenset()) -> list[StoredObject]:
        """Every file under ``folder`` to ``prefix/<relative path>``."""
        stored = []
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.name not in skip:
                stored.append(self.upload(path, f"{prefix}/{path.relative_to(folder).as_posix()}",
                                          progress))
        return stored


def emit(progress: ProgressCallback | None, key: str, done: int, total: int) -> None:
    if progress is not None:
        percent = 100.0 if total == 0 else round(100.0 * done / total, 2)
        progress({"type": "progress", "stage": "upload", "key": key, "bytes": done, "total": total,
                  "percent": percent})
