"""One `slipway serve` per data directory.

The rate windows, monthly quotas and usage totals a server enforces live in its
memory (so no request waits on the database); a second server on the same data
directory would count apart and let a key through twice. So the server holds an
exclusive lock on ``serve.lock`` in the data directory for as long as it runs.
The operating system releases it when the process ends, however it ends (a
crash or SIGKILL leaves no stale lock). A second server is refused with exit 2,
naming the data directory and the running server's process id and address.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import IO

from core.errors import BadInput

LOCK_NAME = "serve.lock"


class ServerLock:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.path = data_dir / LOCK_NAME
        self._fh: IO[str] | None = None

    def acquire(self) -> None:
        """Hold the lock for this process, or raise :class:`BadInput` saying who holds it."""
        try:
            fh = self.path.open("a+", encoding="utf-8")
        except OSError as err:
            raise BadInput(f"cannot write {self.path}: {err.strerror or err}. Make the data directory "
                           "writable, or set SLIPWAY_HOME to a folder you can write",
                           details={"path": str(self.path)}) from None
        if not _try_lock(fh):
            holder = _holder(self.path)
            fh.close()
            raise BadInput(f"another `slipway serve`{holder} is already serving the data directory "
                           f"{self.data_dir}; one server per data directory keeps rate limits and quotas "
                           "exact. Use that server, stop it first, or set SLIPWAY_HOME to another data "
                           "directory", details={"path": str(self.data_dir)})
        self._fh = fh
        self._describe({"pid": os.getpid()})

    def announce(self, url: str) -> None:
        """Record the address, for the message a second server prints."""
        self._describe({"pid": os.getpid(), "url": url})

    def release(self) -> None:
        if self._fh is not None:
            self._fh.close()  # closing the file releases the lock
            self._fh = None

    def _describe(self, info: dict[str, object]) -> None:
        if self._fh is None or sys.platform == "win32":  # a locked region cannot be read there
            return
        self._fh.seek(0)
        self._fh.truncate()
        self._fh.write(json.dumps(info))
        self._fh.flush()


def _try_lock(fh: IO[str]) -> bool:
    try:
        if sys.platform == "win32":
            import msvcrt

            fh.seek(0)
            msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _holder(path: Path) -> str:
    """`` (pid 123, http://127.0.0.1:8000)`` from the lock file, or nothing when it cannot be read."""
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    if not isinstance(info, dict):
        return ""
    parts = [f"pid {info['pid']}" if "pid" in info else "", str(info.get("url") or "")]
    shown = ", ".join(p for p in parts if p)
    return f" ({shown})" if shown else ""
