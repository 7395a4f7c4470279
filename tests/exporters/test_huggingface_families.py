"""Hugging Face beyond classification: the task read from config.json, detection and
segmentation through OpenVINO (a variable-size DETR-style graph included), and the
families Slipway cannot export refused up front (exit 3, the family and the reason named)
without any long work. The ONNX exports of the zoo's slice (a ConvNext classifier with
crop_pct, DETR, SegFormer) run in tests/zoo/test_zoo_slice.py."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from core.checkpoint import hf_task, inspect_checkpoint
from core.errors import BadInput, Unsupported
from core.spec import ExportSpec
from tests.helpers import slipway
from tests.zoo import hf

pytest.importorskip("transformers")


def _recipe(name: str) -> hf.Recipe:
    return next(r for r in hf.RECIPES if r.name == f"huggingface/{name}")


def _family(name: str) -> Any:
    return next(f for f in hf.FAMILIES if f.name == f"huggingface/{name}")


@pytest.mark.parametrize(("architecture", "task"), [
    ("DetrForObjectDetection", "detect"),
    ("SegformerForSemanticSegmentation", "semantic"),
    ("SegformerForImageClassification", "classify"),
    ("PerceiverForImageClassificationFourier", "classify"),
    ("DeiTForImageClassificationWithTeacher", "classify"),
    ("BeitModel", None),
    (None, None),
])
def test_the_head_class_names_the_task(architecture: str | None, task: str | None) -> None:
    assert hf_task(architecture) == task


def test_checkpoint_inspection_reads_the_task_from_config_json(tmp_path: Path) -> None:
    for architecture, task in (("DetrForObjectDetection", "detect"), ("MobileViTForSemanticSegmentation",
                                                                       "semantic")):
        folder = tmp_path / architecture
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps({"model_type": "x", "architectures": [architecture]}))
        (folder / "model.safetensors").write_bytes(b"")
        info = inspect_checkpoint(folder)
        assert (info.framework, info.task, info.architecture) == ("huggingface", task, architecture)


def test_without_architectures_the_task_chooses_the_head() -> None:
    from exporters.loaders.huggingface import architecture_and_task

    assert architecture_and_task({"model_type": "detr"}, "auto") == ("DetrForObjectDetection", "detect")
    assert architecture_and_task({"model_type": "segformer"}, "semantic") == (
        "SegformerForSemanticSegmentation", "semantic")
    with pytest.raises(BadInput, match="classify and semantic heads: pass --task"):
        architecture_and_task({"model_type": "segformer"}, "auto")
    with pytest.raises(BadInput, match="a detect model"):
        architecture_and_task({"model_type": "detr", "architectures": ["DetrForObjectDetection"]}, "classify")
    with pytest.raises(Unsupported, match="not an image-classification, object-detection"):
        architecture_and_task({"model_type": "vit", "architectures": ["ViTForMaskedImageModeling"]}, "auto")


# --- refused up front -----------------------------------------------------------------


REFUSALS = [  # (family, format, extra flags, words the refusal names)
    ("dinat", "onnx", (), "natten"),
    ("imagegpt", "onnx", (), "colour-cluster ids"),
    ("shieldgemma2", "onnx", (), "text prompt"),
    ("deta", "openvino", (), "NMS"),
    ("deformable_detr", "onnx", (), "--imgsz"),
    ("detr", "tflite", (), "TFLite"),
    ("rt_detr", "tflite", (), "deformable attention"),
    ("deformable_detr", "tflite", ("--imgsz", "640"), "6-D tensor"),
    ("segformer", "tflite", (), "parity gate"),
    ("mobilevitv2", "tflite", (), "col2im"),
    ("dab-detr", "tflite", ("--imgsz", "640"), "anchor-box queries"),
    ("convnext", "onnx", ("--imgsz", "320"), "--imgsz 320"),
]


@pytest.mark.parametrize(("name", "fmt", "flags", "words"), REFUSALS,
                         ids=[f"{r[0]}-{r[1]}" for r in REFUSALS])
def test_families_slipway_cannot_export_are_refused_in_the_load_stage(
        name: str, fmt: str, flags: tuple[str, ...], words: str, tmp_path: Path) -> None:
    """The loader itself refuses, before any conversion (and for most, before the weights)."""
    from exporters.loaders.huggingface import load

    recipe = _recipe(name)
    checkpoint = hf.build(recipe, tmp_path / "ckpt", live=False)
    imgsz = int(flags[1]) if flags else None
    spec = ExportSpec(checkpoint=checkpoint, export_format=fmt, input_size=imgsz)
    start = time.perf_counter()
    with pytest.raises(Unsupported) as refused:
        load(spec, checkpoint, tmp_path / "work")
    assert words in refused.value.message
    assert (recipe.model_type in refused.value.message or "image processor" in refused.value.message
            or name == "convnext")
    assert time.perf_counter() - start < 60


@pytest.mark.slow
def test_the_cli_refuses_with_exit_3_naming_the_family(tmp_path: Path, slipway_home: Path) -> None:
    checkpoint = _family("dinat").build(tmp_path / "ckpt")
    run = slipway("export", str(checkpoint), "--format", "onnx", "--out", str(tmp_path / "out"), "--json",
                  home=slipway_home)
    assert run.code == 3, run.stderr[-2000:]
    assert "dinat" in run.stderr and "natten" in run.stderr
    assert not (tmp_path / "out" / "model.onnx").exists()


# --- detection and segmentation through OpenVINO --------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", ["yolos", "segformer-semantic"])
def test_detector_and_segmenter_export_to_openvino_and_match_transformers(name: str, tmp_path: Path) -> None:
    """YOLOS takes any image size (shortest/longest edge: a graph with dynamic height and
    width); SegFormer's masks come back at the photo's size. Gate passed, and the package's
    wrapper gives what transformers' own pipeline gives on real photos."""
    from tests.zoo.run import export_one

    family = _family(name)
    checkpoint = family.build(tmp_path / "checkpoint")
    outcome = export_one(family, checkpoint, "openvino", tmp_path)
    assert outcome.status == "passed", f"{family.name}: {outcome.detail}"
    assert outcome.pipeline == "agrees"
    metadata = json.loads((tmp_path / "pkg-openvino" / "metadata.json").read_text())
    if name == "yolos":
        assert metadata["preprocessing"].get("input_size") is None  # follows each image
        assert not all(isinstance(d, int) for d in metadata["input_spec"]["shape"][2:])
        assert metadata["postprocessing"]["type"] == "set_prediction"
        assert metadata["parity"]["task_agreement"]["total"] > 0
    else:
        assert metadata["postprocessing"] == {"type": "semantic_logits", "mapping": "stretch"}
