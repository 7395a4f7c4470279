"""Static INT8 for ONNX Runtime calibrates once per export: every candidate, the sensitivity
ranking and every fallback step quantize from the same activation ranges. The candidates
(graph form, per-channel, which ops stay float) are timed together and the fastest one that
agrees is kept. A tiny convolutional classifier with a depthwise layer, run through the
package's own wrapper, on a few images."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import calibrate

from core.inference import wrapper_module
from core.spec import ExportSpec
from exporters.optimize import percentile_ranges
from exporters.optimize.fallback import fall_back
from exporters.optimize.onnx_quant import AGREEMENT_SLACK
from exporters.optimize.quantize import QuantizationJob, onnx_static, start_job
from tests.helpers import sample_metadata


def _tiny_classifier(path: Path) -> None:
    """conv 3→8 → relu → depthwise 3×3 → relu → conv 1×1 → relu → pool → gemm 8→2."""
    rng = np.random.default_rng(0)

    def weight(name: str, *shape: int) -> onnx.TensorProto:
        return numpy_helper.from_array(rng.normal(0, 0.5, shape).astype(np.float32), name)

    inits = [
        weight("w1", 8, 3, 3, 3),
        weight("w2", 8, 1, 3, 3),
        weight("w3", 8, 8, 1, 1),
        weight("wg", 2, 8),
        weight("bg", 2),
    ]
    nodes = [
        helper.make_node("Conv", ["input", "w1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], name="depthwise", group=8, pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("Conv", ["r2", "w3"], ["c3"], name="conv3"),
        helper.make_node("Relu", ["c3"], ["r3"], name="relu3"),
        helper.make_node("GlobalAveragePool", ["r3"], ["p"], name="pool"),
        helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "wg", "bg"], ["logits"], name="fc", transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 2])],
        inits,
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


@pytest.fixture
def job(tmp_path: Path) -> QuantizationJob:
    model = tmp_path / "pkg" / "model.onnx"
    model.parent.mkdir()
    _tiny_classifier(model)
    (model.parent / "metadata.json").write_text(json.dumps(sample_metadata()))
    images = tmp_path / "calib"
    images.mkdir()
    rng = np.random.default_rng(1)
    for index in range(12):
        cv2.imwrite(str(images / f"{index}.png"), rng.integers(0, 255, (40, 48, 3), dtype=np.uint8))
    checkpoint = tmp_path / "m.pth"
    checkpoint.write_bytes(b"")
    spec = ExportSpec.model_validate(
        {
            "checkpoint": checkpoint,
            "export_format": "onnx",
            "optimization_config": {
                "quantization": {"method": "static", "calibration_data": images, "calibration_samples": 12}
            },
        }
    )
    wrapper = wrapper_module().ModelWrapper(model, model.parent / "metadata.json", threads=2)
    return start_job(model, spec, wrapper, "classify", tmp_path / "work")


@pytest.fixture
def passes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every pass of calibration data through a model by ONNX Runtime's calibrators (the real
    ones run; each call is only recorded)."""
    seen: list[str] = []
    for cls in (calibrate.MinMaxCalibrater, calibrate.HistogramCalibrater):
        original = cls.collect_data

        def counted(self: Any, reader: Any, _original: Any = original) -> Any:
            seen.append(type(self).__name__)
            return _original(self, reader)

        monkeypatch.setattr(cls, "collect_data", counted)
    streamed = percentile_ranges.collect  # percentile ranges are collected one image at a time

    def counted_stream(calibrator: Any, *args: Any) -> None:
        seen.append(type(calibrator).__name__)
        streamed(calibrator, *args)

    monkeypatch.setattr(percentile_ranges, "collect", counted_stream)
    return seen


def test_every_candidate_and_fallback_step_reuses_one_calibration(
    job: QuantizationJob, passes: list[str]
) -> None:
    stats = onnx_static(job)
    assert passes == ["PercentileCalibrater"], f"{len(passes)} calibration passes for one export"
    assert stats["calibration_passes"] == 1
    assert len(stats["candidates"]) >= 5  # 2 forms × 2 channel settings, then the ops variants
    chosen = job.setting
    assert chosen is not None

    def check() -> dict[str, Any]:  # a judge that wants at least three nodes back in float
        return {"passed": len(job.exclude) >= 3}

    settled = fall_back(job, stats, check, lambda _: None)
    assert settled is not None
    _, result = settled
    attempts = result["fallback"]["attempts"]
    assert len(attempts) >= 2 and [a["kept_in_float"] for a in attempts][-1] >= 3
    assert passes == ["PercentileCalibrater"], "the fallback steps calibrated again"
    # the fallback kept the measured setting and only added float nodes
    assert (result["quant_format"], result["per_channel"], result["quantized_ops"]) == (
        chosen.quant_format,
        chosen.per_channel,
        chosen.ops,
    )
    assert set(job.exclude) <= set(result["kept_in_float"])
    assert onnx.load(str(job.model_file)).graph.node  # the package holds the last passing model


def test_the_fastest_candidate_that_agrees_is_kept(job: QuantizationJob, passes: list[str]) -> None:
    stats = onnx_static(job)
    candidates = stats["candidates"]
    assert {c["ops"] for c in candidates} == {"all", "weighted-only", "float-depthwise"}
    assert {c["quant_format"] for c in candidates} == {"qoperator", "qdq"}
    # the ops round ran on the first round's winner; its variants were timed beside it
    last_round = [
        c
        for c in candidates
        if (c["quant_format"], c["per_channel"]) == (stats["quant_format"], stats["per_channel"])
    ]
    assert {c["ops"] for c in last_round} == {"all", "weighted-only", "float-depthwise"}
    best = max(c["agreement"] for c in candidates)
    fastest = min(
        (c for c in last_round if c["agreement"] >= best - AGREEMENT_SLACK), key=lambda c: c["latency_ms"]
    )
    assert stats["quantized_ops"] == fastest["ops"] and stats["agreement"] == fastest["agreement"]
    if stats["quantized_ops"] == "float-depthwise":
        assert "depthwise" in stats["kept_in_float"]
    else:
        assert "depthwise" not in stats["kept_in_float"]
    quantized = {n.op_type for n in onnx.load(str(job.model_file)).graph.node}
    assert quantized & {"QLinearConv", "QuantizeLinear", "ConvInteger"}, quantized
    assert passes == ["PercentileCalibrater"]
