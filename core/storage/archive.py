"""Zip archives handed back to the app: checked whole before a single byte is extracted.

A member whose name is absolute, has a drive letter, climbs out with ``..`` or is a
symbolic link would write outside the target folder ("zip slip"); one such member
refuses the whole archive, so a refused zip leaves nothing behind.
"""

from __future__ import annotations

import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

from core.errors import BadInput


def unsafe_members(archive: zipfile.ZipFile) -> list[str]:
    bad = []
    for info in archive.infolist():
        name = info.filename.replace("\\", "/")
        parts = PurePosixPath(name).parts
        is_link = stat.S_ISLNK(info.external_attr >> 16)
        if name.startswith("/") or ".." in parts or (parts and ":" in parts[0]) or is_link:
            bad.append(info.filename)
    return bad


def extract_zip(zip_path: Path, target: Path) -> Path:
    """Extract into ``target`` (new or empty) after checking every member; BadInput otherwise."""
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as err:
        raise BadInput(f"{zip_path} is not a readable zip archive: {err}") from None
    with archive:
        bad = unsafe_members(archive)
        if bad:
            shown = ", ".join(repr(b) for b in bad[:3]) + (" …" if len(bad) > 3 else "")
            raise BadInput(f"refusing {zip_path.name}: {len(bad)} member(s) would be written outside the "
                           f"target folder ({shown}); nothing was extracted")
        if target.exists() and any(target.iterdir()):
            raise BadInput(f"{target} is not empty; extract into a new folder")
        target.mkdir(parents=True, exist_ok=True)
        try:
            archive.extractall(target)
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
    return target
