"""The ONNX rewrite for narrower importers changes forms, never values (checked on ONNX Runtime)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from exporters.steps.onnx_compat import make_portable

ANCHORS = 21


def save(path: Path, nodes: list[onnx.NodeProto], inputs: dict[str, list[int]],
         outputs: dict[str, list[int]], constants: dict[str, np.ndarray], opset: int = 17) -> Path:
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, shape) for name, shape in inputs.items()],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, shape) for name, shape in outputs.items()],
        initializer=[numpy_helper.from_array(value, name) for name, value in constants.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def run(path: Path, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return [np.asarray(out) for out in session.run(None, feeds)]


def yolo_like(path: Path) -> Path:
    """An unequal Split with its sizes as an input, then boxes (1, 4, A) times strides (1, A)."""
    rng = np.random.default_rng(0)
    nodes = [
        helper.make_node("Split", ["x", "sizes"], ["q", "k", "v"], axis=2, name="attn/Split"),
        helper.make_node("Mul", ["boxes", "strides"], ["scaled"], name="Mul_2"),
        helper.make_node("Sub", ["anchors", "boxes"], ["moved"], name="Sub"),
        helper.make_node("Mul", ["boxes", "channel_scale"], ["per_channel"], name="Mul_channel"),
        helper.make_node("Add", ["boxes", "half"], ["shifted"], name="Add_scalar"),
    ]
    constants: dict[str, np.ndarray] = {
        "sizes": np.array([2, 2, 4], np.int64),
        "strides": rng.choice([8.0, 16.0, 32.0], size=(1, ANCHORS)).astype(np.float32),
        "anchors": rng.random((1, 1, ANCHORS), dtype=np.float32),
        "channel_scale": rng.random((1, 4, 1), dtype=np.float32),
        "half": np.array(0.5, np.float32),
    }
    return save(path, nodes, {"x": [1, 3, 8, 5], "boxes": [1, 4, ANCHORS]},
                {"q": [1, 3, 2, 5], "k": [1, 3, 2, 5], "v": [1, 3, 4, 5],
                 **{name: [1, 4, ANCHORS] for name in ("scaled", "moved", "per_channel", "shifted")}},
                constants)


def test_rewrite_keeps_every_output_and_removes_what_opencv_cannot_read(tmp_path: Path) -> None:
    original = yolo_like(tmp_path / "original.onnx")
    rewritten = tmp_path / "rewritten.onnx"
    rewritten.write_bytes(original.read_bytes())
    changed = make_portable(rewritten)
    assert changed == {"split": 1, "broadcast": 2}  # the strides Mul and the (1, 1, A)-vs-(1, 4, A) Sub

    rng = np.random.default_rng(1)
    feeds = {"x": rng.standard_normal((1, 3, 8, 5), dtype=np.float32),
             "boxes": rng.standard_normal((1, 4, ANCHORS), dtype=np.float32)}
    before, after = run(original, feeds), run(rewritten, feeds)
    assert [a.shape for a in after] == [b.shape for b in before]
    for a, b in zip(after, before, strict=True):
        assert np.array_equal(a, b)  # copies and tiled constants: bit for bit the same

    model = onnx.load(str(rewritten))
    ops = {node.name: node.op_type for node in model.graph.node}
    assert "Split" not in ops.values() and list(ops.values()).count("Slice") == 3
    inits = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    by_name = {node.name: node for node in model.graph.node}
    assert inits[by_name["Mul_2"].input[1]].shape == (1, 4, ANCHORS)
    assert inits[by_name["Sub"].input[0]].shape == (1, 4, ANCHORS)  # a constant first input too
    # per-channel and scalar constants are what OpenCV reads already: untouched
    assert by_name["Mul_channel"].input[1] == "channel_scale" and by_name["Add_scalar"].input[1] == "half"
    assert "strides" not in inits and "sizes" not in inits  # replaced, nothing else read them


def test_graphs_without_such_forms_are_left_byte_for_byte(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Split", ["x", "sizes"], ["a", "b"], axis=1),  # equal parts: OpenCV reads it
        helper.make_node("Mul", ["a", "scale"], ["y"]),
    ]
    path = save(tmp_path / "m.onnx", nodes, {"x": [1, 4, 6]}, {"y": [1, 2, 6], "b": [1, 2, 6]},
                {"sizes": np.array([2, 2], np.int64), "scale": np.ones((1, 2, 1), np.float32)})
    before = path.read_bytes()
    assert make_portable(path) == {"split": 0, "broadcast": 0}
    assert path.read_bytes() == before


def test_a_constant_that_would_grow_too_much_is_left_alone(tmp_path: Path) -> None:
    # a layer-norm weight over 197 tokens: tiling it would copy it 197 times
    nodes = [helper.make_node("Mul", ["x", "gamma"], ["y"])]
    path = save(tmp_path / "ln.onnx", nodes, {"x": [1, 197, 32]}, {"y": [1, 197, 32]},
                {"gamma": np.linspace(0.5, 1.5, 32, dtype=np.float32)})
    assert make_portable(path) == {"split": 0, "broadcast": 0}
