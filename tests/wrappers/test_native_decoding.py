"""The native wrappers' post-processing decodes every postprocessing type of metadata.json as
the Python wrapper does: C++ (built for real with cmake/g++ against the system OpenCV) and
Kotlin (Postprocessing.kt compiled with Debian's Kotlin 1.3 and run on the JVM with Android's
org.json, through tests/wrappers/kotlin/DecodeCases.kt). Swift has no compiler here: its
decoder is parsed and checked for the keys it reads (test_wrapper_syntax.py).

OpenCV 4.6's DNN module cannot run every graph (DETR, SegFormer, ...), so the decoding is
compared directly: the same raw output tensors (tests/wrappers/decoding_cases.py: real
random-weight models on real photos, and random arrays for the corners) go to each native
decoder and to the Python wrapper's ``Postprocessor.decode``, which must agree: the same
classes in the same order, boxes, rotated boxes, polygons and keypoints within 1e-3
(relative), masks with IoU >= 0.99, semantic class maps >= 99.9% equal.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from tests.wrappers.decoding_cases import CHAIN, Case, W, random_cases, transformers_cases, ultralytics_cases

GROUPS: dict[str, Callable[[Path], list[Case]]] = {
    "random-arrays": lambda folder: random_cases(),
    "ultralytics": ultralytics_cases,
    "transformers": lambda folder: transformers_cases(),
}


def write_case(case: Case, folder: Path) -> Path:
    """The case as a native decoder reads it: metadata.json, raw float32 outputs and case.json."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metadata.json").write_text(json.dumps(case.metadata()))
    files = []
    for n, tensor in enumerate(case.outputs):
        np.ascontiguousarray(tensor, dtype="<f4").tofile(folder / f"output{n}.bin")
        files.append({"file": f"output{n}.bin", "shape": list(tensor.shape)})
    thresholds = {k: v for k, v in (("conf", case.conf), ("iou", case.iou)) if v is not None}
    (folder / "case.json").write_text(json.dumps({"outputs": files, "transform": case.transform,
                                                   "image_size": list(case.shape), **thresholds}))
    return folder / "case.json"


def run_cpp(example: Path, case: Case, folder: Path) -> dict[str, Any]:
    """``slipway_example --decode`` on the case's tensors: its output line (predictions, the
    files of its masks and semantic class map)."""
    case_file = write_case(case, folder)
    options = [*(["--conf", repr(case.conf)] if case.conf is not None else []),
               *(["--iou", repr(case.iou)] if case.iou is not None else [])]
    command = [str(example), "-", str(folder / "metadata.json"), "--decode", *options, str(case_file)]
    run = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, f"{case.name}: {run.stderr[-2000:]}"
    line: dict[str, Any] = json.loads(run.stdout)
    return line


def run_kotlin(decoder: list[str], cases: list[Case], folder: Path) -> list[dict[str, Any]]:
    """DecodeCases.kt on every case in one JVM: one output line per case."""
    folders = [write_case(case, folder / case.name).parent for case in cases]
    run = subprocess.run([*decoder, *map(str, folders)], capture_output=True, text=True, timeout=300,
                         check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    return [json.loads(line) for line in run.stdout.splitlines()]


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def close(a: Any, b: Any, atol: float = 1e-3) -> bool:
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return x.shape == y.shape and bool(np.allclose(x, y, rtol=1e-3, atol=atol))


def differences(case: Case, line: dict[str, Any], ours: list[dict[str, Any]]) -> list[str]:
    """What the C++ predictions (one output line) get wrong against the Python wrapper's."""
    theirs = line["predictions"]
    where = case.name
    if len(theirs) != len(ours):
        return [f"{where}: C++ {len(theirs)} predictions, Python {len(ours)}"]
    semantic = case.post["type"] == "semantic_logits"
    problems = []
    for n, (mine, ref) in enumerate(zip(theirs, ours, strict=True)):
        at = f"{where} #{n}"
        if set(mine) != set(ref):
            problems.append(f"{at}: keys {sorted(mine)} vs {sorted(ref)}")
            continue
        if (mine["class_id"], mine["class_name"]) != (ref["class_id"], ref["class_name"]):
            problems.append(f"{at}: class {mine['class_id']} {mine['class_name']} vs {ref['class_id']} "
                            f"{ref['class_name']}")
        if not close(mine["confidence"], ref["confidence"], atol=1e-6):
            problems.append(f"{at}: confidence {mine['confidence']} vs {ref['confidence']}")
        for key in ("bbox", "rbox", "polygon", "keypoints"):
            # a semantic segment's extent may move by the pixel whose class flipped
            if key in ref and not close(mine[key], ref[key], atol=1.0 if semantic else 1e-3):
                problems.append(f"{at}: {key} {mine[key]} vs {ref[key]}")
        if "area" in ref and abs(mine["area"] - ref["area"]) > 1e-3:
            problems.append(f"{at}: area {mine['area']} vs {ref['area']}")
        if "mask" in ref:
            file = line["masks"][n]
            pixels = cv2.imread(file, cv2.IMREAD_GRAYSCALE) if file.endswith(".png") else \
                np.fromfile(file, dtype=np.uint8).reshape(case.shape)
            theirs_mask = np.asarray(pixels) > 0
            if theirs_mask.shape != ref["mask"].shape or mask_iou(theirs_mask, ref["mask"]) < 0.99:
                problems.append(f"{at}: mask IoU {mask_iou(theirs_mask, ref['mask']):.4f}")
            if mine["mask"]["pixels"] != int(theirs_mask.sum()):
                problems.append(f"{at}: the mask summary counts {mine['mask']['pixels']} pixels")
    if semantic:
        labels = np.fromfile(line["class_map"], dtype="<i4").reshape(case.shape)
        reference = W.Postprocessor(case.post, case.metadata()["classes"]).decoder.class_map(
            case.outputs, case.transform, case.shape)
        agreement = float((labels == reference).mean())
        if agreement < 0.999:
            problems.append(f"{where}: class maps agree on {agreement:.4%} of the pixels")
    return problems


def check_reference(case: Case, ours: list[dict[str, Any]]) -> None:
    """The comparison is not vacuous: the reference finds what the case is about."""
    assert len(ours) >= case.at_least, f"{case.name}: the reference found {len(ours)}"
    if case.exactly is not None:
        assert len(ours) == case.exactly, f"{case.name}: the reference found {len(ours)}, not {case.exactly}"
    for item in ours:
        assert case.keys <= set(item), f"{case.name}: {sorted(item)} lacks {sorted(case.keys - set(item))}"
    if "mask" in case.keys:
        assert sum(int(item["mask"].sum()) for item in ours) > 0, f"{case.name}: every mask is empty"


def variants(post: dict[str, Any]) -> set[str]:
    """What a postprocessing section exercises: its type and every option that changes decoding."""
    found = {f"type:{post['type']}"}
    if "scores" in post:
        found |= {f"scores:{post['scores']}"} | ({"boxes:first"} if "boxes_index" not in post else set())
    if post["type"] in ("yolo_nms", "yolo_end2end"):
        found.add(f"box_format:{post['box_format']}")
    found |= {f"mapping:{post['mapping']}"} if "mapping" in post else set()
    found |= {"normalized"} if post.get("normalized") else set()
    found |= {"keypoints"} if "keypoint_shape" in post else set()
    found |= {"masks"} if "mask_prototypes" in post else set()
    found |= {"agnostic"} if post.get("nms", {}).get("class_agnostic") else set()
    return found


# what each group's cases exercise (checked by the group's test; together: the whole vocabulary)
COVERAGE = {
    "random-arrays": {"type:logits", "type:probabilities", "type:yolo_detect", "type:yolo_obb",
                      "type:yolo_end2end", "type:semantic_logits", "box_format:xywh", "normalized",
                      "keypoints", "agnostic", "mapping:inverse", "type:set_prediction", "scores:softmax",
                      "boxes:first"},
    "ultralytics": {"type:yolo_detect", "type:yolo_segment", "type:yolo_pose", "type:yolo_obb",
                    "type:yolo_nms", "type:yolo_end2end", "type:set_prediction", "box_format:xyxy",
                    "box_format:xywh", "box_format:xywhr", "normalized", "keypoints", "masks", "scores:max",
                    "boxes:first"},
    "transformers": {"type:set_prediction", "scores:softmax", "scores:sigmoid", "type:semantic_logits",
                     "mapping:stretch", "mapping:inverse"},
}


@pytest.fixture(scope="module", params=sorted(GROUPS))
def group(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[Case]]:
    """A group's cases (built once for every decoder), checked against what the group must cover."""
    name = request.param
    cases = GROUPS[name](tmp_path_factory.mktemp("models"))
    assert COVERAGE[name] - set().union(*(variants(c.post) for c in cases)) == set()
    return name, cases


def test_cpp_decoding_gives_the_python_wrappers_predictions(group: tuple[str, list[Case]], cpp_example: Path,
                                                            tmp_path: Path) -> None:
    problems = []
    for case in group[1]:
        ours = case.reference()
        check_reference(case, ours)
        problems += differences(case, run_cpp(cpp_example, case, tmp_path / case.name), ours)
    assert problems == [], "\n".join(problems)


@pytest.mark.slow
def test_kotlin_decoding_gives_the_python_wrappers_predictions(
    group: tuple[str, list[Case]], kotlin_decoder: list[str], tmp_path: Path
) -> None:
    cases = group[1]
    lines = run_kotlin(kotlin_decoder, cases, tmp_path)
    assert len(lines) == len(cases)
    problems = []
    for case, line in zip(cases, lines, strict=True):
        ours = case.reference()
        check_reference(case, ours)
        problems += differences(case, line, ours)
    assert problems == [], "\n".join(problems)


def test_the_cases_cover_every_postprocessing_type_and_option() -> None:
    """Every type, score rule, box format, mapping and extra of core/metadata.py's vocabulary is
    exercised by some group: a new one fails here until the wrappers decode it and a case shows it."""
    from typing import get_args

    from core.metadata import Classification, SemanticLogits, SetPrediction, YoloGrid, YoloRows

    types = {t for model in (Classification, YoloGrid, YoloRows, SetPrediction, SemanticLogits)
             for t in get_args(model.model_fields["type"].annotation)}
    vocabulary = {f"type:{t}" for t in types}
    vocabulary |= {f"scores:{s}" for s in get_args(SetPrediction.model_fields["scores"].annotation)}
    vocabulary |= {f"box_format:{f}" for f in get_args(YoloRows.model_fields["box_format"].annotation)}
    vocabulary |= {f"mapping:{m}" for m in get_args(SemanticLogits.model_fields["mapping"].annotation)}
    vocabulary |= {"normalized", "keypoints", "masks", "agnostic", "boxes:first"}
    assert vocabulary - set().union(*COVERAGE.values()) == set()


def test_fast_nms_chain_is_decided_as_ultralytics_decides_it(cpp_example: Path, tmp_path: Path) -> None:
    """Of the chain A > B > C (A-B and B-C overlap above the threshold, A-C below it) both
    wrappers keep A alone: C goes because B overlaps it, though B went itself (Fast-NMS)."""
    case = next(c for c in random_cases() if c.name == "random-obb-fast-nms-chain")
    threshold = case.post["nms"]["iou_threshold"]
    pairs = W.probiou(CHAIN, CHAIN)
    assert pairs[0, 1] > threshold and pairs[1, 2] > threshold and pairs[0, 2] < threshold
    centers = np.asarray([[x / 0.25, (y - 30) / 0.25] for x, y in CHAIN[:, :2]])  # in the image
    for found in (case.reference(), run_cpp(cpp_example, case, tmp_path)["predictions"]):
        kept = [np.linalg.norm(centers - p["rbox"][:2], axis=1).argmin() for p in found
                if np.linalg.norm(centers - p["rbox"][:2], axis=1).min() < 1.0]
        assert kept == [0]


def test_an_unknown_postprocessing_type_is_an_error_that_names_it(cpp_example: Path, tmp_path: Path) -> None:
    case = random_cases()[0]
    case.post = {**case.post, "type": "yolo_hexagons"}
    folder = tmp_path / "unknown"
    message = r"unknown postprocessing type in metadata\.json: 'yolo_hexagons'"
    with pytest.raises(AssertionError, match=message):
        run_cpp(cpp_example, case, folder)
    with pytest.raises(ValueError, match="yolo_hexagons"):
        case.reference()


def test_rotated_boxes_without_their_angle_are_an_error_not_a_bad_read(cpp_example: Path,
                                                                      tmp_path: Path) -> None:
    """yolo_nms rows decoded as obb but declared xyxy: the Python wrapper cannot unpack the box; the
    C++ one says what is wrong instead of reading past it."""
    case = next(c for c in random_cases() if c.name == "random-rows-xywh-normalized-pose")
    case.post = {**case.post, "type": "yolo_nms", "decoded_type": "yolo_obb", "box_format": "xyxy"}
    with pytest.raises(AssertionError, match="need box_format 'xywhr'"):
        run_cpp(cpp_example, case, tmp_path)
    with pytest.raises(ValueError):
        case.reference()
