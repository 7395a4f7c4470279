"""A TFLite converter that 'succeeds' without writing a loadable model is a failed export."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import InternalError
from exporters.steps.tflite import check_tflite


def test_missing_empty_or_garbage_tflite_files_fail(tmp_path: Path) -> None:
    with pytest.raises(InternalError, match="wrote no model file"):
        check_tflite(tmp_path / "model.tflite")
    empty = tmp_path / "empty.tflite"
    empty.write_bytes(b"")
    with pytest.raises(InternalError, match="wrote no model file"):
        check_tflite(empty)
    garbage = tmp_path / "garbage.tflite"
    garbage.write_bytes(b"TFL3" + bytes(200))
    with pytest.raises(InternalError, match="cannot load"):
        check_tflite(garbage)


def test_reduce_l2_over_several_axes_becomes_an_equal_sum_of_squares(tmp_path: Path) -> None:
    """onnx2tf fails on ReduceL2 over two axes (ConvNeXt V2's global response norm); the graph
    it is given computes the same with Sqrt(ReduceSumSquare)."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from exporters.steps.tflite import _for_onnx2tf

    axes = helper.make_tensor("axes", TensorProto.INT64, [2], [1, 2])
    graph = helper.make_graph(
        [helper.make_node("ReduceL2", ["x", "axes"], ["y"], keepdims=1)], "grn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 5, 6, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 1, 3])], [axes])
    source = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(source))
    rewritten = _for_onnx2tf(source, tmp_path)
    assert rewritten != source
    assert "ReduceL2" not in {n.op_type for n in onnx.load(str(rewritten)).graph.node}
    x = np.random.default_rng(0).normal(size=(1, 5, 6, 3)).astype(np.float32)
    before = ort.InferenceSession(str(source)).run(None, {"x": x})[0]
    after = ort.InferenceSession(str(rewritten)).run(None, {"x": x})[0]
    np.testing.assert_allclose(after, before, rtol=1e-6)


def test_shape_arithmetic_on_a_fixed_size_graph_is_folded_to_constants(tmp_path: Path) -> None:
    """Swin's window partition computes its reshape target from Shape at run time; onnx2tf
    sees unknown dimensions there and fails. Traced at a fixed size, the target is a
    constant: the graph it is given has no Shape left and computes the same."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from exporters.steps.tflite import _for_onnx2tf

    ints = lambda name, values: helper.make_tensor(name, TensorProto.INT64, [len(values)], values)  # noqa: E731
    nodes = [  # y = x.reshape(x.shape[0] * x.shape[1] // 4, 4, x.shape[2])
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Gather", ["shape", "i0"], ["d0"], axis=0),
        helper.make_node("Gather", ["shape", "i1"], ["d1"], axis=0),
        helper.make_node("Gather", ["shape", "i2"], ["d2"], axis=0),
        helper.make_node("Mul", ["d0", "d1"], ["n"]),
        helper.make_node("Div", ["n", "four"], ["windows"]),
        helper.make_node("Concat", ["windows", "four", "d2"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "windows", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [ints("i0", [0]), ints("i1", [1]), ints("i2", [2]), ints("four", [4])])
    source = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(source))
    rewritten = _for_onnx2tf(source, tmp_path)
    assert rewritten != source
    assert "Shape" not in {n.op_type for n in onnx.load(str(rewritten)).graph.node}
    x = np.random.default_rng(0).normal(size=(2, 8, 3)).astype(np.float32)
    before = ort.InferenceSession(str(source)).run(None, {"x": x})[0]
    after = ort.InferenceSession(str(rewritten)).run(None, {"x": x})[0]
    assert after.shape == before.shape == (4, 4, 3)
    np.testing.assert_array_equal(after, before)


def test_a_failed_conversion_reports_the_converters_words_not_tensorflows_log() -> None:
    """RT-DETR's failed conversion was reported as 'I0000 00:00:17960… cudart_stub.cc:31] …'."""
    from exporters.steps.tflite import converter_words

    stderr = ("ValueError: 'axis' must be None, an integer, or a tuple of 2 unique integers\n"
              "  • keepdims=True\n\n"
              "I0000 00:00:1796063689.012128 19447 cudart_stub.cc:31] Could not find cuda drivers\n"
              "W0000 00:00:1796063689.5 19447 gpu_device.cc:2342] Cannot dlopen some GPU libraries.\n")
    assert converter_words(stderr) == ["ValueError: 'axis' must be None, an integer, or a tuple of 2 unique "
                                       "integers", "• keepdims=True"]


def test_onnx2tf_errors_on_stdout_are_the_reason_given() -> None:
    """onnx2tf prints its error, coloured, on stdout, then generic advice; stderr held only
    TensorFlow's 'WARNING: All log messages before absl::InitializeLog()' (RT-DETR, D-FINE)."""
    from exporters.steps.tflite import converter_words

    stdout = ("\x1b[32mINFO:\x1b[0m onnx_op_type: GridSample\n"
              "\x1b[31mERROR:\x1b[0m The current implementation of GridSample supports only "
              "mode=['bilinear']. Pull requests are welcome. \n"
              "\x1b[31mERROR:\x1b[0m The trace log is below.\n"
              "\x1b[31mERROR:\x1b[0m onnx_op_name: wa/inner/model/GridSample\n"
              "\x1b[31mERROR:\x1b[0m Read this and deal with it.\n")
    stderr = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n" * 2
    assert converter_words(stderr, stdout) == [
        "The current implementation of GridSample supports only mode=['bilinear']. "
        "Pull requests are welcome."]
    assert converter_words(stderr) == []  # nothing but the preamble: no words to give


def test_tensorflows_converter_error_is_the_reason_not_its_mlir_dump() -> None:
    """TensorFlow's converter says why first, then dumps the module; the dump's last lines
    ('tfl.fully_connected' …, 'func.return' …) are not the reason."""
    from exporters.steps.tflite import converter_words

    stderr = ("loc(fused[\"Erf:\", \"model/erf\"]): error: 'tf.Erf' op is neither a custom op nor a flex op\n"
              "error: failed while converting: 'main'\n"
              "%672 = \"tfl.fully_connected\"(%671, %17, %16) : (tensor<1x768xf32>) -> tensor<1x1000xf32>\n"
              "\"func.return\"(%672) : (tensor<1x1000xf32>) -> ()\n")
    assert converter_words(stderr) == [
        "loc(fused[\"Erf:\", \"model/erf\"]): error: 'tf.Erf' op is neither a custom op nor a flex op",
        "error: failed while converting: 'main'"]


def test_grid_sample_linear_is_given_to_onnx2tf_by_its_earlier_name(tmp_path: Path) -> None:
    """Opset 20 renamed GridSample's 2-D bilinear mode 'linear'; onnx2tf reads only 'bilinear'."""
    import onnx
    from onnx import TensorProto, helper

    from exporters.steps.tflite import _for_onnx2tf

    graph = helper.make_graph(
        [helper.make_node("GridSample", ["x", "grid"], ["y"], mode="linear", align_corners=0)], "deformable",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4]),
         helper.make_tensor_value_info("grid", TensorProto.FLOAT, [1, 3, 3, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 3, 3])])
    source = tmp_path / "g.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)]), str(source))
    rewritten = _for_onnx2tf(source, tmp_path)
    modes = [a.s for n in onnx.load(str(rewritten)).graph.node for a in n.attribute if a.name == "mode"]
    assert modes == [b"bilinear"]
    assert [a.s for a in onnx.load(str(source)).graph.node[0].attribute if a.name == "mode"] == [b"linear"]


def test_a_fixed_size_bicubic_resize_becomes_matrix_products_and_an_unknown_one_is_refused(
        tmp_path: Path) -> None:
    """CrossViT resizes its input bicubically for its second branch; TFLite has no bicubic
    resize (TensorFlow's converter failed on 'tf.ResizeBicubic' after minutes). At a fixed size
    it is two matrix products with ONNX Runtime's own weights: the same numbers. One whose
    size is not known is refused up front, naming the op set that has it."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from core.errors import Unsupported
    from exporters.steps.tflite import _for_onnx2tf, refuse_unconvertible

    def cubic(name: str, size: list[int | str], out: list[int | str]) -> Path:
        scales = helper.make_tensor("scales", TensorProto.FLOAT, [4], [1, 1, 0.75, 1.5])
        graph = helper.make_graph(
            [helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="cubic", cubic_coeff_a=-0.75,
                              coordinate_transformation_mode="half_pixel", name="/patch_embed/Resize")],
            "branch", [helper.make_tensor_value_info("x", TensorProto.FLOAT, size)],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, out)], [scales])
        path = tmp_path / name
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
        return path

    fixed = cubic("fixed.onnx", [1, 3, 8, 8], [1, 3, 6, 12])
    prepared = _for_onnx2tf(fixed, tmp_path)
    assert "Resize" not in {n.op_type for n in onnx.load(str(prepared)).graph.node}
    refuse_unconvertible(prepared, ["TFLITE_BUILTINS"])  # nothing left to refuse
    x = np.random.default_rng(0).normal(size=(1, 3, 8, 8)).astype(np.float32)
    before = ort.InferenceSession(str(fixed)).run(None, {"x": x})[0]
    after = ort.InferenceSession(str(prepared)).run(None, {"x": x})[0]
    assert after.shape == before.shape == (1, 3, 6, 12)
    np.testing.assert_allclose(after, before, atol=1e-5)

    unknown = _for_onnx2tf(cubic("unknown.onnx", ["n", 3, "h", "w"], ["n", 3, "H", "W"]), tmp_path)
    with pytest.raises(Unsupported, match=r"bicubic resize.*/patch_embed/Resize.*SELECT_TF_OPS"):
        refuse_unconvertible(unknown, ["TFLITE_BUILTINS"])
    refuse_unconvertible(unknown, ["TFLITE_BUILTINS", "SELECT_TF_OPS"])  # TensorFlow's op is allowed


@pytest.mark.slow
def test_an_erf_outside_a_gelu_converts_to_builtins_and_stays_exact(tmp_path: Path) -> None:
    """TFLite has no Erf builtin; onnx2tf only rewrites the Erf of the GELU pattern it knows.
    Any other Erf becomes its polynomial form, within 1.5e-7 of the real one."""
    import math

    import numpy as np
    import onnx
    from ai_edge_litert.interpreter import Interpreter
    from onnx import TensorProto, helper

    from exporters.steps.tflite import run_tf_convert

    graph = helper.make_graph(
        [helper.make_node("Erf", ["x"], ["e"]), helper.make_node("Mul", ["e", "x"], ["y"])], "erf",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 4, 4])])
    source = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(source))
    path = run_tf_convert(source, tmp_path / "out", ["TFLITE_BUILTINS"])
    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    given, taken = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    x = np.random.default_rng(0).normal(scale=2.0, size=(1, 3, 4, 4)).astype(np.float32)
    interpreter.set_tensor(given["index"], x.transpose(0, 2, 3, 1))  # onnx2tf's NHWC input
    interpreter.invoke()
    got = interpreter.get_tensor(taken["index"])
    expected = np.vectorize(math.erf)(x.astype(np.float64)) * x
    np.testing.assert_allclose(got.transpose(0, 3, 1, 2), expected, atol=1e-6)
