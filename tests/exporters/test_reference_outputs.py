"""The original model's outputs are computed once per distinct input in an export
(LoadedModel.reference): the parity gate and validation share images, and every fallback step
validates again."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.samples import sample
from core.spec import ExportSpec
from exporters.loaders import load_model


def test_each_distinct_input_runs_through_the_original_once(tmp_path: Path) -> None:
    digits = sample("digits-timm")
    spec = ExportSpec(checkpoint=digits.checkpoint, export_format="onnx", model_name="mobilenetv3_small_050")
    model = load_model(spec, "timm", digits.checkpoint, tmp_path)
    calls: list[int] = []
    model.module.register_forward_pre_hook(lambda *_: calls.append(1))
    rng = np.random.default_rng(0)
    first, second = (rng.uniform(-1, 1, (1, 3, *model.input_size)).astype(np.float32) for _ in range(2))

    a = model.reference(first)
    a[0][...] = 0  # a caller changing its outputs changes nothing remembered
    again = model.reference(first.copy())
    assert len(calls) == 1
    np.testing.assert_array_equal(again[0], model.forward(first)[0])
    assert np.abs(again[0]).max() > 0
    assert len(calls) == 2  # forward itself always runs (latency is timed with it)

    model.reference(second)
    assert len(calls) == 3
    nudged = first.copy()
    nudged.flat[0] = np.nextafter(nudged.flat[0], np.float32(2))  # one ulp apart is another input
    model.reference(nudged)
    assert len(calls) == 4
