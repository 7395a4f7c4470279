"""Class names the user gave an export in the inference view (its checkpoint had none):
one text file per export in the data directory, so they are there again next time."""

from __future__ import annotations

from pathlib import Path

from core.paths import data_dir

FOLDER = "class-labels"


def _file(export_id: str) -> Path:
    return data_dir() / FOLDER / f"{export_id}.txt"


def load(export_id: str) -> list[str] | None:
    try:
        text = _file(export_id).read_text(encoding="utf-8")
    except OSError:
        return None
    return [line for line in text.splitlines() if line.strip()] or None


def save(export_id: str, names: list[str]) -> None:
    path = _file(export_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    part.write_text("\n".join(names) + "\n", encoding="utf-8")
    part.replace(path)
