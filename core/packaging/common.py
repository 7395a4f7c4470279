"""What every package type shares: an atomic output folder, a snapshot of the export,
the runtime wrappers, and the zip.

A package is built in a hidden folder beside ``--out`` and renamed into place only
when complete, so a failure (an export deleted mid-way, a full disk) leaves no
half-written package. The export itself is only read: wrappers are rendered into a
snapshot of it, never into the export's folder.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from string import Template
from typing import Any

from core.errors import BadInput
from core.metadata import read_metadata

Progress = Callable[[dict[str, Any]], None]
TEMPLATES = Path(__file__).resolve().parent / "templates"
SKIP_FROM_EXPORT = {"result.json", "export-package.zip", ".staging"}


def report(progress: Progress | None, message: str, **fields: Any) -> None:
    if progress is not None:
        progress({"type": "progress", "stage": "package", "message": message, **fields})


def render_template(relative: str, **values: Any) -> str:
    """A template file under templates/ with ``$name`` placeholders filled (all must be given)."""
    text = (TEMPLATES / relative).read_text(encoding="utf-8")
    return Template(text).substitute({k: str(v) for k, v in values.items()})


@contextmanager
def atomic_folder(out: Path) -> Iterator[Path]:
    """Yield a staging folder that becomes ``out`` only if the block finishes."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BadInput(f"--out {out} must be a new or empty folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        yield staging
        if out.exists():
            out.rmdir()
        staging.replace(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def check_export_folder(folder: Path) -> dict[str, Any]:
    """metadata.json of a package folder, after checking the model it names is there."""
    meta_path = folder / "metadata.json"
    if not folder.is_dir():
        raise BadInput(f"no export package at {folder}: the folder does not exist")
    if not meta_path.is_file():
        raise BadInput(f"{folder} is not an export package: it has no metadata.json")
    metadata = read_metadata(meta_path)  # the schema, typed: a broken file is named here
    model_file = metadata.model_info.model_file
    if not (folder / model_file).exists():
        raise BadInput(f"{folder} names {model_file} in metadata.json but the file is missing")
    return metadata.to_json()


def snapshot_export(source: Path, target: Path, progress: Progress | None = None,
                    metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """Copy an export's files into ``target``; an export vanishing mid-copy is a clear BadInput.

    ``metadata``: what :func:`check_export_folder` already returned for ``source``.
    """
    metadata = metadata or check_export_folder(source)
    files = [p for p in sorted(source.rglob("*"))
             if p.is_file() and not SKIP_FROM_EXPORT.intersection(p.relative_to(source).parts)]
    for index, path in enumerate(files):
        relative = path.relative_to(source)
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copy2(path, destination)
        except FileNotFoundError:
            raise BadInput(f"the export at {source} was deleted while packaging ({relative.as_posix()} is "
                           "gone); no package was written") from None
        report(progress, f"copied {relative.as_posix()}", file=relative.as_posix(),
               percent=round(60.0 * (index + 1) / len(files), 1))
    if not (target / "metadata.json").is_file():
        raise BadInput(f"the export at {source} was deleted while packaging; no package was written")
    return metadata


def render_runtimes(folder: Path) -> None:
    """Write runtimes/ (Python, C++, Swift, Kotlin, golden) from the folder's metadata.json."""
    from wrappers.render import write_runtimes

    write_runtimes(folder)


def copy_model(source: Path, model_file: str, target: Path) -> Path:
    """The model file, or a model folder (.mlpackage), to ``target``."""
    path = source / model_file
    if path.is_dir():
        shutil.copytree(path, target)
    elif path.is_file():
        shutil.copy2(path, target)
    else:
        raise BadInput(f"the model {model_file} disappeared while packaging; no package was written")
    return target


def _stored(relative: Path) -> bool:
    """Model weights barely compress (under 10%): every model file (model.onnx, model.bin,
    model.plan …, and what is inside a model.mlpackage) is stored; the rest is deflated."""
    return relative.stem == "model" or any(part.endswith(".mlpackage") for part in relative.parts[:-1])


def zip_folder(folder: Path, zip_path: Path, skip: frozenset[str] = frozenset()) -> Path:
    """Every file of ``folder`` (relative names, sorted; hidden files and ``skip`` left out)
    into ``zip_path``, written atomically. The one zip rule of every package Slipway writes."""
    part = zip_path.with_name(zip_path.name + ".part")
    excluded = {zip_path.name, part.name, *skip}
    with zipfile.ZipFile(part, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(folder)
            hidden = any(p.startswith(".") for p in relative.parts)
            if path.is_file() and path.name not in excluded and not hidden:
                archive.write(path, relative.as_posix(),
                              compress_type=zipfile.ZIP_STORED if _stored(relative) else zipfile.ZIP_DEFLATED)
    part.replace(zip_path)
    return zip_path


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
