"""Every generated runtime parses cleanly and takes its behaviour from metadata.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import tree_sitter_cpp
import tree_sitter_kotlin
import tree_sitter_python
import tree_sitter_swift
from tree_sitter import Language, Node, Parser

from wrappers.render import RUNTIME_FILES, render_readme, write_runtimes

GRAMMARS = {
    ".py": tree_sitter_python.language(),
    ".cpp": tree_sitter_cpp.language(),
    ".h": tree_sitter_cpp.language(),
    ".swift": tree_sitter_swift.language(),
    ".kt": tree_sitter_kotlin.language(),
}
# keys every wrapper must read from metadata.json (the JSON key as it appears in the code)
REQUIRED_KEYS = ("task", "size", "method", "scale", "mean", "std", "color_space", "classes",
                 "embedded", "in_model", "confidence_threshold", "iou_threshold", "max_detections",
                 "top_k", "fill_value", "crop_pct", "output_spec")
WRAPPERS = {"cpp": "model_wrapper.cpp", "swift": "ModelWrapper.swift", "kotlin": "ModelWrapper.kt",
            "python": "model_wrapper.py"}


def metadata(task: str, resize: str, post: str, color: str = "RGB",
             nms_in_model: bool = False) -> dict[str, Any]:
    classes = ["zebra_crossing", "kettle"] if task == "detect" else ["tabby", "siamese", "manx"]
    size = [416, 384] if task == "detect" else [200, 200]
    return {
        "model_info": {"task": task, "model_file": "model.onnx", "model_name": "m", "export_format": "onnx",
                       "framework": "ultralytics", "task_type": task},
        "preprocessing": {"resize": {"method": resize, "size": size, "fill_value": 99, "crop_pct": 0.9},
                          "normalize": {"scale": 1 / 255, "mean": [0.1, 0.2, 0.3], "std": [0.7, 0.8, 0.9]},
                          "format": {"color_space": color}, "embedded": False},
        "postprocessing": {"type": post, "nms": {"in_model": nms_in_model, "confidence_threshold": 0.3,
                                                "iou_threshold": 0.6, "max_detections": 50}, "top_k": 3},
        "input_spec": {"name": "images", "shape": [1, 3, *size], "dtype": "float32", "format": "NCHW"},
        "output_spec": {"outputs": [{"name": "output0", "shape": [1, 6, 3024]}]},
        "classes": [{"id": i, "name": n} for i, n in enumerate(classes)],
        "source": {"checkpoint_name": "x.pt", "framework_version": "1"},
        "parity": {"status": "not_run", "reason": "test"},
    }


VARIANTS = {
    "detector": metadata("detect", "letterbox", "yolo_detect"),
    "detector-nms": metadata("detect", "letterbox", "yolo_nms", nms_in_model=True),
    "classifier-crop": metadata("classify", "shorter_side_center_crop", "logits"),
    "classifier-resize-bgr": metadata("classify", "resize", "probabilities", color="BGR"),
}


def errors(node: Node) -> list[str]:
    found = []
    if node.is_error or node.is_missing:
        found.append(f"line {node.start_point[0] + 1}: {'MISSING' if node.is_missing else 'ERROR'} "
                     f"{node.type}")
    for child in node.children:
        found += errors(child)
    return found


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_runtime_is_written_and_parses_without_errors(tmp_path: Path, variant: str) -> None:
    meta = VARIANTS[variant]
    (tmp_path / "metadata.json").write_text(json.dumps(meta))
    written = write_runtimes(tmp_path)
    expected = {f"{runtime}/{name}" for runtime, names in RUNTIME_FILES.items() for name in names}
    assert {p.relative_to(tmp_path / "runtimes").as_posix() for p in written} == expected
    assert "swift/ViewController.swift" in expected and "kotlin/MainActivity.kt" in expected
    parsed = 0
    for path in written:
        grammar = GRAMMARS.get(path.suffix)
        if grammar is None:
            continue
        tree = Parser(Language(grammar)).parse(path.read_bytes())
        assert errors(tree.root_node) == [], f"{path.name} does not parse"
        parsed += 1
    assert parsed == 10  # 2 Python, 3 C++, 3 Swift, 2 Kotlin source files
    text = "\n".join(p.read_text() for p in written)
    for cls in meta["classes"]:  # nothing about this model is baked into the code
        assert cls["name"] not in text
    h, w = meta["preprocessing"]["resize"]["size"]
    assert str(h) not in text.split() and f"{h}x{w}" not in text


@pytest.mark.parametrize("runtime", sorted(WRAPPERS))
def test_each_wrapper_reads_every_key_it_needs_from_metadata(runtime: str) -> None:
    root = Path(__file__).resolve().parents[2] / "wrappers" / "templates" / runtime
    code = (root / WRAPPERS[runtime]).read_text()
    missing = [key for key in REQUIRED_KEYS if f'"{key}"' not in code]
    # Python: in-graph NMS is its postprocessing type "yolo_nms"; Swift: Core ML exports take an
    # image input with normalization inside the model (metadata says "embedded"), so no mean/std
    exempt = {"python": {"in_model"}, "swift": {"scale", "mean", "std", "embedded"}}.get(runtime, set())
    assert [key for key in missing if key not in exempt] == []


def test_broken_source_is_reported_with_its_line() -> None:
    tree = Parser(Language(tree_sitter_kotlin.language())).parse(b"fun f() {\n  val x = (1 +\n}\n")
    assert errors(tree.root_node) and "line" in errors(tree.root_node)[0]


def test_readme_explains_each_runtime_and_the_golden_check() -> None:
    text = render_readme(VARIANTS["detector"], {"expected": True, "source": "the packaged Python wrapper",
                                                 "conf": 0.3, "iou": 0.6})
    for needle in ("runtimes/cpp", "SLIPWAY_BACKEND=opencv_dnn", "runtimes/swift", "runtimes/kotlin",
                   "runtimes/golden/image.png", "expected.json", "conf 0.3 and IoU 0.6"):
        assert needle in text
    missing = render_readme(VARIANTS["detector"], {"expected": False, "reason": "no Core ML here"})
    assert "no Core ML here" in missing
