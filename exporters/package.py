"""Write the export package exactly as DESIGN.md lays it out, then zip it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from core import formats
from core.inference import open_package, wrapper_module
from core.packaging.common import zip_folder
from core.packaging.download import ZIP_NAME
from wrappers.render import render_readme, write_runtimes

GOLDEN_DIR = Path("runtimes") / "golden"
# how many candidate images are tried when picking the detector's golden image
GOLDEN_CANDIDATES = 8

Predict = Callable[[np.ndarray, float | None, float | None], list[dict[str, Any]]]


def write_metadata(package_dir: Path, metadata: dict[str, Any]) -> Path:
    path = package_dir / "metadata.json"
    path.write_text(json.dumps(metadata, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def write_package(package_dir: Path, metadata: dict[str, Any],
                  golden_images: list[tuple[str, np.ndarray]] | None = None,
                  reference: Predict | None = None) -> None:
    """metadata.json, labels.txt, runtimes/ (with golden/ when images are given) and README.md
    beside the model file. reference: the original model's predictions, for formats the
    packaged wrapper cannot run here."""
    write_metadata(package_dir, metadata)
    names = [c["name"] for c in metadata["classes"]]
    (package_dir / "labels.txt").write_text("\n".join(names) + "\n", encoding="utf-8")
    write_runtimes(package_dir)
    golden = write_golden(package_dir, metadata, golden_images, reference) if golden_images else None
    (package_dir / "README.md").write_text(render_readme(metadata, golden), encoding="utf-8")


def _package_predictor(package_dir: Path) -> Predict:
    wrapper = open_package(package_dir, threads=2)

    def predict(rgb: np.ndarray, conf: float | None, iou: float | None) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = wrapper.predict(rgb, conf=conf, iou=iou)
        return result

    return predict


def original_predictor(model: Any, metadata: dict[str, Any]) -> Predict:
    """The original (PyTorch) model on the tensor metadata.json describes, decoded like the
    wrapper: golden predictions for formats without a runtime on this machine."""
    from exporters.parity import reference_processing

    pre, post = reference_processing(wrapper_module(), metadata, model)

    def predict(rgb: np.ndarray, conf: float | None, iou: float | None) -> list[dict[str, Any]]:
        tensor, transform = pre(rgb)
        result: list[dict[str, Any]] = post.decode(model.forward(tensor), transform, rgb.shape[:2],
                                                   conf, iou)
        return result

    return predict


def golden_candidates(images: list[tuple[str, np.ndarray]]) -> list[tuple[str, np.ndarray]]:
    """The user's or the sample's own images first, then a few general photos."""
    own = [item for item in images if not item[0].startswith("skimage:")]
    photos = [item for item in images if item[0].startswith("skimage:")]
    return own[: GOLDEN_CANDIDATES // 2] + photos[: GOLDEN_CANDIDATES - min(len(own), GOLDEN_CANDIDATES // 2)]


def write_golden(package_dir: Path, metadata: dict[str, Any], images: list[tuple[str, np.ndarray]],
                 reference: Predict | None = None) -> dict[str, Any]:
    """runtimes/golden/: a lossless sample image and expected.json, the Python wrapper's
    predictions on it, so an integration in another language can be checked against them.
    Detectors get the first of the user's own images that shows detections (the candidate
    with the most detections when none does). Returns what was written
    (or why expected.json is missing) for the README."""
    import cv2

    target = package_dir / GOLDEN_DIR
    target.mkdir(parents=True, exist_ok=True)
    export_format = metadata["model_info"]["export_format"]
    if formats.get(export_format).runs_here():
        predict, source = _package_predictor(package_dir), "the packaged Python wrapper"
    elif reference is not None:
        predict = reference
        source = f"the original model (no {export_format} runtime on the exporting machine)"
    else:
        name, rgb = images[0]
        cv2.imwrite(str(target / "image.png"), rgb[:, :, ::-1])
        reason = (f"no expected.json: the exporting machine has no {export_format} runtime and the "
                  "original model was not available")
        (target / "README.md").write_text(reason + "\n", encoding="utf-8")
        return {"expected": False, "reason": reason}
    classify = metadata["model_info"]["task"] == "classify"
    defaults = wrapper_module().Postprocessor(metadata["postprocessing"], metadata["classes"])
    conf = None if classify else defaults.conf  # the wrapper's own defaults, from metadata.json
    iou = None if classify else defaults.iou
    best: tuple[str, np.ndarray, list[dict[str, Any]]] | None = None
    for name, rgb in images[: 1 if classify else GOLDEN_CANDIDATES]:
        predictions = predict(rgb, conf, iou)
        if not name.startswith("skimage:") and predictions:
            best = (name, rgb, predictions)  # the user's own image, showing what the model finds
            break
        if best is None or len(predictions) > len(best[2]):
            best = (name, rgb, predictions)
    assert best is not None
    name, rgb, predictions = best
    cv2.imwrite(str(target / "image.png"), np.ascontiguousarray(rgb[:, :, ::-1]))
    expected = {"image": "image.png", "source_image": name, "task": metadata["model_info"]["task"],
                "conf": conf, "iou": iou, "computed_with": source, "predictions": predictions}
    (target / "expected.json").write_text(json.dumps(expected, indent=2) + "\n", encoding="utf-8")
    return {"expected": True, "source": source, "conf": conf, "iou": iou}


def zip_package(package_dir: Path) -> Path:
    """export-package.zip with every file of the package (not itself, not result.json)."""
    return zip_folder(package_dir, package_dir / ZIP_NAME, skip=frozenset({"result.json"}))
