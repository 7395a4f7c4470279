"""The C++ runtime, built for real with cmake/g++ against the system OpenCV (DNN backend),
gives the Python wrapper's answers; the ONNX Runtime backend (no headers here) is parsed."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import tree_sitter_cpp
from tree_sitter import Language, Parser

from core.inference import open_package
from core.samples import list_images, sample
from wrappers.render import write_runtimes

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


@pytest.mark.slow
@needs_toolchain
def test_opencv_dnn_build_gives_the_python_wrappers_top1(exported, tmp_path: Path) -> None:
    package = Path(exported("timm-onnx").result["package_dir"])
    assert (package / "runtimes" / "cpp" / "CMakeLists.txt").is_file()  # the worker wrote it
    made = build(package, tmp_path, "opencv_dnn")
    assert made.returncode == 0, made.stderr[-2000:]
    images = [p for i, p in enumerate(list_images(sample("digits-timm").images)) if i % 25 == 0][:8]
    assert len(images) >= 4
    run = subprocess.run([str(tmp_path / "build" / "slipway_example"), str(package / "model.onnx"),
                          str(package / "metadata.json"), *map(str, images)],
                         capture_output=True, text=True, check=True, timeout=120)
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    python = open_package(package)
    assert [line["image"] for line in lines] == [str(p) for p in images]
    for line, image in zip(lines, images, strict=True):
        ours = python.predict(str(image))
        theirs = line["predictions"]
        assert [p["class_id"] for p in theirs] == [p["class_id"] for p in ours][: len(theirs)]
        assert theirs[0]["class_name"] == ours[0]["class_name"]
        assert abs(theirs[0]["confidence"] - ours[0]["confidence"]) < 1e-3
        assert set(theirs[0]) == {"class_id", "class_name", "confidence"}


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
