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
# keys every wrapper must read from metadata.json (the JSON key as it appears in the code):
# the preprocessing steps of schema 2 and every setting of each step, normalization, and every
# key of every postprocessing type (POST_KEYS, from core/metadata.py)
STEP_KEYS = ("steps", "op", "mode", "size", "fraction", "edge", "max_edge", "rule", "interpolation",
             "antialias", "multiple_of", "position", "fill")
REQUIRED_KEYS = (*STEP_KEYS, "task", "scale", "mean", "std", "color_space", "classes", "embedded",
                 "output_spec")
# written for people or for the parity gate, not read to decode: the Python wrapper (the
# reference) ignores them too (NMS in the graph is the type "yolo_nms")
INFORMATIONAL = {"output_format", "raw_output", "enabled", "in_model"}
WRAPPERS = {"cpp": ("model_wrapper.cpp", "preprocessing.cpp", "postprocessing.cpp", "segmentation.cpp"),
            "swift": ("ModelWrapper.swift", "Preprocessing.swift", "Postprocessing.swift"),
            "kotlin": ("ModelWrapper.kt", "Preprocessing.kt", "Postprocessing.kt"),
            "python": ("model_wrapper.py",)}


def resize(mode: str, size: list[int] | None = None, edge: int | None = None, **extra: Any) -> dict[str, Any]:
    target = {"size": size} if size else {"edge": edge}
    return {"op": "resize", "mode": mode, **target, "rule": "floor", "interpolation": "bilinear",
            "antialias": True, **extra}


# every op, mode and rule of core/metadata.py's vocabulary appears in some variant
STEPS: dict[str, list[dict[str, Any]]] = {
    "letterbox": [resize("fit", [416, 384], rule="round", antialias=False),
                  {"op": "pad", "size": [416, 384], "position": "center", "fill": [99, 99, 99]}],
    "crop": [resize("shortest_edge", edge=222, interpolation="bicubic"),
             {"op": "center_crop", "size": [200, 200], "rule": "round", "fill": [0, 0, 0]}],
    "exact": [resize("exact", [200, 200], interpolation="lanczos")],
    "shortest-multiple": [resize("shortest_edge", edge=190, multiple_of=32)],
    "detr": [resize("shortest_edge", edge=420, max_edge=700, rule="detr")],
    "yolos": [resize("shortest_edge", edge=420, max_edge=700, rule="yolos")],
    "border": [resize("fit", [230, 230], rule="timm", interpolation="hamming"),
               {"op": "center_crop", "size": [200, 200], "rule": "round", "fill": [124, 116, 104]}],
    "longest": [resize("longest_edge", edge=300, interpolation="box"),
                {"op": "pad", "multiple_of": 32, "position": "bottom_right", "fill": [0, 0, 0]}],
    "hf-fast": [resize("shortest_edge", edge=190, interpolation="nearest"),
                {"op": "center_crop", "size": [200, 200], "rule": "floor_pad_floor", "fill": [0, 0, 0]},
                {"op": "center_crop", "size": [200, 200], "rule": "floor", "fill": [0, 0, 0]}],
    "shorter-side-crop": [{"op": "center_crop", "fraction": [0.875, 0.875], "rule": "floor",
                           "fill": [0, 0, 0]},
                          resize("exact", [200, 200], interpolation="bicubic")],
}



def _post_vocabulary() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Every key of the postprocessing models that changes decoding, and every value of their
    literal choices (types, score rules, box formats, mappings)."""
    from typing import Literal, get_args, get_origin

    from core.metadata import Classification, Nms, SemanticLogits, SetPrediction, YoloGrid, YoloRows

    keys, values = {"type"}, set()
    for model in (Classification, Nms, YoloGrid, YoloRows, SetPrediction, SemanticLogits):
        for name, field in model.model_fields.items():
            if name not in INFORMATIONAL:
                keys.add(name)
            if get_origin(field.annotation) is Literal and name != "formula":
                values |= set(get_args(field.annotation))
    return tuple(sorted(keys)), tuple(sorted(values))


POST_KEYS, POST_VALUES = _post_vocabulary()


def _dump(model: Any) -> dict[str, Any]:
    return dict(model.model_dump(mode="json", exclude_none=True))


def _postprocessing() -> dict[str, tuple[str, str, dict[str, Any]]]:
    """A metadata variant for every postprocessing type and option, as the loaders write them."""
    from core.metadata import Nms, SemanticLogits, SetPrediction, YoloGrid, YoloRows

    nms = Nms(iou_threshold=0.6, confidence_threshold=0.3, max_detections=50)
    grid = {f"detector-{t}": ("detect", "letterbox",
                              _dump(YoloGrid.model_validate({"type": f"yolo_{t}", "decoded_type": f"yolo_{t}",
                                                             "nms": nms, **extra})))
            for t, extra in (("obb", {}), ("segment", {"mask_prototypes": 32}),
                             ("pose", {"keypoint_shape": [17, 3]}))}
    rows = {f"detector-{t}-{f}": ("detect", "letterbox", _dump(YoloRows.model_validate(
                {"type": t, "decoded_type": d, "nms": nms, "box_format": f, "normalized": f == "xywh"})))
            for t, d, f in (("yolo_end2end", "yolo_end2end", "xywhr"),
                            ("yolo_end2end", "yolo_end2end", "xywh"), ("yolo_nms", "yolo_segment", "xyxy"))}
    sets = {f"detector-set-{s}": ("detect", "detr", _dump(SetPrediction(
        scores=s, top_k=100 if s == "sigmoid" else None, confidence_threshold=0.5, max_detections=100,
        boxes_index=None if s == "max" else 1))) for s in ("softmax", "sigmoid", "max")}
    semantic = {f"semantic-{m}": ("semantic", "crop", _dump(SemanticLogits(mapping=m)))
                for m in ("inverse", "stretch")}
    return {**grid, **rows, **sets, **semantic}


POSTPROCESSING = _postprocessing()

def metadata(task: str, steps: str, post: str | dict[str, Any], color: str = "RGB",
             nms_in_model: bool = False) -> dict[str, Any]:
    classes = ["zebra_crossing", "kettle"] if task == "detect" else ["tabby", "siamese", "manx"]
    size = [416, 384] if task == "detect" else [200, 200]
    return {
        "model_info": {"task": task, "model_file": "model.onnx", "model_name": "m", "export_format": "onnx",
                       "framework": "ultralytics", "task_type": task},
        "preprocessing": {"steps": STEPS[steps], "input_size": size, "source": "test",
                          "normalize": {"scale": 1 / 255, "mean": [0.1, 0.2, 0.3], "std": [0.7, 0.8, 0.9]},
                          "format": {"color_space": color}, "embedded": False},
        "postprocessing": post if isinstance(post, dict) else {
            "type": post, "nms": {"in_model": nms_in_model, "confidence_threshold": 0.3, "iou_threshold": 0.6,
                                  "max_detections": 50}, "top_k": 3},
        "input_spec": {"name": "images", "shape": [1, 3, *size], "dtype": "float32", "format": "NCHW"},
        "output_spec": {"outputs": [{"name": "output0", "shape": [1, 6, 3024]}]},
        "classes": [{"id": i, "name": n} for i, n in enumerate(classes)],
        "source": {"checkpoint_name": "x.pt", "framework_version": "1"},
        "parity": {"status": "not_run", "reason": "test"},
    }


VARIANTS = {
    "detector": metadata("detect", "letterbox", "yolo_detect"),
    "detector-nms": metadata("detect", "letterbox", "yolo_nms", nms_in_model=True),
    "classifier-crop": metadata("classify", "crop", "logits"),
    "classifier-resize-bgr": metadata("classify", "exact", "probabilities", color="BGR"),
    **{f"classifier-{name}": metadata("classify", name, "logits")
       for name in ("detr", "yolos", "border", "longest", "hf-fast", "shortest-multiple",
                    "shorter-side-crop")},
    **{name: metadata(task, steps, post) for name, (task, steps, post) in POSTPROCESSING.items()},
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
    assert parsed == 17  # 2 Python, 6 C++, 5 Swift, 4 Kotlin source files
    text = "\n".join(p.read_text() for p in written)
    for cls in meta["classes"]:  # nothing about this model is baked into the code
        assert cls["name"] not in text
    h, w = meta["preprocessing"]["input_size"]
    assert str(h) not in text.split() and f"{h}x{w}" not in text


@pytest.mark.parametrize("runtime", sorted(WRAPPERS))
def test_each_wrapper_reads_every_key_it_needs_from_metadata(runtime: str) -> None:
    root = Path(__file__).resolve().parents[2] / "wrappers" / "templates" / runtime
    code = "\n".join((root / name).read_text() for name in WRAPPERS[runtime])
    missing = [key for key in (*REQUIRED_KEYS, *POST_KEYS) if f'"{key}"' not in code]
    # Swift: Core ML exports take an image input with normalization inside the model (metadata
    # says "embedded"), so no mean/std
    exempt = {"swift": {"scale", "mean", "std", "embedded"}}.get(runtime, set())
    assert [key for key in missing if key not in exempt] == []


@pytest.mark.parametrize("runtime", sorted(WRAPPERS))
def test_each_wrapper_decodes_every_postprocessing_type_and_option(runtime: str) -> None:
    """Every type, score rule, box format and mapping of the vocabulary is named in each wrapper's
    code (its decoders dispatch on them), and the non-Python ones return the Python wrapper's
    prediction fields."""
    root = Path(__file__).resolve().parents[2] / "wrappers" / "templates" / runtime
    code = "\n".join((root / name).read_text() for name in WRAPPERS[runtime])
    # the Python wrapper's set prediction takes "max" as the branch after softmax and sigmoid
    unnamed = {"python": {"max"}}.get(runtime, set())
    assert [value for value in POST_VALUES if f'"{value}"' not in code and value not in unnamed] == []
    fields = {"cpp": (r'\"rbox\"', r'\"polygon\"', r'\"keypoints\"', r'\"mask\"', r'\"area\"', "class_map",
                      "probiou", "MAX_NMS"),
              "swift": ("rbox", "polygon", "keypoints", "mask", "area", "classMap", "probiou", "maxNms"),
              "kotlin": ("rbox", "polygon", "keypoints", "mask", "area", "classMap", "probiou", "MAX_NMS"),
              "python": ()}[runtime]
    assert [f for f in fields if f not in code] == []
    assert "unknown postprocessing type in metadata.json" in code


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_the_readme_describes_every_step_of_every_variant(variant: str) -> None:
    """The README says each step in words a reimplementation needs (a shorter-side crop and a
    rounded-up resize broke the package stage once: their steps have no 'size')."""
    text = render_readme(VARIANTS[variant], {"expected": False, "reason": "not here"})
    if variant == "classifier-shorter-side-crop":
        assert "center-crop floor(0.875 x s) by floor(0.875 x s), s the shorter side" in text
    if variant == "classifier-shortest-multiple":
        assert "each side rounded up to a multiple of 32" in text


def test_broken_source_is_reported_with_its_line() -> None:
    tree = Parser(Language(tree_sitter_kotlin.language())).parse(b"fun f() {\n  val x = (1 +\n}\n")
    assert errors(tree.root_node) and "line" in errors(tree.root_node)[0]


def test_readme_explains_each_runtime_and_the_golden_check() -> None:
    text = render_readme(VARIANTS["detector"], {"expected": True, "source": "the packaged Python wrapper",
                                                 "conf": 0.3, "iou": 0.6})
    for needle in ("runtimes/cpp", "SLIPWAY_BACKEND=opencv_dnn", "runtimes/swift", "runtimes/kotlin",
                   "runtimes/golden/image.png", "expected.json", "conf 0.3 and IoU 0.6",
                   "`rbox` and `polygon`", "`--masks`", "`pixels`", "`--decode`"):
        assert needle in text
    missing = render_readme(VARIANTS["detector"], {"expected": False, "reason": "no Core ML here"})
    assert "no Core ML here" in missing


def test_the_variants_cover_every_step_mode_and_rule_of_the_vocabulary() -> None:
    from typing import get_args

    from core.metadata import CenterCrop, Pad, Preprocessing, Resize

    seen: set[tuple[str, str]] = set()
    for meta in VARIANTS.values():
        for step in Preprocessing.model_validate(meta["preprocessing"]).steps:
            if isinstance(step, Resize):
                seen |= {("resize mode", step.mode), ("resize rule", step.rule),
                         ("interpolation", step.interpolation), ("antialias", str(step.antialias)),
                         ("resize", "multiple_of" if step.multiple_of else "as computed")}
            elif isinstance(step, CenterCrop):
                seen |= {("crop rule", step.rule), ("crop", "size" if step.size else "fraction")}
            else:
                seen |= {("pad", "size" if step.size else "multiple_of"), ("pad position", step.position)}
    wanted = {("resize mode", m) for m in get_args(Resize.model_fields["mode"].annotation)}
    wanted |= {("resize rule", r) for r in get_args(Resize.model_fields["rule"].annotation)}
    wanted |= {("crop rule", r) for r in get_args(CenterCrop.model_fields["rule"].annotation)}
    wanted |= {("pad position", p) for p in get_args(Pad.model_fields["position"].annotation)}
    wanted |= {("pad", "size"), ("pad", "multiple_of"), ("antialias", "True"), ("antialias", "False")}
    wanted |= {("resize", "multiple_of"), ("resize", "as computed"), ("crop", "size"), ("crop", "fraction")}
    assert wanted - seen == set()
