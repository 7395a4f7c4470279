"""Ultralytics heads beyond the grid through the real CLI: rotated boxes (obb) and an NMS-free
head (YOLO26) through OpenVINO, and the options refused up front.

The checkpoints are the zoo's (tests/zoo/ultralytics_zoo.py): ``YOLO(yaml)`` with random
weights brought to life so real photos give confident boxes. ONNX for the same families
runs in the zoo's slice (tests/zoo/test_zoo_slice.py).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.helpers import slipway
from tests.zoo.run import export_one
from tests.zoo.ultralytics_zoo import FAMILIES, build_checkpoint

pytestmark = pytest.mark.slow

BY_NAME = {f.name: f for f in FAMILIES}


@pytest.mark.parametrize("name", ["ultralytics/yolo11n-obb", "ultralytics/yolo26n"])
def test_head_exports_to_openvino_and_matches_ultralytics(name: str, tmp_path: Path) -> None:
    family = BY_NAME[name]
    checkpoint = family.build(tmp_path / "checkpoint")
    outcome = export_one(family, checkpoint, "openvino", tmp_path)
    assert outcome.status == "passed", f"{name}: {outcome.detail}"
    assert outcome.pipeline == "agrees"  # the wrapper's boxes are Ultralytics' own predict's
    metadata = json.loads((tmp_path / "pkg-openvino" / "metadata.json").read_text())
    post = metadata["postprocessing"]
    if name.endswith("obb"):
        assert post["type"] == "yolo_obb" and metadata["model_info"]["task"] == "obb"
    else:  # the one-to-one branch: top-k rows, no NMS
        assert post["type"] == "yolo_end2end" and not post["nms"]["enabled"]
        assert metadata["output_spec"]["outputs"][0]["shape"][-2:] == [300, 6]
    assert metadata["parity"]["task_agreement"]["total"] > 0


@pytest.fixture(scope="module")
def yolo11n(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_checkpoint("yolo11n.yaml", tmp_path_factory.mktemp("yolo11n"))


def test_torchscript_script_is_refused_up_front(yolo11n: Path, tmp_path: Path) -> None:
    start = time.perf_counter()
    run = slipway("export", str(yolo11n), "--format", "torchscript", "--method", "script",
                  "--out", str(tmp_path / "pkg"), "--json", home=tmp_path / "home")
    assert run.code == 3, run.stderr[-2000:]
    assert "method 'script'" in run.stderr and "trace" in run.stderr
    assert time.perf_counter() - start < 60  # refused in the load stage, nothing converted
    assert not (tmp_path / "pkg" / "model.torchscript").exists()


def test_unsupported_task_is_refused_naming_it(tmp_path: Path) -> None:
    """YOLO26's semantic-segmentation model: a task this loader does not take yet, refused
    (Unsupported, exit 3) before anything converts."""
    from exporters.offline import configure_offline

    configure_offline(tmp_path / "cache")
    from ultralytics import YOLO

    from core.errors import Unsupported
    from core.spec import ExportSpec
    from exporters.loaders.ultralytics import load

    checkpoint = tmp_path / "yolo26n-sem.pt"
    YOLO("yolo26n-sem.yaml").save(str(checkpoint))
    spec = ExportSpec(checkpoint=checkpoint, export_format="onnx", framework="ultralytics", input_size=160)
    (tmp_path / "work").mkdir()
    with pytest.raises(Unsupported, match="task 'semantic' is not supported"):
        load(spec, checkpoint, tmp_path / "work")
