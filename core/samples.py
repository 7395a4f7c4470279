"""The bundled sample models, found through their sample.json files."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from core.paths import SAMPLES

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


@dataclass(frozen=True)
class Sample:
    name: str
    title: str
    folder: Path
    framework: str
    task: str
    checkpoint: Path
    dataset: Path
    images: Path
    model_name: str | None = None
    labels: Path | None = None

    def image_files(self) -> list[Path]:
        return list_images(self.images)


def list_images(folder: Path) -> list[Path]:
    """Image files under a folder, recursively, in a stable order."""
    return sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def load_sample(sample_json: Path) -> Sample:
    data = json.loads(sample_json.read_text(encoding="utf-8"))
    folder = sample_json.parent
    return Sample(
        name=data.get("name", folder.name),
        title=data.get("title", folder.name),
        folder=folder,
        framework=data["framework"],
        task=data["task"],
        checkpoint=folder / data["checkpoint"],
        dataset=folder / data["dataset"],
        images=folder / data.get("images", data["dataset"]),
        model_name=data.get("model_name"),
        labels=folder / data["labels"] if data.get("labels") else None,
    )


def samples(root: Path = SAMPLES) -> list[Sample]:
    return [load_sample(p) for p in sorted(root.glob("*/sample.json"))]


def sample(name: str) -> Sample:
    for item in samples():
        if item.name == name:
            return item
    raise KeyError(name)
