"""Write the export package exactly as DESIGN.md lays it out, then zip it."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from wrappers.render import render_build_engine, render_readme, write_python_runtime

ZIP_NAME = "export-package.zip"


def write_metadata(package_dir: Path, metadata: dict[str, Any]) -> Path:
    path = package_dir / "metadata.json"
    path.write_text(json.dumps(metadata, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def write_package(package_dir: Path, metadata: dict[str, Any]) -> None:
    """metadata.json, labels.txt, README.md and runtimes/ beside the model file."""
    write_metadata(package_dir, metadata)
    names = [c["name"] for c in metadata["classes"]]
    (package_dir / "labels.txt").write_text("\n".join(names) + "\n", encoding="utf-8")
    (package_dir / "README.md").write_text(render_readme(metadata), encoding="utf-8")
    write_python_runtime(package_dir)
    if metadata["model_info"]["export_format"] == "tensorrt":
        script = package_dir / "build_engine.sh"
        script.write_text(render_build_engine(metadata), encoding="utf-8")
        script.chmod(0o755)


def zip_package(package_dir: Path) -> Path:
    """export-package.zip with every file of the package (not itself, not result.json)."""
    target = package_dir / ZIP_NAME
    tmp = target.with_suffix(".zip.part")
    skip = {ZIP_NAME, tmp.name, "result.json"}
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for path in sorted(package_dir.rglob("*")):
            if path.is_file() and path.name not in skip and not path.name.startswith("."):
                # float weights barely compress (under 10%): store them, deflate the text
                method = zipfile.ZIP_STORED if path.stem == "model" else zipfile.ZIP_DEFLATED
                archive.write(path, path.relative_to(package_dir).as_posix(), compress_type=method)
    tmp.replace(target)
    return target
