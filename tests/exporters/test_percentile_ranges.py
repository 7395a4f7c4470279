"""Percentile calibration one image at a time gives ONNX Runtime's own ranges, bit for bit
(its calibrator holds every image's activations at once: 14 GB for YOLO11n at 640 on 48
images)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from onnxruntime.quantization import CalibrationMethod
from onnxruntime.quantization.calibrate import create_calibrator
from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

from exporters.optimize import percentile_ranges
from exporters.optimize.onnx_quant import _Reader
from tests.exporters.test_calibrate_once import _tiny_classifier


def test_one_image_at_a_time_gives_onnx_runtimes_percentile_ranges(tmp_path: Path) -> None:
    model = tmp_path / "tiny.onnx"
    _tiny_classifier(model)
    rng = np.random.default_rng(3)
    # images whose spans differ, so the shared edges are not those of any one image
    tensors = [rng.normal(0, scale, (1, 3, 32, 32)).astype(np.float32) for scale in (0.2, 1.0, 3.0, 0.5)]

    def calibrator(name: str) -> object:
        return create_calibrator(model, sorted(set(QLinearOpsRegistry) | set(QDQRegistry)),
                                 augmented_model_path=str(tmp_path / f"{name}.onnx"),
                                 calibrate_method=CalibrationMethod.Percentile)

    theirs, ours = calibrator("theirs"), calibrator("ours")
    theirs.collect_data(_Reader("input", tensors))  # type: ignore[attr-defined]
    percentile_ranges.collect(ours, "input", tensors)
    expected, got = theirs.compute_data(), ours.compute_data()  # type: ignore[attr-defined]
    assert set(got.data) == set(expected.data) and len(got.data) >= 6
    for name, want in expected.data.items():
        np.testing.assert_array_equal(got.data[name].range_value, want.range_value, err_msg=name)
    histograms = ours.collector.histogram_dict  # type: ignore[attr-defined]
    for name, want in theirs.collector.histogram_dict.items():  # type: ignore[attr-defined]
        for have, wanted in zip(histograms[name], want, strict=True):  # counts, edges, min, max
            np.testing.assert_array_equal(have, wanted, err_msg=name)
            assert np.asarray(have).dtype == np.asarray(wanted).dtype
    assert any(float(d.range_value[1]) > 0 for d in got.data.values())
