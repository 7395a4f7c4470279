"""OpenVINO INT8 options fitted to the model: the decoding tail (YOLO's DFL included) is left
out of quantization, and only a mostly-matrix-product network with attention counts as a
transformer for NNCF."""

from __future__ import annotations

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from exporters.optimize.openvino_quant import (
    PRESETS,
    is_transformer,
    nncf_options,
    postprocessing,
    preferred,
    quantized_once,
)


def _named(node: ov.Node, name: str) -> ov.Node:
    node.set_friendly_name(name)
    return node


def test_the_dfl_and_what_follows_it_stay_float() -> None:
    x = ops.parameter([1, 4, 8, 8], np.float32, name="x")
    learned = _named(
        ops.convolution(
            x, ops.constant(np.full((16, 4, 1, 1), 0.1, np.float32)), [1, 1], [0, 0], [0, 0], [1, 1]
        ),
        "learned_conv",
    )
    softmax = _named(ops.softmax(learned, 1), "dfl_softmax")
    bins = ops.constant(np.arange(16, dtype=np.float32).reshape(1, 16, 1, 1))
    dfl = _named(ops.convolution(softmax, bins, [1, 1], [0, 0], [0, 0], [1, 1]), "dfl_conv")
    scaled = _named(ops.multiply(dfl, ops.constant(np.float32(8))), "strides")
    model = ov.Model([ops.result(scaled)], [x])
    assert set(postprocessing(model)) == {"dfl_softmax", "dfl_conv", "strides"}
    assert not is_transformer(model)


def _linear(x: ov.Node, size: int, seed: int) -> ov.Node:
    weights = np.random.default_rng(seed).normal(size=(size, size)).astype(np.float32)
    return ops.matmul(x, ops.constant(weights), False, True)


def test_attention_in_a_network_of_matrix_products_is_a_transformer() -> None:
    x = ops.parameter([1, 4, 8], np.float32, name="tokens")
    q, k, v = (_linear(x, 8, seed) for seed in range(3))
    attention = ops.matmul(ops.softmax(ops.matmul(q, k, False, True), -1), v, False, False)
    model = ov.Model([ops.result(_linear(attention, 8, 3))], [x])
    assert is_transformer(model)
    # the same block behind a stack of convolutions (YOLO11's PSA) is not
    image = ops.parameter([1, 8, 4, 4], np.float32, name="image")
    y = image
    for seed in range(6):
        kernel = np.random.default_rng(seed).normal(size=(8, 8, 1, 1)).astype(np.float32)
        y = ops.convolution(y, ops.constant(kernel), [1, 1], [0, 0], [0, 0], [1, 1])
    tokens = ops.reshape(y, ops.constant(np.array([1, 8, 16], np.int64)), False)
    q, k = _linear(tokens, 16, 7), _linear(tokens, 16, 8)
    cnn = ov.Model([ops.result(ops.matmul(q, k, False, True))], [image])
    assert not is_transformer(cnn)


def test_the_fitting_preset_stays_unless_another_is_clearly_faster() -> None:
    assert preferred([0.98, 0.98], [120.7, 115.0]) == 0  # 5% apart at most: noise
    assert preferred([0.98, 0.98], [120.0, 100.0]) == 1
    assert preferred([0.90, 0.98], [100.0, 120.0]) == 1  # the first agrees too little
    assert preferred([0.98, 0.975], [120.0, 100.0]) == 1  # within a point of the best


def _conv_net(channels: int = 8, layers: int = 4) -> ov.Model:
    rng = np.random.default_rng(0)
    x = ops.parameter([1, 3, 16, 16], np.float32, name="image")
    y: ov.Node = x
    inputs = 3
    for _ in range(layers):
        kernel = rng.normal(0, 0.3, size=(channels, inputs, 3, 3)).astype(np.float32)
        bias = rng.normal(0, 0.1, size=(1, channels, 1, 1)).astype(np.float32)
        y = ops.convolution(y, ops.constant(kernel), [1, 1], [1, 1], [1, 1], [1, 1])
        y = ops.swish(ops.add(y, ops.constant(bias)))
        inputs = channels
    return ov.Model([ops.result(y)], [x])


def test_candidates_from_one_statistics_pass_equal_nncf_quantize_for_each() -> None:
    """One pass over the calibration images serves every preset, and gives what a separate
    nncf.quantize per preset gives: the same quantizers, bit for bit the same outputs."""
    import nncf

    model = _conv_net()
    rng = np.random.default_rng(1)
    tensors = [rng.uniform(0, 1, size=(1, 3, 16, 16)).astype(np.float32) for _ in range(6)]
    candidates = [nncf_options(preset, False, [], []) for preset in PRESETS]
    shared = quantized_once(model, tensors, candidates)
    separate = [nncf.quantize(model.clone(), nncf.Dataset(tensors), subset_size=len(tensors), **options)
                for options in candidates]
    probe = rng.uniform(0, 1, size=(1, 3, 16, 16)).astype(np.float32)
    core = ov.Core()
    outputs = []
    for ours, theirs in zip(shared, separate, strict=True):
        def fake_quantizers(m: ov.Model) -> int:
            return sum(op.get_type_name() == "FakeQuantize" for op in m.get_ordered_ops())
        assert fake_quantizers(ours) == fake_quantizers(theirs) > 0
        a = core.compile_model(ours, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})(probe)[0]
        b = core.compile_model(theirs, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})(probe)[0]
        np.testing.assert_array_equal(a, b)
        outputs.append(a)
    assert not np.array_equal(outputs[0], outputs[1])  # the presets did differ
