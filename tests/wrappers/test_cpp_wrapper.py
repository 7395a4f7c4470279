"""The C++ runtime, built for real with cmake/g++ against the system OpenCV (DNN backend),
gives the Python wrapper's answers on the sample classifier and detector; the ONNX Runtime
backend (no headers here) is parsed."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import tree_sitter_cpp
from tree_sitter import Language, Parser

from core.inference import open_package
from core.samples import list_images, sample
from wrappers.render import RUNTIME_FILES, write_runtimes

CMAKE = shutil.which("cmake")
needs_toolchain = pytest.mark.skipif(CMAKE is None or shutil.which("g++") is None, reason="cmake/g++ missing")


def build(package: Path, work: Path, backend: str) -> subprocess.CompletedProcess[str]:
    source = work / "src"
    shutil.copytree(package / "runtimes" / "cpp", source)
    configure = subprocess.run([str(CMAKE), "-S", str(source), "-B", str(work / "build"),
                                f"-DSLIPWAY_BACKEND={backend}"], capture_output=True, text=True, check=False)
    if configure.returncode != 0:
        return configure
    return subprocess.run([str(CMAKE), "--build", str(work / "build"), "-j2"], capture_output=True, text=True,
                          check=False)


@pytest.fixture(scope="module")
def opencv_dnn_example(exported, cpp_example: Path) -> Path:
    """slipway_example built from the templates (tests/wrappers/conftest.py): a package's
    runtimes/cpp holds exactly those files."""
    package = Path(exported("timm-onnx").result["package_dir"])
    templates = Path(__file__).resolve().parents[2] / "wrappers" / "templates" / "cpp"
    written = sorted(p.name for p in (package / "runtimes" / "cpp").iterdir())
    assert written == sorted(RUNTIME_FILES["cpp"])  # the worker wrote them
    for name in written:
        assert (package / "runtimes" / "cpp" / name).read_bytes() == (templates / name).read_bytes(), name
    return cpp_example


def run_example(example: Path, package: Path, images: list[Path], *options: str) -> list[dict[str, Any]]:
    run = subprocess.run([str(example), str(package / "model.onnx"), str(package / "metadata.json"),
                          *options, *map(str, images)],
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert [line["image"] for line in lines] == [str(p) for p in images]
    return lines


@pytest.mark.slow
def test_opencv_dnn_build_gives_the_python_wrappers_top1(exported, opencv_dnn_example: Path) -> None:
    package = Path(exported("timm-onnx").result["package_dir"])
    images = [p for i, p in enumerate(list_images(sample("digits-timm").images)) if i % 25 == 0][:8]
    assert len(images) >= 4
    lines = run_example(opencv_dnn_example, package, images)
    python = open_package(package)
    for line, image in zip(lines, images, strict=True):
        ours = python.predict(str(image))
        theirs = line["predictions"]
        assert [p["class_id"] for p in theirs] == [p["class_id"] for p in ours][: len(theirs)]
        assert theirs[0]["class_name"] == ours[0]["class_name"]
        assert abs(theirs[0]["confidence"] - ours[0]["confidence"]) < 1e-3
        assert set(theirs[0]) == {"class_id", "class_name", "confidence"}


def iou(a: list[float], b: list[float]) -> float:
    w = max(min(a[2], b[2]) - max(a[0], b[0]), 0.0)
    h = max(min(a[3], b[3]) - max(a[1], b[1]), 0.0)
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def assert_same_detections(theirs: list[dict[str, Any]], ours: list[dict[str, Any]], where: str) -> None:
    """One-to-one: every box of one side has its own box on the other, same class, IoU >= 0.99."""
    assert len(theirs) == len(ours), f"{where}: C++ {len(theirs)} boxes, Python {len(ours)}"
    unmatched = list(range(len(ours)))
    for box in theirs:
        assert set(box) == {"class_id", "class_name", "confidence", "bbox"}
        same_class = [i for i in unmatched if ours[i]["class_id"] == box["class_id"]]
        best = max(same_class, key=lambda i: iou(box["bbox"], ours[i]["bbox"]), default=None)
        assert best is not None and iou(box["bbox"], ours[best]["bbox"]) >= 0.99, f"{where}: {box} unmatched"
        assert box["class_name"] == ours[best]["class_name"]
        assert abs(box["confidence"] - ours[best]["confidence"]) < 1e-3, f"{where}: {box} vs {ours[best]}"
        unmatched.remove(best)


@pytest.mark.slow
def test_opencv_dnn_build_gives_the_python_wrappers_detections(exported, opencv_dnn_example: Path,
                                                                tmp_path: Path) -> None:
    """The default ONNX export of the YOLO11 sample runs on OpenCV 4.6's DNN (the export rewrites
    what its importer cannot read) and the C++ decoding + NMS give the Python wrapper's boxes."""
    from skimage import data

    package = Path(exported("det-onnx").result["package_dir"])
    images = list_images(sample("shapes-yolo11n").images)[:10]
    for name in ("astronaut", "chelsea", "camera", "coins"):  # photos: many weak, overlapping boxes
        photo = getattr(data, name)()
        photo = np.stack([photo] * 3, axis=-1) if photo.ndim == 2 else photo[:, :, :3]
        images.append(tmp_path / f"{name}.png")
        assert cv2.imwrite(str(images[-1]), np.ascontiguousarray(photo[:, :, ::-1]))
    python = open_package(package)
    counts = []
    for conf, iou_threshold in ((None, None), (0.05, 0.5)):
        options = [] if conf is None else ["--conf", str(conf), "--iou", str(iou_threshold)]
        lines = run_example(opencv_dnn_example, package, images, *options)
        for line, image in zip(lines, images, strict=True):
            ours = python.predict(str(image), conf=conf, iou=iou_threshold)
            assert_same_detections(line["predictions"], ours, f"{image.name} conf={conf}")
            counts.append(len(ours))
    # the comparison is not vacuous: boxes on every dataset image, dozens on the photos at conf 0.05
    assert all(counts[:10]) and sum(counts[len(images):]) > sum(counts[:len(images)]) > 20


@needs_toolchain
def test_onnxruntime_backend_without_onnxruntime_fails_with_a_clear_message(tmp_path: Path) -> None:
    (tmp_path / "metadata.json").write_text("{}")
    write_runtimes(tmp_path)
    made = build(tmp_path, tmp_path / "work", "onnxruntime")
    assert made.returncode != 0 and "ONNXRUNTIME_ROOT" in made.stderr
    wrong = build(tmp_path, tmp_path / "work2", "tensorflow")
    assert wrong.returncode != 0 and "onnxruntime or opencv_dnn" in wrong.stderr


def test_onnxruntime_backend_parses_and_cmake_finds_onnxruntime_the_usual_ways() -> None:
    # ONNX Runtime's C++ headers are not installed here, so this backend cannot be compiled:
    # tree-sitter-cpp parses it (both #if branches are in the tree) instead
    root = Path(__file__).resolve().parents[2] / "wrappers" / "templates" / "cpp"
    code = (root / "model_wrapper.cpp").read_bytes()
    tree = Parser(Language(tree_sitter_cpp.language())).parse(code)
    assert not tree.root_node.has_error
    text = code.decode()
    assert "Ort::Session" in text and "CreateTensor<float>" in text and "GetOutputNameAllocated" in text
    cmake = (root / "CMakeLists.txt").read_text()
    assert "find_package(onnxruntime CONFIG" in cmake and "onnxruntime::onnxruntime" in cmake
    assert "find_path(ONNXRUNTIME_INCLUDE_DIR onnxruntime_cxx_api.h" in cmake and "find_library(" in cmake
