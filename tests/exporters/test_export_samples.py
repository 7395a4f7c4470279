"""Real exports of the three sample frameworks to ONNX and TorchScript, through the CLI."""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from core.inference import open_package
from core.metadata import read_metadata
from core.paths import size_of
from core.samples import sample
from core.spec import ExportSpec
from tests.helpers import EXPORTS, STRUCTURE_ONLY, CliRun, export_pair, slipway

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name", list(EXPORTS))
def test_package_is_complete_and_passed_parity(name: str, exported: Callable[[str], CliRun]) -> None:
    result = exported(name).result
    package = Path(result["package_dir"])
    read_metadata(package / "metadata.json")  # every section, as the schema types it
    metadata = json.loads((package / "metadata.json").read_text())
    assert result["type"] == "result" and len(result["export_id"]) == 32
    model_file = package / metadata["model_info"]["model_file"]
    parts = [model_file, model_file.with_suffix(".bin")] if model_file.suffix == ".xml" else [model_file]
    assert sum(size_of(p) for p in parts) == result["model_size_bytes"] > 10_000
    assert metadata["runtime"]["format"] == export_pair(name)[1] == metadata["model_info"]["export_format"]
    for item in ("labels.txt", "README.md", "export.log", "export-package.zip",
                 "runtimes/python/model_wrapper.py", "runtimes/python/example.py"):
        assert (package / item).is_file(), item
    labels = (package / "labels.txt").read_text().split()
    assert labels == [c["name"] for c in metadata["classes"]]
    parity = metadata["parity"]
    if name in STRUCTURE_ONLY:  # never reported as passed where it could not run
        assert parity["status"] == "not_run" and parity["passed"] is None
        assert parity["structure_passed"] and all(parity["structure_checks"].values())
    else:
        assert parity["passed"] and parity["images"] >= 8
        assert parity["task_agreement"]["value"] == 1.0
        assert parity["preprocessing_agreement"]["passed"]
        for output in parity["outputs"].values():
            assert output["max_abs_diff"] <= output["tolerance"]
    source = metadata["source"]
    checkpoint = Path(source["checkpoint"])
    if checkpoint.is_file():  # directories hash their files in name order (core.metadata)
        assert source["sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert len(source["sha256"]) == 64
    assert "torch" in metadata["environment"]
    with zipfile.ZipFile(package / "export-package.zip") as archive:
        names = set(archive.namelist())
    model_files = {p.relative_to(package).as_posix() for part in parts
                   for p in ([part] if part.is_file() else part.rglob("*")) if p.is_file()}
    assert model_files | {"metadata.json", "labels.txt", "README.md",
                          "runtimes/python/model_wrapper.py"} <= names
    assert set(result["timings"]) == {"load", "optimize", "convert", "parity", "validate", "speed", "package"}
    # every stage before packaging, in the package's record too
    assert set(metadata["performance"]["export_stage_seconds"]) == set(result["timings"]) - {"package"}
    ExportSpec.model_validate(metadata["export"])  # the spec that made it, nothing else


def test_detector_wrapper_matches_ultralytics_predict(exported: Callable[[str], CliRun]) -> None:
    """The package's own wrapper gives Ultralytics' boxes: IoU >= 0.99, same classes."""
    from ultralytics import YOLO

    from core.parity import box_iou

    det = sample("shapes-yolo11n")
    wrapper = open_package(Path(exported("det-onnx").result["package_dir"]))
    yolo = YOLO(str(det.checkpoint))
    imgsz = wrapper.metadata["input_spec"]["shape"][2]
    total = 0
    for image in det.image_files()[:12]:
        ours = wrapper.predict(str(image))
        theirs = yolo.predict(str(image), imgsz=imgsz, conf=0.25, iou=0.7, verbose=False)[0].boxes
        assert len(ours) == len(theirs), image.name
        if not ours:
            continue
        iou = box_iou(np.array([p["bbox"] for p in ours]), theirs.xyxy.numpy())
        best = iou.argmax(axis=1)
        assert (iou.max(axis=1) >= 0.99).all(), image.name
        assert [p["class_id"] for p in ours] == theirs.cls.numpy().astype(int)[best].tolist()
        total += len(ours)
    assert total >= 12, "the sample detector should find shapes in its validation images"


def test_torchscript_and_onnx_packages_agree(exported: Callable[[str], CliRun]) -> None:
    from core.parity import match_boxes

    onnx = open_package(Path(exported("det-onnx").result["package_dir"]))
    script = open_package(Path(exported("det-torchscript").result["package_dir"]))
    for image in sample("shapes-yolo11n").image_files()[:6]:
        a, b = onnx.predict(str(image)), script.predict(str(image), conf=0.2)
        assert match_boxes(a, b, 0.98)[0] == len(a)


@pytest.mark.parametrize("name", ["timm-onnx", "timm-torchscript", "hf-onnx", "hf-torchscript"])
def test_classifier_packages_keep_their_accuracy(name: str, exported: Callable[[str], CliRun]) -> None:
    """Through the wrapper, the exported classifier is as accurate as the sample was trained."""
    framework = "digits-timm" if name.startswith("timm") else "digits-hf"
    wrapper = open_package(Path(exported(name).result["package_dir"]))
    images = sample(framework).image_files()[::4]
    correct = sum(wrapper.predict(str(p))[0]["class_name"] == p.parent.name for p in images)
    trained = json.loads((sample(framework).folder / "metrics.json").read_text())["top1"]
    assert correct / len(images) >= min(trained, 0.85) - 0.03


def test_predict_cli_prints_json_lines(exported: Callable[[str], CliRun], tmp_path: Path) -> None:
    package = exported("det-onnx").result["package_dir"]
    images = [str(p) for p in sample("shapes-yolo11n").image_files()[:2]]
    run = slipway("predict", package, *images, "--json", home=tmp_path)
    assert run.code == 0, run.stderr
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert [line["image"] for line in lines] == images
    first = lines[0]["predictions"][0]
    assert set(first) == {"class_id", "class_name", "confidence", "bbox"}
    x1, y1, x2, y2 = first["bbox"]
    assert 0 <= x1 < x2 <= 320 and 0 <= y1 < y2 <= 320


def test_jobs_commands(exported: Callable[[str], CliRun], export_home: Path) -> None:
    export_id = exported("det-onnx").result["export_id"]
    listing = slipway("jobs", "list", "--json", home=export_home)
    assert export_id in {j["id"] for j in json.loads(listing.stdout)}
    assert slipway("jobs", "set-default", export_id[:8], home=export_home).code == 0
    assert slipway("jobs", "tag", export_id[:8], "production", home=export_home).code == 0
    shown = json.loads(slipway("jobs", "show", export_id, home=export_home).stdout)
    assert shown["is_default"] and shown["version_tag"] == "production"
    assert shown["status"] == "completed" and shown["parity"]["passed"]
    missing = slipway("jobs", "show", "ffffffff", home=export_home)
    assert missing.code == 2 and "no export" in missing.stderr


def test_nms_in_the_graph_gives_the_same_boxes(exported: Callable[[str], CliRun]) -> None:
    from core.parity import match_boxes

    plain = open_package(Path(exported("det-onnx").result["package_dir"]))
    with_nms = open_package(Path(exported("det-onnx-nms").result["package_dir"]))
    assert with_nms.metadata["postprocessing"]["type"] == "yolo_nms"
    assert with_nms.metadata["output_spec"]["outputs"][0]["shape"][-1] == 6
    for image in sample("shapes-yolo11n").image_files()[:8]:
        a, b = plain.predict(str(image)), with_nms.predict(str(image))
        assert match_boxes(a, b, 0.99)[0] == len(a) == len(b)


def test_embedded_preprocessing_takes_uint8_pixels(exported: Callable[[str], CliRun]) -> None:
    import onnxruntime as ort

    package = Path(exported("timm-onnx-embedded").result["package_dir"])
    metadata = json.loads((package / "metadata.json").read_text())
    assert metadata["preprocessing"]["embedded"] is True
    assert metadata["input_spec"] == {"name": "image", "shape": ["batch", 224, 224, 3],
                                      "dtype": "uint8", "format": "NHWC"}
    session = ort.InferenceSession(str(package / "model.onnx"), providers=["CPUExecutionProvider"])
    pixels = np.zeros((3, 224, 224, 3), dtype=np.uint8)  # a dynamic batch of three
    assert session.run(None, {"image": pixels})[0].shape == (3, 10)
    plain = open_package(Path(exported("timm-onnx").result["package_dir"]))
    embedded = open_package(package)
    for image in sample("digits-timm").image_files()[::40]:
        assert embedded.predict(str(image))[0]["class_id"] == plain.predict(str(image))[0]["class_id"]


def test_scripted_torchscript_records_its_method(exported: Callable[[str], CliRun]) -> None:
    package = Path(exported("timm-torchscript-script").result["package_dir"])
    config = json.loads((package / "metadata.json").read_text())["export"]["export_config"]
    assert config == {"method": "script", "optimize_for_mobile": False}


def test_mobile_optimization_works_or_says_why(tmp_path: Path) -> None:
    from exporters.steps.pytorch import xnnpack_available

    run = slipway("export", *EXPORTS["timm-torchscript"], "--optimize-for-mobile", "--out",
                  str(tmp_path / "pkg"), "--json", home=tmp_path)
    if xnnpack_available():
        assert run.code == 0, run.stderr[-2000:]
    else:  # e.g. the CUDA build of torch on these machines
        assert run.code == 3 and "need a torch build with XNNPACK" in run.stderr
        assert not (tmp_path / "pkg" / "model.torchscript").exists()


def test_the_cli_says_how_long_each_stage_took(tmp_path: Path) -> None:
    run = slipway("export", *EXPORTS["timm-onnx"], "--out", str(tmp_path / "pkg"), home=tmp_path)
    assert run.code == 0, run.stderr[-2000:]
    line = next(line for line in run.stderr.splitlines() if line.startswith("time per stage: "))
    assert all(f"{stage} " in line for stage in ("load", "convert", "parity", "speed", "package")), line
