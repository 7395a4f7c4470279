"""INT8 and FP16 exports measured on the samples' own labeled data: a static INT8
detector that keeps its accuracy, a degraded export that validation refuses, the
accuracy-aware fallback, and our mAP against Ultralytics' own val."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from core.samples import sample
from tests.helpers import slipway

pytestmark = pytest.mark.slow

DET = sample("shapes-yolo11n")
TIMM = sample("digits-timm")
TIMM_ARGS = [str(TIMM.checkpoint), "--model-name", "mobilenetv3_small_050"]


def metadata(package: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((package / "metadata.json").read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def int8_detector(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("int8") / "pkg"
    run = slipway("export", str(DET.checkpoint), "--format", "onnx", "--int8", "static",
                  "--calib", str(DET.images), "--calib-samples", "32", "--validate", str(DET.dataset),
                  "--max-drop", "0.03", "--goal", "size", "--out", str(out), "--json",
                  home=out.parent / "home")
    assert run.code == 0, run.stderr[-3000:]
    assert run.result["validation_metrics"]["passed"]
    return out


def test_static_int8_detector_keeps_its_accuracy_and_says_what_it_did(int8_detector: Path) -> None:
    meta = metadata(int8_detector)
    quant = meta["optimization_stats"]["quantization"]
    assert quant["method"] == "static" and quant["calibration_images"] == 32
    assert quant["calibration_method"] == "percentile"
    assert {c["quant_format"] for c in quant["candidates"]} == {"qoperator", "qdq"}
    # 2 forms × 2 channel settings, then weighted-only and float-depthwise on the winner
    assert len(quant["candidates"]) == 6 and all(0 <= c["agreement"] <= 1 for c in quant["candidates"])
    assert {c["ops"] for c in quant["candidates"]} == {"all", "weighted-only", "float-depthwise"}
    assert quant["calibration_passes"] == 1 and quant["seconds"]["calibrate"] > 0
    assert "/model.23/dfl/conv/Conv" in quant["postprocessing_in_float"]  # DFL is decoding
    assert quant["postprocessing_in_float"], "box decoding must stay float"
    stats = meta["optimization_stats"]
    # timed against the float model and recorded; whether it is faster at 320 on a shared 2-core
    # machine varies (1.03-1.3x), so the goal is size here: the gate's verdict has its own test
    speed = stats["speed"]
    assert speed["judged"] and speed["goal"] == "size", speed
    assert speed["passed"] or speed["kept_for"] == "size"  # not faster: kept for its size, as asked
    assert speed["speedup"] > 0 and stats["latency_ms_after"] == speed["optimized_ms"]
    assert stats["latency_ms_before"] == speed["float_ms"]
    assert stats["exported_size_mb"] < 0.5 * 10.4  # INT8 weights: a quarter of the float file
    packaged = {p.relative_to(int8_detector).parts[0] for p in int8_detector.rglob("*")}
    assert packaged == {"model.onnx", "metadata.json", "labels.txt", "README.md", "runtimes", "export.log",
                        "export-package.zip", "result.json", "validation_results.json"}
    import zipfile

    with zipfile.ZipFile(int8_detector / "export-package.zip") as archive:
        assert {n.split("/")[0] for n in archive.namelist()} == packaged - {"export-package.zip",
                                                                          "result.json"}
    validation = json.loads((int8_detector / "validation_results.json").read_text())
    assert validation["metric"] == "mAP50-95" and validation["passed"]
    assert validation["original_metric"] > 0.8 and validation["accuracy_drop"] <= 0.03
    assert set(validation["exported"]["per_class"]) == {"circle", "square", "triangle", "star"}
    assert meta["parity"]["precision"] == "int8" and meta["parity"]["passed"]
    assert all(o["tolerance"] is None for o in meta["parity"]["outputs"].values())


def test_our_map_matches_ultralytics_val(int8_detector: Path, tmp_path: Path) -> None:
    """The original model's mAP from core.metrics against Ultralytics' own val (square
    letterbox, rect=False: the preprocessing every export uses)."""
    import os

    from ultralytics import YOLO

    data = tmp_path / "dataset"
    shutil.copytree(DET.dataset.parent, data)  # val writes a label cache beside the labels
    yaml = data / "ultralytics.yaml"
    yaml.write_text(f"path: {data}\ntrain: images/val\nval: images/val\n"
                    "names: {0: circle, 1: square, 2: triangle, 3: star}\n")
    os.environ["YOLO_OFFLINE"] = "1"
    theirs = YOLO(str(DET.checkpoint)).val(data=str(yaml), imgsz=320, batch=1, conf=0.001, iou=0.7,
                                           rect=False, plots=False, verbose=False, device="cpu",
                                           project=str(tmp_path / "runs"), name="val")
    ours = json.loads((int8_detector / "validation_results.json").read_text())["original"]
    assert abs(ours["mAP50-95"] - theirs.box.map) <= 0.003
    assert abs(ours["mAP50"] - theirs.box.map50) <= 0.003


def test_validation_refuses_an_export_that_really_degrades(tmp_path: Path) -> None:
    out = tmp_path / "pkg"
    run = slipway("export", str(DET.checkpoint), "--format", "onnx", "--int8", "dynamic",
                  "--validate", str(DET.dataset), "--max-drop", "0", "--out", str(out),
                  home=tmp_path / "home")
    assert run.code == 4, run.stderr[-2000:]
    assert "mAP50-95 dropped by" in run.stderr and "accuracy_drop_max 0.0" in run.stderr
    assert "4-6× slower" in run.stderr  # the CLI warned before it started
    report = json.loads((out / "validation_report.json").read_text())
    assert report["accuracy_drop"] > 0 and not report["passed"]
    assert not list(out.glob("model*")) and not (out / "metadata.json").exists()


def test_fallback_keeps_sensitive_layers_float_until_the_drop_is_within_the_limit(tmp_path: Path) -> None:
    out = tmp_path / "pkg"
    run = slipway("export", *TIMM_ARGS, "--format", "onnx", "--int8", "static", "--calib",
                  str(TIMM.images), "--calib-samples", "32", "--calib-method", "minmax",
                  "--validate", str(TIMM.dataset), "--max-drop", "0.005", "--goal", "size",
                  "--out", str(out), "--json", home=tmp_path / "home")
    assert run.code == 0, run.stderr[-3000:]
    quant = metadata(out)["optimization_stats"]["quantization"]
    attempts = quant["fallback"]["attempts"]
    assert attempts and attempts[-1]["passed"] in (True, False)
    kept = [n for n in quant["kept_in_float"] if n not in quant["postprocessing_in_float"]]
    assert kept, "the first INT8 model dropped too much: some layers must have gone back to float"
    assert any(a["passed"] for a in attempts) and any(not a["passed"] for a in attempts)
    assert run.result["validation_metrics"]["accuracy_drop"] <= 0.005


def test_fp16_onnx_keeps_float32_inputs_and_halves_the_file(tmp_path: Path) -> None:
    import onnx

    out = tmp_path / "pkg"
    run = slipway("export", *TIMM_ARGS, "--format", "onnx", "--half", "--validate", str(TIMM.dataset),
                  "--goal", "size", "--out", str(out), "--json", home=tmp_path / "home")
    assert run.code == 0, run.stderr[-3000:]
    model = onnx.load(str(out / "model.onnx"))
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in model.graph.initializer)
    meta = metadata(out)
    stats = meta["optimization_stats"]
    assert stats["exported_size_mb"] < 0.6 * stats["original_size_mb"]
    assert meta["parity"]["precision"] == "fp16" and meta["parity"]["passed"]
    assert run.result["validation_metrics"]["accuracy_drop"] <= 0.01
    speed = stats["speed"]  # timed against the float model, kept for its size whatever it showed
    assert speed["judged"] and speed["goal"] == "size" and speed["float_ms"] > 0 and speed["optimized_ms"] > 0


def test_the_speed_gate_refuses_a_slower_int8_model_unless_the_goal_is_size(tmp_path: Path) -> None:
    """Static INT8 makes the tiny timm classifier slower on a CPU (about half its FP32 speed
    where it was measured): with the default goal it is not handed over, with the reason and
    the report; with --goal size the same export is kept and its speed recorded."""
    spec = {"checkpoint": str(TIMM.checkpoint), "model_name": "mobilenetv3_small_050",
            "export_format": "onnx", "parity": {"min_task_agreement": 0.5},
            "optimization_config": {"quantization": {"method": "static", "calibration_data": str(TIMM.images),
                                                     "calibration_samples": 16}}}
    runs = {}
    for goal in ("speed", "size"):
        path = tmp_path / f"{goal}.json"
        spec["optimization_config"]["goal"] = goal  # type: ignore[index]
        path.write_text(json.dumps(spec))
        runs[goal] = slipway("export", "--spec", str(path), "--out", str(tmp_path / goal), "--json",
                             home=tmp_path / "home")
    refused, kept = runs["speed"], runs["size"]
    assert refused.code == 4, refused.stderr[-2000:]
    assert "speed gate failed: the INT8 ONNX model runs at" in refused.stderr
    assert "--goal size" in refused.stderr
    report = json.loads((tmp_path / "speed" / "speed_report.json").read_text())
    assert report["judged"] and not report["passed"] and report["speedup"] < report["min_speedup"]
    assert not list((tmp_path / "speed").glob("model*"))  # nothing that looks like a package
    assert kept.code == 0, kept.stderr[-2000:]
    speed = metadata(tmp_path / "size")["optimization_stats"]["speed"]
    assert speed["goal"] == "size" and speed["judged"] and speed["float_ms"] > 0
    assert speed["kept_for"] == "size" or speed["passed"]  # the machine decides which; both are recorded
    readme = (tmp_path / "size" / "README.md").read_text()
    assert "Speed on the exporting machine" in readme


def test_openvino_int8_through_nncf_keeps_decoding_float(tmp_path: Path) -> None:
    out = tmp_path / "pkg"
    run = slipway("export", str(DET.checkpoint), "--format", "openvino", "--int8", "static",
                  "--calib", str(DET.images), "--calib-samples", "32", "--validate", str(DET.dataset),
                  "--max-drop", "0.05", "--out", str(out), "--json", home=tmp_path / "home")
    assert run.code == 0, run.stderr[-3000:]
    meta = metadata(out)
    quant = meta["optimization_stats"]["quantization"]
    assert quant["tool"].startswith("NNCF") and quant["postprocessing_in_float"]
    assert any("dfl" in name for name in quant["postprocessing_in_float"])
    assert {c["preset"] for c in quant["candidates"]} == {"mixed", "performance"}
    assert quant["model_type"] == "default" and quant["preset"] in ("mixed", "performance")
    assert (out / "model.bin").stat().st_size < 0.5 * 10.4e6
    assert meta["parity"]["precision"] == "int8" and meta["parity"]["passed"]
    assert meta["runtime"]["openvino"] == {"INFERENCE_PRECISION_HINT": "f32"}
    assert run.result["validation_metrics"]["passed"]


def test_openvino_int8_that_drops_too_much_is_requantized_with_nncf_accuracy_control(tmp_path: Path) -> None:
    """Calibrated on the wrong images (the digits), the detector's INT8 IR loses about 3 points
    of mAP50-95 on its val split; NNCF's accuracy control, scored by the validation's own
    metric on that split, puts operations back in float until the drop is within the limit
    (2 points: reached after about three operations; NNCF's ranking of them varies from run to
    run, so a limit that takes seven, as 1 point did here once, is not a stable test)."""
    out = tmp_path / "pkg"
    run = slipway("export", str(DET.checkpoint), "--format", "openvino", "--int8", "static",
                  "--calib", str(TIMM.images), "--calib-samples", "8", "--validate", str(DET.dataset),
                  "--max-drop", "0.02", "--goal", "size", "--out", str(out), "--json", home=tmp_path / "home")
    assert run.code == 0, run.stderr[-3000:]
    log = (out / "export.log").read_text()
    first = float(log.split("mAP50-95 dropped by ")[1].split()[0])
    assert first > 0.02, "the first INT8 model should have dropped past the limit"
    quant = metadata(out)["optimization_stats"]["quantization"]
    control = quant["accuracy_control"]
    assert control["tool"].startswith("NNCF") and control["passed"] and control["validation_images"] > 0
    assert control["fake_quantize_nodes"]["after"] < control["fake_quantize_nodes"]["before"]
    assert "accuracy control" in quant["seconds"]
    validation = run.result["validation_metrics"]
    assert validation["passed"] and validation["accuracy_drop"] <= 0.02 < first


def test_structured_pruning_shrinks_the_model_and_fine_tuning_recovers(tmp_path: Path) -> None:
    """Fine-tuned and validated on the sample's own split: the mechanism is checked here,
    not a held-out accuracy."""
    out = tmp_path / "pkg"
    run = slipway("export", *TIMM_ARGS, "--format", "onnx", "--prune", "structured:0.3",
                  "--fine-tune", str(TIMM.dataset), "--fine-tune-epochs", "3", "--validate",
                  str(TIMM.dataset), "--max-drop", "0.5", "--out", str(out), "--json", home=tmp_path / "home")
    assert run.code == 0, run.stderr[-3000:]
    meta = metadata(out)
    pruning = meta["optimization_stats"]["pruning"]
    assert pruning["parameters_after"] < 0.6 * pruning["parameters_before"]
    assert meta["optimization_stats"]["exported_size_mb"] < 0.7 * 2.35  # the unpruned ONNX is 2.35 MB
    tuned = pruning["fine_tune"][0]
    assert tuned["top1_after"] > tuned["top1_before"] + 0.3  # pruning alone left it near chance
    assert meta["parity"]["passed"]  # the export computes what the pruned model computes
    validation = run.result["validation_metrics"]
    assert validation["original"] > 0.98  # measured on the checkpoint as given, before pruning


def test_unstructured_pruning_reports_sparsity_and_says_it_only_compresses(tmp_path: Path) -> None:
    out = tmp_path / "pkg"
    run = slipway("export", *TIMM_ARGS, "--format", "torchscript", "--prune", "unstructured:0.5",
                  "--out", str(out), "--json", home=tmp_path / "home")
    assert run.code == 0, run.stderr[-3000:]
    pruning = metadata(out)["optimization_stats"]["pruning"]
    assert abs(pruning["sparsity_reached"] - 0.5) < 0.02
    assert pruning["parameters_after"] == pruning["parameters_before"]
    assert pruning["weights_deflated_mb_after"] < 0.8 * pruning["weights_deflated_mb_before"]
    assert "not the latency" in pruning["note"]


def test_yolo_unstructured_pruning_reaches_the_export_and_structured_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "pkg"
    run = slipway("export", str(DET.checkpoint), "--format", "onnx", "--prune", "unstructured:0.3",
                  "--out", str(out), "--json", home=tmp_path / "home")
    assert run.code == 0, run.stderr[-3000:]
    meta = metadata(out)
    assert abs(meta["optimization_stats"]["pruning"]["sparsity_reached"] - 0.3) < 0.02
    assert meta["parity"]["passed"]  # the export computes what the pruned model computes
    # Ultralytics' exporter converted the pruned module: the zeros are in the file's
    # convolution weights (BatchNorm folding scales channels, so zeros stay zeros)
    graph = onnx.load(str(out / "model.onnx")).graph
    conv_weights = {n.input[1] for n in graph.node if n.op_type == "Conv"}
    weights = np.concatenate([numpy_helper.to_array(i).ravel() for i in graph.initializer
                              if i.name in conv_weights])
    assert float(np.mean(weights == 0)) > 0.25
    refused = slipway("export", str(DET.checkpoint), "--format", "onnx", "--prune", "structured:0.3",
                      "--out", str(tmp_path / "refused"), home=tmp_path / "home")
    assert refused.code == 3 and "structured pruning of YOLO models" in refused.stderr


def test_tflite_int8_is_calibrated_and_gated_like_the_other_formats(tmp_path: Path) -> None:
    out = tmp_path / "pkg"
    # digits, not photos, for the gate: INT8 top-1 on images far from the training data is
    # a coin toss (11/16 agreed on the default photo set)
    run = slipway("export", *TIMM_ARGS, "--format", "tflite", "--int8", "static", "--calib",
                  str(TIMM.images), "--calib-samples", "16", "--parity-images", str(TIMM.images),
                  "--out", str(out), "--json", home=tmp_path / "home")
    assert run.code == 0, run.stderr[-3000:]
    meta = metadata(out)
    quant = meta["optimization_stats"]["quantization"]
    assert quant["tool"] == "TensorFlow Lite converter (int8)" and quant["calibration_images"] == 16
    assert (out / "model.tflite").stat().st_size < 0.5 * 2.34e6
    assert meta["parity"]["precision"] == "int8" and meta["parity"]["passed"]
    assert not (out / "saved_model").exists() and not (out / "quantization-work").exists()
    speed = meta["optimization_stats"]["speed"]  # a phone's model: this CPU's speed is no verdict
    assert speed == {"goal": "speed", "judged": False, "reason": speed["reason"]}
    assert "other hardware" in speed["reason"]
    assert "Speed not judged on the exporting machine" in (out / "README.md").read_text()


def test_a_collapsed_int8_detector_is_never_handed_over(tmp_path: Path) -> None:
    """Full-integer TFLite puts YOLO's boxes (0..320) and scores (0..1) in one INT8 range:
    every box is lost (the gate failed it, 0 of 20 boxes). It is refused before the job now,
    saying why and what to use instead."""
    out = tmp_path / "pkg"
    run = slipway("export", str(DET.checkpoint), "--format", "tflite", "--int8", "static", "--calib",
                  str(DET.images), "--calib-samples", "16", "--out", str(out), home=tmp_path / "home")
    assert run.code == 3, run.stderr[-3000:]
    assert "no box survives" in run.stderr and "'dynamic' or 'fp16'" in run.stderr
    assert not list(out.glob("model*"))


@pytest.mark.parametrize(("args", "fp32_mb"), [([str(DET.checkpoint)], 10.5), (TIMM_ARGS, 2.40)])
def test_coreml_fp16_halves_the_model_and_still_matches_its_metadata(
    args: list[str], fp32_mb: float, tmp_path: Path
) -> None:
    out = tmp_path / "pkg"
    run = slipway("export", *args, "--format", "coreml", "--half", "--out", str(out), "--json",
                  home=tmp_path / "home")
    assert run.code == 0, run.stderr[-3000:]
    meta = metadata(out)
    assert meta["optimization_stats"]["quantization"]["done_by"].startswith("coremltools")
    assert meta["optimization_stats"]["exported_size_mb"] < 0.6 * fp32_mb
    parity = meta["parity"]
    assert parity["status"] == "not_run" and parity["passed"] is None
    assert all(parity["structure_checks"].values())  # fp16 constants read back and compared
