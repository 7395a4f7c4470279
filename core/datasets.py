"""Readers for the labeled validation data users already have, with errors they can act on.

Checking an exported model's accuracy needs ground truth, and users bring it in the layouts their
training tools wrote: YOLO detection datasets (a ``data.yaml``, or a folder with ``images/`` and
``labels/``) and ImageFolder classification trees. Every problem in such data is a ``BadInput``
naming the file, line and problem, and all of it is found here, while loading: labels are parsed
eagerly and images are only listed, never decoded (fast, no image library), so a bad dataset fails
in a second instead of after minutes of inference.

Rules chosen (facts about the YOLO format follow Ultralytics' own loader):

* Split: a ``data.yaml`` is read at ``val``, else ``test``, else ``train``; each entry (or list of
  entries) is an images folder or a ``.txt`` list of images, relative to ``path`` (relative to the
  yaml's folder, which is also the default). A ``../x`` entry that does not exist is retried as
  ``x`` (Roboflow writes ``val: ../valid/images`` beside its data.yaml). A folder with ``images/``
  uses ``images/val`` if present, else ``images/``, with class names from a ``data.yaml`` or
  ``classes.txt`` in the folder or its parent. ImageFolder uses the first of ``val/``, ``valid/``,
  ``test/``, ``train/`` that holds subfolders, else the folder itself.
* Label rows: 5 numbers are a box. If the data.yaml declares ``kpt_shape: [k, d]``, a row of
  ``5 + k*d`` numbers is a box plus keypoints (the box is kept). Otherwise an odd count of 7 or more
  is a polygon (class + x/y pairs) and becomes its bounding box, and an even count of 8 or more,
  which no polygon has, is a box plus keypoints. Fewer than 5 numbers, or 6 (predictions with a
  confidence column), is an error. Only box or polygon coordinates are range-checked (keypoint
  visibility may be 2). Exact duplicate rows are dropped, as Ultralytics does.
* A missing or empty label file is an image without objects; a dataset where no image has a label
  file is an error, since that almost always means the labels are somewhere else.
* ``max_images`` takes evenly spaced images of the sorted list; for classification every class gets
  at least one and the rest is shared in proportion to class size, so no class drops out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import yaml

from core.errors import BadInput
from core.samples import IMAGE_SUFFIXES, list_images

TASKS = ("detect", "classify")
COORD_TOLERANCE = 1e-3
YAML_SPLITS = ("val", "test", "train")
FOLDER_SPLITS = ("val", "valid", "test", "train")
NAME_FILES = ("data.yaml", "data.yml", "classes.txt")
_SUFFIXES = ", ".join(IMAGE_SUFFIXES)
_T = TypeVar("_T")


@dataclass(frozen=True, eq=False)
class DetectionItem:
    """One image, its boxes (normalized cx, cy, w, h; read-only) and their class ids."""

    image: Path
    boxes: np.ndarray
    classes: np.ndarray

    def boxes_xyxy(self, width: int, height: int) -> np.ndarray:
        """The boxes in pixel x1, y1, x2, y2 for an image of this size, clipped to the image."""
        if width <= 0 or height <= 0:
            raise ValueError(f"image size must be positive, got {width}x{height}")
        b = self.boxes.astype(np.float64).reshape(-1, 4)
        xyxy = np.concatenate([b[:, :2] - b[:, 2:] / 2, b[:, :2] + b[:, 2:] / 2], axis=1)
        scale = np.array([width, height, width, height], dtype=np.float64)
        return np.clip(xyxy * scale, 0.0, scale).astype(np.float32)


@dataclass(frozen=True)
class ClassificationItem:
    image: Path
    class_id: int


@dataclass(frozen=True)
class Dataset:
    task: str
    root: Path
    class_names: list[str]
    items: Sequence[Any]  # DetectionItem or ClassificationItem by task; typed by the methods below
    source: str

    def detections(self) -> list[DetectionItem]:
        if self.task != "detect":
            raise TypeError(f"a {self.task} dataset has no detection items")
        return [item for item in self.items if isinstance(item, DetectionItem)]

    def classifications(self) -> list[ClassificationItem]:
        if self.task != "classify":
            raise TypeError(f"a {self.task} dataset has no classification items")
        return [item for item in self.items if isinstance(item, ClassificationItem)]


def labels_task(task: str) -> str:
    """The labels a model task is validated with: segment and pose models by their boxes."""
    return "classify" if task == "classify" else "detect"


def load_dataset(path: Path, task: str, max_images: int | None = None) -> Dataset:
    """The labeled data at ``path`` for a model of this task ("detect" or "classify")."""
    if task == "detect":
        return load_detection_dataset(path, max_images)
    if task == "classify":
        return load_classification_dataset(path, max_images)
    raise BadInput(f"Cannot read labeled data for task '{task}': supported tasks are {', '.join(TASKS)}.")


def load_detection_dataset(path: Path, max_images: int | None = None) -> Dataset:
    """A YOLO detection dataset: a data.yaml, or a folder with images/ and labels/."""
    path = _checked_path(path, max_images)
    if path.is_file():
        if path.suffix.lower() not in (".yaml", ".yml"):
            raise BadInput(f"{path} is not a data.yaml: give a YOLO data.yaml or a folder with images/ "
                           "and labels/.")
        return _load_yaml_dataset(path, max_images)
    if (path / "images").is_dir():
        return _load_folder_dataset(path, max_images)
    for name in ("data.yaml", "data.yml"):
        if (path / name).is_file():
            return _load_yaml_dataset(path / name, max_images)
    raise BadInput(f"{path} is not a YOLO detection dataset: expected a data.yaml file in it, "
                   "or images/ and labels/ subfolders.")


def load_classification_dataset(path: Path, max_images: int | None = None) -> Dataset:
    """An ImageFolder tree, root/<class name>/<image>; class ids follow the sorted folder names."""
    root = _checked_path(path, max_images)
    if not root.is_dir():
        raise BadInput(f"{root} is not a folder: a classification dataset is a folder with one subfolder "
                       "of images per class (ImageFolder layout).")
    base, source = root, "ImageFolder"
    split = next((s for s in FOLDER_SPLITS if _subdirs(root / s)), None)
    if split:
        base, source = root / split, f"ImageFolder ({split} split)"
    class_dirs = _subdirs(base)
    if not class_dirs:
        found = "images but" if _images_in(base) else "nothing usable and"
        raise BadInput(f"{base} holds {found} no class subfolders: the ImageFolder layout is "
                       f"{base}/<class name>/<image>.")
    per_class = [_images_in(d) for d in class_dirs]
    if not any(per_class):
        raise BadInput(f"No images found in the {len(class_dirs)} class folders of {base} "
                       f"(looked for {_SUFFIXES}).")
    chosen = _spread_classes(per_class, max_images)
    items = [ClassificationItem(image, cid) for cid, images in enumerate(chosen) for image in images]
    return Dataset("classify", base, [d.name for d in class_dirs], items, source)


def check_classes(dataset: Dataset, model_class_names: Sequence[str]) -> None:
    """Raise BadInput unless the dataset's classes are the model's, id for id.

    Classification names must be equal strings; detection names may differ in case, spacing and
    ``_``/``-`` ("Traffic light" == "traffic_light"). The same names in another order is a mismatch.
    """
    ours, theirs = list(dataset.class_names), [str(name) for name in model_class_names]
    if len(ours) != len(theirs):
        raise BadInput(f"The dataset has {len(ours)} classes ({_preview(ours)}) but the model has "
                       f"{len(theirs)} ({_preview(theirs)}).")
    key = (lambda s: s) if dataset.task == "classify" else _loose_name
    diffs = [(i, a, b) for i, (a, b) in enumerate(zip(ours, theirs, strict=True)) if key(a) != key(b)]
    if not diffs:
        return
    shown = "; ".join(f"id {i}: dataset '{a}', model '{b}'" for i, a, b in diffs[:5])
    more = f" (and {len(diffs) - 5} more)" if len(diffs) > 5 else ""
    hint = ""
    if sorted(map(key, ours)) == sorted(map(key, theirs)):
        hint = (" The names are the same but in a different order, so the class ids would not line up: "
                "order the dataset's names as the model's.")
    raise BadInput(f"The dataset's class names do not match the model's: {shown}{more}.{hint}")


def label_path(image: Path) -> Path:
    """YOLO's label file for an image: the last 'images' folder becomes 'labels', the suffix .txt."""
    parts = list(image.parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return Path(*parts).with_suffix(".txt")


def _load_yaml_dataset(yaml_path: Path, max_images: int | None) -> Dataset:
    data = _read_yaml(yaml_path)
    names, kpt = _parse_names(data, yaml_path), _kpt_values(data, yaml_path)
    raw_root = data.get("path")
    root = yaml_path.parent / str(raw_root) if raw_root not in (None, "") else yaml_path.parent
    if not root.is_dir():
        raise BadInput(f"The dataset folder {root} does not exist (from 'path: {raw_root}' in {yaml_path}); "
                       "use 'path: .' when the images sit beside the yaml.")
    split = next((s for s in YAML_SPLITS if data.get(s)), None)
    if split is None:
        raise BadInput(f"{yaml_path} says where no images are: it has no 'val', 'test' or 'train' entry.")
    images: list[Path] = []
    looked: list[str] = []
    for entry in map(str, data[split] if isinstance(data[split], list) else [data[split]]):
        target = root / entry
        if not target.exists() and entry.startswith("../") and (root / entry[3:]).exists():
            target = root / entry[3:]
        looked.append(str(target))
        if target.is_dir():
            images += _images_in(target)
        elif target.is_file() and target.suffix.lower() == ".txt":
            images += _read_image_list(target)
        else:
            problem = "is not a folder or a .txt list of images" if target.exists() else "does not exist"
            raise BadInput(f"The {split} images folder {target} {problem} "
                           f"(from '{split}: {entry}' in {yaml_path}).")
    return _detection(root, images, names, kpt, max_images, f"YOLO data.yaml ({split} split)", looked)


def _load_folder_dataset(folder: Path, max_images: int | None) -> Dataset:
    if not (folder / "labels").is_dir():
        raise BadInput(f"{folder} has an images/ folder but no labels/ folder beside it: YOLO labels go in "
                       "labels/, mirroring images/ (images/val/a.jpg -> labels/val/a.txt).")
    images_dir, source = folder / "images", "YOLO folder (images/ + labels/)"
    if (images_dir / "val").is_dir():
        images_dir, source = images_dir / "val", "YOLO folder (images/val + labels/val)"
    names, kpt = _names_near(folder)
    return _detection(folder, _images_in(images_dir), names, kpt, max_images, source, [str(images_dir)])


def _detection(root: Path, images: list[Path], names: list[str], kpt: int | None,
               max_images: int | None, source: str, looked: list[str]) -> Dataset:
    if not images:
        raise BadInput(f"No images found in {' and '.join(looked)} (looked for {_SUFFIXES}).")
    ordered = sorted(set(images))
    if not any(label_path(image).is_file() for image in ordered):
        raise BadInput(f"None of the {len(ordered)} images in {' and '.join(looked)} has a label file; "
                       f"for example, {ordered[0].name} would be labeled in {label_path(ordered[0])}.")
    items = []
    for image in evenly_spaced(ordered, max_images):
        label = label_path(image)
        boxes, classes = _parse_labels(label, len(names), kpt) if label.is_file() else ([], [])
        arrays = np.array(boxes, np.float32).reshape(-1, 4), np.array(classes, np.int64)
        for array in arrays:
            array.setflags(write=False)
        items.append(DetectionItem(image, *arrays))
    return Dataset("detect", root, names, items, source)


def _parse_labels(path: Path, num_classes: int, kpt: int | None) -> tuple[list[list[float]], list[int]]:
    boxes: list[list[float]] = []
    classes: list[int] = []
    seen: set[tuple[float, ...]] = set()
    for number, line in enumerate(_read_text(path).splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        values = [_number(field, path, number) for field in fields]
        box = _row_box(values, path, number, kpt)
        if values[0] != int(values[0]):
            raise _line_error(path, number, f"class id '{fields[0]}' is not a whole number.")
        class_id = int(values[0])
        if not 0 <= class_id < num_classes:
            raise _line_error(path, number, f"class id {class_id} is out of range: the dataset has "
                              f"{num_classes} class names, so ids run 0..{num_classes - 1}.")
        if tuple(values) not in seen:
            seen.add(tuple(values))
            boxes.append(box)
            classes.append(class_id)
    return boxes, classes


def _number(field: str, path: Path, number: int) -> float:
    try:
        value = float(field)
    except ValueError:
        raise _line_error(path, number, f"'{field}' is not a number (a label line is: class cx cy w h).") \
            from None
    if not math.isfinite(value):
        raise _line_error(path, number, f"'{field}' is not a finite number.")
    return value


def _row_box(values: list[float], path: Path, number: int, kpt: int | None) -> list[float]:
    """The normalized cx, cy, w, h of one label row: a box, a box with keypoints, or a polygon."""
    count = len(values)
    if count < 5 or count == 6:
        hint = " (6 numbers look like predictions with a confidence column)" if count == 6 else ""
        raise _line_error(path, number, f"expected 5 numbers (class cx cy w h), found {count}{hint}.")
    polygon = count % 2 == 1 and count >= 7 and count != 5 + (kpt or 0)
    coords = values[1:] if polygon else values[1:5]
    for value in coords:
        if not -COORD_TOLERANCE <= value <= 1 + COORD_TOLERANCE:
            raise _line_error(path, number, f"coordinate {value:g} is outside [0, 1]; YOLO labels are "
                              "fractions of the image width and height, not pixels.")
    clipped = [min(max(value, 0.0), 1.0) for value in coords]
    if not polygon:
        return clipped
    xs, ys = clipped[0::2], clipped[1::2]
    return [(min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2, max(xs) - min(xs), max(ys) - min(ys)]


def _read_image_list(list_file: Path) -> list[Path]:
    """Images named in a .txt list, one per line; relative lines are relative to the list's folder."""
    images = []
    for number, line in enumerate(_read_text(list_file).splitlines(), 1):
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        image = Path(entry).expanduser()
        image = image if image.is_absolute() else list_file.parent / image
        if image.suffix.lower() not in IMAGE_SUFFIXES:
            raise _line_error(list_file, number, f"'{entry}' is not an image file ({_SUFFIXES}).")
        if not image.is_file():
            raise _line_error(list_file, number, f"image {image} does not exist.")
        images.append(image)
    return images


def _names_near(folder: Path) -> tuple[list[str], int | None]:
    """Class names (and keypoint row width) from a data.yaml or classes.txt in the folder or its parent."""
    for candidate in (place / name for place in (folder, folder.parent) for name in NAME_FILES):
        if candidate.is_file() and candidate.suffix == ".txt":
            names = [line.strip() for line in _read_text(candidate).splitlines() if line.strip()]
            if not names:
                raise BadInput(f"{candidate} is empty: list the class names, one per line.")
            return names, None
        if candidate.is_file():
            data = _read_yaml(candidate)
            return _parse_names(data, candidate), _kpt_values(data, candidate)
    raise BadInput(f"No class names for {folder}: put a classes.txt (one name per line) or a data.yaml "
                   f"with 'names' in {folder} or {folder.parent}.")


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(_read_text(path))
    except yaml.YAMLError as exc:
        raise BadInput(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise BadInput(f"{path} does not hold YAML keys such as path, val and names.")
    return data


def _parse_names(data: dict[str, Any], path: Path) -> list[str]:
    raw = data.get("names")
    if raw is None:
        raise BadInput(f"{path} has no 'names': list the class names, e.g. names: [cat, dog] "
                       "or names: {0: cat, 1: dog}.")
    if isinstance(raw, list):
        names = [str(name) for name in raw]
    elif isinstance(raw, dict):
        ids = {int(k) if isinstance(k, int) or str(k).strip().isdigit() else -1: v for k, v in raw.items()}
        if sorted(ids) != list(range(len(raw))):
            raise BadInput(f"{path}: the keys of 'names' must be the class ids 0..{len(raw) - 1} without "
                           f"gaps or repeats; found {', '.join(map(str, raw))}.")
        names = [str(ids[i]) for i in range(len(raw))]
    else:
        raise BadInput(f"{path}: 'names' must be a list or a mapping of id to name, not {type(raw).__name__}")
    if not names:
        raise BadInput(f"{path}: 'names' is empty.")
    if data.get("nc") is not None and data["nc"] != len(names):
        raise BadInput(f"{path}: nc is {data['nc']} but 'names' lists {len(names)} classes.")
    return names


def _kpt_values(data: dict[str, Any], path: Path) -> int | None:
    """How many keypoint numbers follow the box on a row, from kpt_shape: [keypoints, 2 or 3]."""
    raw: Any = data.get("kpt_shape")
    if raw is None:
        return None
    if isinstance(raw, list) and len(raw) == 2 and all(type(v) is int for v in raw) and raw[1] in (2, 3):
        return int(max(raw[0], 0) * raw[1]) or None
    raise BadInput(f"{path}: kpt_shape must be [number of keypoints, 2 or 3], e.g. [17, 3]; found {raw!r}.")


def _checked_path(path: Path | str, max_images: int | None) -> Path:
    if max_images is not None and (isinstance(max_images, bool) or max_images < 1):
        raise BadInput(f"max_images must be a positive whole number, got {max_images!r}.")
    resolved = Path(path).expanduser()
    if not resolved.exists():
        raise BadInput(f"The dataset path {resolved} does not exist.")
    return resolved


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"Cannot read {path}: {exc}") from None


def _line_error(path: Path, number: int, problem: str) -> BadInput:
    return BadInput(f"{path}, line {number}: {problem}", details={"file": str(path), "line": number})


def _images_in(folder: Path) -> list[Path]:
    """Image files under a folder, recursively and sorted, skipping hidden files and folders."""
    if not folder.is_dir():
        return []
    return [p for p in list_images(folder)
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)]


def _subdirs(folder: Path) -> list[Path]:
    found = folder.iterdir() if folder.is_dir() else ()
    return sorted((p for p in found if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)


def evenly_spaced(items: list[_T], count: int | None) -> list[_T]:
    """``count`` evenly spaced items, the first included; all of them when there are not more."""
    if count is None or count >= len(items):
        return list(items)
    return [items[i * len(items) // count] for i in range(count)]


def _spread_classes(groups: list[list[Path]], count: int | None) -> list[list[Path]]:
    """Per-class subsets totalling ``count``: one image per class, the rest shared by class size."""
    if count is None or count >= sum(map(len, groups)):
        return groups
    filled = [i for i, group in enumerate(groups) if group]
    if count < len(filled):  # too few for every class: one image from each of evenly spaced classes
        keep = set(evenly_spaced(filled, count))
        return [group[:1] if i in keep else [] for i, group in enumerate(groups)]
    room = [max(len(group) - 1, 0) for group in groups]
    spare, total_room = count - len(filled), sum(room)
    shares = [spare * r // total_room for r in room]  # largest remainders get the leftover
    by_remainder = sorted(range(len(groups)), key=lambda i: (-(spare * room[i] % total_room), i))
    for i in by_remainder[: spare - sum(shares)]:
        shares[i] += 1
    return [evenly_spaced(group, min(len(group), 1) + share)
            for group, share in zip(groups, shares, strict=True)]


def _loose_name(name: str) -> str:
    return " ".join(name.replace("_", " ").replace("-", " ").split()).casefold()


def _preview(names: list[str], limit: int = 6) -> str:
    return ", ".join(names[:limit]) + (f", ... {len(names) - limit} more" if len(names) > limit else "")
