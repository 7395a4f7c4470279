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
