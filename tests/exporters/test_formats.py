"""OpenVINO, TFLite and Core ML packages: the wrapper runs each with the ONNX package's
answers; each package says what precision and channel order it takes; Core ML's
structure checks fail on metadata that does not match the model."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from core.inference import open_package
from core.parity import match_boxes
from core.samples import sample
from tests.helpers import CliRun

pytestmark = pytest.mark.slow


def package(exported: Callable[[str], CliRun], name: str) -> Path:
    return Path(exported(name).result["package_dir"])


def metadata_of(exported: Callable[[str], CliRun], name: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((package(exported, name) / "metadata.json").read_text())
    return result


@pytest.mark.parametrize("name", ["det-openvino", "det-tflite", "det-openvino-fp16"])
def test_detector_formats_give_the_onnx_packages_boxes(name: str, exported: Callable[[str], CliRun]) -> None:
    onnx = open_package(package(exported, "det-onnx"))
    other = open_package(package(exported, name))
    total = 0
    for image in sample("shapes-yolo11n").image_files()[:10]:
        reference = onnx.predict(str(image))
        found = other.predict(str(image), conf=0.2)  # a box at the threshold may dip just below
        matched, _ = match_boxes(reference, found, 0.98)
        assert matched == len(reference), image.name
        total += len(reference)
    assert total >= 10


@pytest.mark.parametrize("framework", ["timm", "hf"])
def test_classifier_formats_agree_on_top1(framework: str, exported: Callable[[str], CliRun]) -> None:
    names = [f"{framework}-{fmt}" for fmt in ("onnx", "torchscript", "openvino", "tflite")]
    if framework == "timm":
        names.append("timm-openvino-fp16-bgr")
    wrappers = {name: open_package(package(exported, name)) for name in names}
    images = sample("digits-timm" if framework == "timm" else "digits-hf").image_files()[::12]
    assert len(images) >= 20
    for image in images:
        tops = {name: w.predict(str(image))[0]["class_id"] for name, w in wrappers.items()}
        assert len(set(tops.values())) == 1, (image.name, tops)


def test_openvino_packages_pin_precision_and_channel_order(exported: Callable[[str], CliRun]) -> None:
    fp32 = metadata_of(exported, "timm-openvino")
    fp16 = metadata_of(exported, "timm-openvino-fp16-bgr")
    assert fp32["runtime"]["openvino"] == {"INFERENCE_PRECISION_HINT": "f32"}
    assert fp32["preprocessing"]["format"]["color_space"] == "RGB"
    assert fp16["preprocessing"]["format"]["color_space"] == "BGR"
    assert (fp32["parity"]["precision"], fp16["parity"]["precision"]) == ("fp32", "fp16")
    assert fp16["parity"]["tolerance"]["atol"] > fp32["parity"]["tolerance"]["atol"]
    weights = [(package(exported, n) / "model.bin").stat().st_size
               for n in ("timm-openvino", "timm-openvino-fp16-bgr")]
    assert weights[1] < 0.6 * weights[0]  # FP16 weights: half the size


def test_tflite_package_takes_nhwc_and_loads_in_litert(exported: Callable[[str], CliRun]) -> None:
    from ai_edge_litert.interpreter import Interpreter

    for name in ("det-tflite", "timm-tflite", "hf-tflite"):
        meta = metadata_of(exported, name)
        spec = meta["input_spec"]
        size = meta["preprocessing"]["input_size"]
        assert spec["format"] == "NHWC" and spec["shape"] == [1, *size, 3]
        runner = Interpreter(model_path=str(package(exported, name) / "model.tflite")).get_signature_runner()
        assert set(runner.get_input_details()) == {spec["name"]}
        assert {o["runtime_name"] for o in meta["output_spec"]["outputs"]} == set(runner.get_output_details())


def _original_shapes(exported: Callable[[str], CliRun], onnx_name: str) -> list[list[int]]:
    return [o["shape"] for o in metadata_of(exported, onnx_name)["output_spec"]["outputs"]]


@pytest.mark.parametrize(("name", "onnx_name"), [("det-coreml", "det-onnx"), ("timm-coreml", "timm-onnx")])
def test_coreml_structure_checks_fail_on_metadata_that_does_not_match(
    name: str, onnx_name: str, exported: Callable[[str], CliRun]
) -> None:
    from exporters.steps.coreml import check_structure

    model = package(exported, name) / "model.mlpackage"
    meta = metadata_of(exported, name)
    shapes = _original_shapes(exported, onnx_name)
    assert check_structure(model, meta, shapes)["passed"]

    def broken(change: Callable[[dict[str, Any]], None]) -> dict[str, bool]:
        wrong = copy.deepcopy(meta)
        change(wrong)
        checks: dict[str, bool] = check_structure(model, wrong, shapes)["checks"]
        return {check for check, ok in checks.items() if not ok}

    assert broken(lambda m: m["preprocessing"]["normalize"].update(scale=1.0)) == {
        "image scale matches metadata"}
    assert broken(lambda m: m["classes"].reverse()) == {"class labels match metadata"}
    assert broken(lambda m: m["preprocessing"].update(input_size=[64, 64])) == {
        "input size matches metadata"}
    assert "outputs match the original model's shapes" in check_structure(
        model, meta, [[1, 3, 7]])["checks"]
    if name == "timm-coreml":
        assert broken(lambda m: m["preprocessing"]["normalize"].update(mean=[0.5, 0.5, 0.5])) == {
            "mean and std in the graph match metadata"}
        # built for iOS17 as asked: an iOS15 device could not load it
        assert meta["runtime"]["coreml"]["minimum_deployment_target"] == "iOS17"
        assert broken(lambda m: m["export"]["export_config"].update(minimum_deployment_target="iOS15")) == {
            "loads on the requested deployment target"}
    else:  # Ultralytics builds for iOS15, which newer targets load too
        assert meta["parity"]["loads_on"] == "iOS15"


def test_coreml_readme_says_parity_was_not_run(exported: Callable[[str], CliRun]) -> None:
    readme = (package(exported, "det-coreml") / "README.md").read_text()
    assert "**Not run**" in readme and "macOS" in readme
