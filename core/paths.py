"""Where Slipway keeps its data: one directory, overridable with SLIPWAY_HOME."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from platformdirs import user_data_dir

from core.errors import BadInput

REPO_ROOT = Path(__file__).resolve().parent.parent
RESOURCES = REPO_ROOT / "resources"
SAMPLES = RESOURCES / "samples"


def data_dir() -> Path:
    """The data directory (database, exports, logs); created on first use, refused when unwritable."""
    override = os.environ.get("SLIPWAY_HOME")
    root = Path(override).expanduser() if override else Path(user_data_dir("slipway", "slipway"))
    try:
        root.mkdir(parents=True, exist_ok=True)
        if not os.access(root, os.W_OK | os.X_OK):
            raise PermissionError(13, "Permission denied")
    except OSError as err:
        raise BadInput(f"cannot use the data directory {root}: {err.strerror or err}. Make it writable, "
                       "or set SLIPWAY_HOME to a folder you can write", details={"path": str(root)}) from None
    return root


def exports_dir() -> Path:
    path = data_dir() / "exports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def database_path() -> Path:
    return data_dir() / "slipway.db"


def cache_dir() -> Path:
    """Scratch space for libraries that insist on writing settings somewhere."""
    path = data_dir() / "cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


def size_of(path: Path) -> int:
    """Size in bytes of a file, or of every file under a directory."""
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def sha256_of(path: Path) -> str:
    """sha256 of a file, or of every file under a directory in name order."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode())
        with file.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
