"""Per-layer localisation on a quantized ONNX graph (QOperator form: QLinearConv, uint8).

Its integer tensors are no module's activation: they are skipped rather than declared
float (ONNX Runtime refused to load such a scratch copy, and the gate of an INT8 export
that diverged crashed as an internal error instead of reporting exit 4). The float
tensors the graph still computes are compared, and the INT8 profile names the layers
that lose most.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime.quantization")

from exporters.localize import localize
from tests.exporters.test_localize import Net


def test_a_qoperator_int8_graph_is_compared_on_its_float_tensors(tmp_path: Path) -> None:
    import onnx
    import torch
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static

    torch.manual_seed(0)
    model = Net().eval()
    path = tmp_path / "net.onnx"
    torch.onnx.export(model, (torch.zeros(1, 3, 32, 32),), str(path), opset_version=17, dynamo=False,
                      input_names=["input"], output_names=["logits"])
    rng = np.random.default_rng(0)
    inputs = [rng.normal(size=(1, 3, 32, 32)).astype(np.float32) for _ in range(3)]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter([{"input": x} for x in inputs])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.items, None)

    int8 = tmp_path / "int8.onnx"
    quantize_static(str(path), str(int8), Reader(), quant_format=QuantFormat.QOperator)
    ops = {n.op_type for n in onnx.load(str(int8)).graph.node}
    assert "QLinearConv" in ops  # the integer form this is about
    report = localize(model, int8, "onnx", [(x, x) for x in inputs], None, None, tmp_path)
    assert report["status"] == "compared" and report["matched"] > 0, report
    assert report["first_divergent"] is None  # INT8 has no tolerance: a profile, not a verdict
    compared = {r["module"] for r in report["layers"]}
    assert report["most_sensitive"] and set(report["most_sensitive"]) <= compared
    assert all(np.isfinite(r["max_abs_diff"]) for r in report["layers"])
