"""Storage in a local folder (the default): the data directory, the same key layout as S3."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from core.errors import BadInput, InternalError
from core.paths import sha256_of
from core.storage.base import (
    PRESIGN_DEFAULT_S,
    ProgressCallback,
    Storage,
    StoredObject,
    check_key,
    emit,
)

CHUNK = 1 << 20


class LocalStorage(Storage):
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    def upload(self, path: Path, key: str, progress: ProgressCallback | None = None) -> StoredObject:
        source = Path(path)
        if not source.is_file():
            raise BadInput(f"cannot store {source}: no such file")
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        total = source.stat().st_size
        expected = sha256_of(source)
        part = target.with_name(target.name + ".part")
        done = 0
        try:
            with source.open("rb") as src, part.open("wb") as dst:
                while block := src.read(CHUNK):
                    dst.write(block)
                    done += len(block)
                    emit(progress, key, done, total)
                dst.flush()
                os.fsync(dst.fileno())
            if sha256_of(part) != expected:
                raise InternalError(f"copy of {source} to {target} does not match its checksum")
            part.replace(target)
        finally:
            part.unlink(missing_ok=True)
        if total == 0:
            emit(progress, key, 0, 0)
        return StoredObject(key, self.url(key), total, expected)

    def download(self, key: str, path: Path) -> Path:
        source = self.path(key)
        if not source.is_file():
            raise BadInput(f"{self.url(key)} does not exist")
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(target.name + ".part")
        shutil.copyfile(source, part)
        part.replace(target)
        return target

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def url(self, key: str) -> str:
        return self.path(key).resolve().as_uri()

    def share_url(self, key: str, expires_in: int = PRESIGN_DEFAULT_S) -> str:
        return self.url(key)  # a local file has no expiry; whoever has the machine has the file

    def test_connection(self) -> str:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / ".slipway-write-test"
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as err:
            raise BadInput(f"cannot write to the storage folder {self.root}: {err.strerror or err}") from None
        return f"local storage at {self.root} is writable"
