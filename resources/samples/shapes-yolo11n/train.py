"""Regenerate the sample detector: YOLO11n trained from scratch on synthetic shapes.

    python resources/samples/shapes-yolo11n/train.py      # about 45 min on 2 CPU cores

Deterministic: the dataset is drawn from a fixed seed, training uses a fixed seed
and deterministic kernels. Writes best.pt, dataset/ (the validation split that
ships) and metrics.json beside this file. Nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
CLASSES = ["circle", "square", "triangle", "star"]
IMAGE_SIZE = (320, 320)  # h, w of generated images
TRAIN_IMAGES, VAL_IMAGES = 480, 48
EPOCHS = int(os.environ.get("SHAPES_EPOCHS", "50"))


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A varied background: a colour gradient, noise and a few random lines."""
    c0, c1 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    t = np.linspace(0, 1, w if rng.random() < 0.5 else h, dtype=np.float32)
    ramp = c0[None, :] * (1 - t[:, None]) + c1[None, :] * t[:, None]
    img = np.broadcast_to(ramp[None] if len(t) == w else ramp[:, None], (h, w, 3)).copy()
    img += rng.normal(0, rng.uniform(2, 18), (h, w, 3))
    for _ in range(rng.integers(0, 6)):
        p1 = tuple(int(v) for v in rng.integers(0, [w, h]))
        p2 = tuple(int(v) for v in rng.integers(0, [w, h]))
        color = tuple(int(v) for v in rng.integers(0, 256, 3))
        cv2.line(img, p1, p2, color, int(rng.integers(1, 4)))
    return np.clip(img, 0, 255).astype(np.uint8)


def _polygon(kind: str, cx: float, cy: float, r: float, angle: float) -> np.ndarray:
    if kind == "square":
        k = 4
        radii = [r] * k
    elif kind == "triangle":
        k = 3
        radii = [r] * k
    else:  # star
        k = 10
        radii = [r if i % 2 == 0 else r * 0.45 for i in range(k)]
    angles = angle + np.arange(k) * 2 * np.pi / k
    return np.stack([cx + np.array(radii) * np.cos(angles), cy + np.array(radii) * np.sin(angles)], 1)


def draw_sample(rng: np.random.Generator) -> tuple[np.ndarray, list[tuple[int, float, float, float, float]]]:
    h, w = IMAGE_SIZE
    img = _background(rng, h, w)
    labels: list[tuple[int, float, float, float, float]] = []
    boxes: list[np.ndarray] = []
    for _ in range(int(rng.integers(1, 5))):
        cls = int(rng.integers(0, len(CLASSES)))
        r = float(rng.uniform(18, 60))
        cx, cy = float(rng.uniform(r, w - r)), float(rng.uniform(r, h - r))
        if any(abs(cx - b[0]) < r + b[2] and abs(cy - b[1]) < r + b[2] for b in boxes):
            continue  # keep shapes apart so every box is unambiguous
        color = tuple(int(v) for v in rng.integers(0, 256, 3))
        if CLASSES[cls] == "circle":
            cv2.circle(img, (round(cx), round(cy)), round(r), color, -1, cv2.LINE_AA)
            x1, y1, x2, y2 = cx - r, cy - r, cx + r, cy + r
        else:
            pts = _polygon(CLASSES[cls], cx, cy, r, float(rng.uniform(0, 2 * np.pi)))
            cv2.fillPoly(img, [np.round(pts).astype(np.int32)], color, cv2.LINE_AA)
            x1, y1 = pts.min(0)
            x2, y2 = pts.max(0)
        boxes.append(np.array([cx, cy, r]))
        labels.append((cls, (x1 + x2) / 2 / w, (y1 + y2) / 2 / h, (x2 - x1) / w, (y2 - y1) / h))
    return img, labels


def write_split(root: Path, split: str, count: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    (root / "images" / split).mkdir(parents=True, exist_ok=True)
    (root / "labels" / split).mkdir(parents=True, exist_ok=True)
    for i in range(count):
        img, labels = draw_sample(rng)
        name = f"{split}_{i:04d}"
        cv2.imwrite(str(root / "images" / split / f"{name}.jpg"), img[:, :, ::-1],
                    [cv2.IMWRITE_JPEG_QUALITY, 90])
        lines = [f"{c} {x:.6f} {y:.6f} {bw:.6f} {bh:.6f}" for c, x, y, bw, bh in labels]
        (root / "labels" / split / f"{name}.txt").write_text("\n".join(lines) + "\n")


def write_data_yaml(root: Path, splits: dict[str, str]) -> Path:
    lines = [f"path: {root}"] + [f"{k}: {v}" for k, v in splits.items()]
    lines += ["names:"] + [f"  {i}: {n}" for i, n in enumerate(CLASSES)]
    path = root / "data.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def main() -> None:
    sys.path.insert(0, str(HERE.parents[2]))
    from exporters.offline import configure_offline

    with tempfile.TemporaryDirectory() as tmp:
        configure_offline(Path(tmp) / "home")
        from ultralytics import YOLO

        work = Path(tmp) / "shapes"
        write_split(work, "train", TRAIN_IMAGES, seed=1)
        write_split(work, "val", VAL_IMAGES, seed=2)
        data = write_data_yaml(work, {"train": "images/train", "val": "images/val"})
        model = YOLO("yolo11n.yaml")
        model.train(data=str(data), epochs=EPOCHS, imgsz=IMAGE_SIZE[1], batch=16, device="cpu",
                    workers=2, seed=0, deterministic=True, plots=False, amp=False,
                    project=str(Path(tmp) / "runs"), name="train", exist_ok=True, verbose=False,
                    patience=EPOCHS, close_mosaic=10)
        best = Path(tmp) / "runs" / "train" / "weights" / "best.pt"
        metrics = YOLO(str(best)).val(data=str(data), imgsz=IMAGE_SIZE[1], device="cpu", plots=False,
                                      batch=8, workers=0, verbose=False,
                                      project=str(Path(tmp) / "runs"), name="val")
        shutil.copy(best, HERE / "best.pt")
        dataset = HERE / "dataset"
        shutil.rmtree(dataset, ignore_errors=True)
        shutil.copytree(work / "images" / "val", dataset / "images" / "val")
        shutil.copytree(work / "labels" / "val", dataset / "labels" / "val")
    # the shipped data.yaml is relative to itself, so the folder can move
    (dataset / "data.yaml").write_text(
        "path: .\nval: images/val\nnames:\n" + "".join(f"  {i}: {n}\n" for i, n in enumerate(CLASSES))
    )
    result = {"mAP50": float(metrics.box.map50), "mAP50-95": float(metrics.box.map),
              "epochs": EPOCHS, "imgsz": IMAGE_SIZE[1]}
    (HERE / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
