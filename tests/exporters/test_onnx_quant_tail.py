"""Static INT8 keeps the decoding tail in float; the tail is found from the graph's edges."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from exporters.optimize.onnx_quant import postprocessing_nodes


def _graph(order: list[int]) -> onnx.ModelProto:
    """x → conv1 → relu → conv2 → sigmoid → mul(strides) → y, plus a side branch relu → sub → y2."""
    weight = numpy_helper.from_array(np.ones((1, 1, 1, 1), np.float32), "w")
    strides = numpy_helper.from_array(np.full((1, 1, 1, 1), 8.0, np.float32), "s")
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c1"], name="conv1"),
        helper.make_node("Relu", ["c1"], ["r"], name="relu"),
        helper.make_node("Conv", ["r", "w"], ["c2"], name="conv2"),
        helper.make_node("Sigmoid", ["c2"], ["sg"], name="sigmoid"),
        helper.make_node("Mul", ["sg", "s"], ["y"], name="mul_strides"),
        helper.make_node("Sub", ["r", "s"], ["y2"], name="side_sub"),
    ]
    io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 1, 4, 4]) for n in ("x", "y", "y2")]
    graph = helper.make_graph([nodes[i] for i in order], "g", [io[0]], io[1:], [weight, strides])
    return helper.make_model(graph)


def test_the_tail_is_what_feeds_no_weighted_layer_whatever_the_node_order(tmp_path: Path) -> None:
    expected = {"sigmoid", "mul_strides", "side_sub"}
    for order in ([0, 1, 2, 3, 4, 5], [4, 3, 5, 0, 1, 2], [5, 0, 4, 1, 3, 2]):
        path = tmp_path / "m.onnx"
        onnx.save(_graph(order), str(path))
        assert set(postprocessing_nodes(path)) == expected, order


def test_a_fixed_projection_is_decoding_not_a_learned_layer(tmp_path: Path) -> None:
    """YOLO's DFL: softmax over distance bins, then a 1×1 conv with weights 0..15 (their
    expectation). It and its softmax stay float; the learned conv before them does not."""
    learned = numpy_helper.from_array(np.full((16, 1, 1, 1), 0.5, np.float32), "w")
    bins = numpy_helper.from_array(np.arange(16, dtype=np.float32).reshape(1, 16, 1, 1), "bins")
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="learned_conv"),
        helper.make_node("Softmax", ["c"], ["p"], name="dfl_softmax", axis=1),
        helper.make_node("Conv", ["p", "bins"], ["y"], name="dfl_conv"),
    ]
    graph = helper.make_graph(
        nodes,
        "dfl",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 4, 4])],
        [learned, bins],
    )
    path = tmp_path / "dfl.onnx"
    onnx.save(helper.make_model(graph), str(path))
    assert set(postprocessing_nodes(path)) == {"dfl_softmax", "dfl_conv"}
