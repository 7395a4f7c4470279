"""Segment, pose and classify YOLO models export with metadata that decodes them.

Built from Ultralytics' bundled yaml files (random weights, no download): what is
checked is the export route, the metadata and the parity gate, not accuracy.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.inference import open_package
from core.samples import sample
from tests.helpers import slipway

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def yolo_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Random weights made to behave like trained ones (the zoo's builder): a fresh head finds
    nothing, and a gate that compared nothing does not pass."""
    from tests.zoo.ultralytics_zoo import build_checkpoint

    folder = tmp_path_factory.mktemp("yolo")
    return {task: build_checkpoint(f"yolo11n{suffix}.yaml", folder)
            for task, suffix in (("segment", "-seg"), ("pose", "-pose"), ("classify", "-cls"))}


@pytest.mark.parametrize("task", ["segment", "pose", "classify"])
def test_task_exports_to_onnx_with_decodable_metadata(
    task: str, yolo_models: dict[str, Path], tmp_path: Path
) -> None:
    run = slipway("export", str(yolo_models[task]), "--format", "onnx", "--imgsz", "160",
                  "--out", str(tmp_path / "pkg"), "--json", home=tmp_path / "home")
    assert run.code == 0, run.stderr[-3000:]
    metadata = json.loads((tmp_path / "pkg" / "metadata.json").read_text())
    post = metadata["postprocessing"]
    outputs = metadata["output_spec"]["outputs"]
    assert metadata["model_info"]["task"] == task
    assert metadata["parity"]["passed"]
    wrapper = open_package(tmp_path / "pkg")
    image = sample("shapes-yolo11n").image_files()[0]
    if task == "segment":
        assert post["type"] == "yolo_segment" and post["mask_prototypes"] == 32
        assert [o["name"] for o in outputs] == ["output0", "output1"]
        assert outputs[1]["shape"][1] == 32
        found = wrapper.predict(str(image), conf=0.0, masks=True)  # random weights: tiny scores
        assert found and found[0]["mask"].shape == (320, 320) and found[0]["mask"].dtype == bool
    elif task == "pose":
        assert post["type"] == "yolo_pose" and post["keypoint_shape"] == [17, 3]
        assert outputs[0]["shape"][1] == 4 + len(metadata["classes"]) + 17 * 3
        found = wrapper.predict(str(image), conf=0.0)
        assert found and len(found[0]["keypoints"]) == 17 and len(found[0]["keypoints"][0]) == 3
    else:
        assert post["type"] == "probabilities"
        assert [step["op"] for step in metadata["preprocessing"]["steps"]] == ["resize", "center_crop"]
        assert metadata["preprocessing"]["steps"][0]["mode"] == "shortest_edge"
        assert outputs[0]["shape"] == [1, len(metadata["classes"])]


def test_segment_outputs_survive_tflite_and_openvino(yolo_models: dict[str, Path], tmp_path: Path) -> None:
    """Two outputs, one of them 4-D: TFLite's NHWC prototypes come back as the ONNX layout."""
    import numpy as np

    wrappers = {}
    for fmt in ("onnx", "tflite", "openvino"):
        run = slipway("export", str(yolo_models["segment"]), "--format", fmt, "--imgsz", "160",
                      "--out", str(tmp_path / fmt), "--json", home=tmp_path / "home")
        assert run.code == 0, run.stderr[-3000:]
        wrappers[fmt] = open_package(tmp_path / fmt)
    outputs = wrappers["tflite"].metadata["output_spec"]["outputs"]
    assert [o["name"] for o in outputs] == ["output0", "output1"] and outputs[1]["layout"] == "NHWC"
    rgb = wrappers["onnx"].load_image(str(sample("shapes-yolo11n").image_files()[0]))
    reference, _ = wrappers["onnx"].run(rgb)
    for fmt in ("tflite", "openvino"):
        got, _ = wrappers[fmt].run(rgb)
        for ref, out in zip(reference, got, strict=True):
            assert out.shape == ref.shape, fmt
            assert np.abs(out - ref).max() <= 1e-3 + 1e-3 * np.abs(ref).max(), fmt
