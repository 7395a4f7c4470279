"""ONNX → TFLite through onnx2tf, run in its own process (see exporters.tf_convert)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import InternalError, Unsupported
from core.spec import ExportSpec, TFLiteConfig
from exporters.loaders.base import LoadedModel
from exporters.optimize.workspace import QUANTIZATION_WORK

# onnx2tf checks its conversion on sample images and downloads them unless this
# file is in the working directory; it gets real photos from here instead.
ONNX2TF_SAMPLES = "calibration_image_sample_data_20x128x128x3_float32.npy"
_ABSL_LOG = re.compile(r"^[IWEF]\d{4} ")
_ABSL_PREAMBLE = "WARNING: All log messages before absl::InitializeLog()"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_MLIR_ERROR = re.compile(r"(^|\W)error: ")
# onnx2tf's generic advice after every failure (the trace log, parameter replacement, -b/-ois …)
_ONNX2TF_ADVICE = ("ERROR: The trace log", "ERROR: input_onnx_file_path", "ERROR: onnx_op_name",
                   "ERROR: Read this", "ERROR: Alternatively", "ERROR: If the input OP",
                   "ERROR: Also, for models")


def _write_sample_images(folder: Path) -> None:
    import cv2

    from exporters.images import skimage_photos

    photos = [cv2.resize(rgb, (128, 128), interpolation=cv2.INTER_AREA) for _, rgb in skimage_photos()]
    if not photos:
        photos = [np.full((128, 128, 3), 114, dtype=np.uint8)]
    batch = np.stack([photos[i % len(photos)] for i in range(20)]).astype(np.float32) / 255.0
    np.save(folder / ONNX2TF_SAMPLES, batch)


def check_tflite(path: Path) -> None:
    """A converter that 'succeeds' without a loadable file has failed."""
    if not path.is_file() or path.stat().st_size == 0:
        raise InternalError(f"the TFLite converter wrote no model file ({path.name})")
    from ai_edge_litert.interpreter import Interpreter

    try:
        Interpreter(model_path=str(path)).allocate_tensors()
    except (ValueError, RuntimeError) as err:
        raise InternalError(f"the TFLite converter wrote a file LiteRT cannot load: {err}") from err


def converter_words(stderr: str, stdout: str = "", lines: int = 3) -> list[str]:
    """Why the converter failed, in its own words: onnx2tf's first ``ERROR:`` lines (it
    prints them on stdout, coloured), else the last lines of stderr. TensorFlow's absl log
    lines (I0000 …, W0000 …, "WARNING: All log messages before absl::InitializeLog() …") say
    nothing about why it failed."""
    plain = [_ANSI.sub("", line).strip() for line in (stdout + "\n" + stderr).splitlines()]
    errors = [line.removeprefix("ERROR:").strip() for line in plain
              if line.startswith("ERROR:") and not line.startswith(_ONNX2TF_ADVICE)]
    if errors:
        return errors[:lines]
    mlir = [line for line in plain  # TensorFlow's converter: loc(...): error: …
            if _MLIR_ERROR.search(line) and not _ABSL_LOG.match(line)]
    if mlir:
        return mlir[:lines]
    words = [line for line in plain
             if line and not _ABSL_LOG.match(line) and not line.startswith(_ABSL_PREAMBLE)]
    return words[-lines:]


def run_tf_convert(onnx: Path | None, out: Path, supported_ops: list[str], *extra: str) -> Path:
    """``python -m exporters.tf_convert`` in its own process; the checked .tflite it wrote."""
    out.mkdir(parents=True, exist_ok=True)
    if onnx is not None:  # onnx2tf's conversion check reads them; a SavedModel needs none
        _write_sample_images(out)
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "-1"}  # TensorFlow would probe for a GPU
    proc = subprocess.run(
        [sys.executable, "-m", "exporters.tf_convert", str(onnx.resolve() if onnx else "-"),
         str(out.resolve()), "--supported-ops", *supported_ops, *extra],
        cwd=out, env=env, capture_output=True, text=True, check=False,
    )
    sys.stderr.write(proc.stdout + proc.stderr[-20_000:])
    if proc.returncode != 0:
        tail = converter_words(proc.stderr, proc.stdout)
        if proc.returncode < 0 and not tail:
            tail = [f"the converter crashed (signal {-proc.returncode})"]
        raise InternalError(f"TFLite conversion failed (exit {proc.returncode}): " + " | ".join(tail))
    path = out / "model.tflite"
    check_tflite(path)
    return path


# GridSample's modes renamed in opset 20, by their earlier names (the ones onnx2tf knows)
_GRID_SAMPLE_MODES = {b"linear": b"bilinear", b"cubic": b"bicubic"}


def fixed_shapes(model: Any) -> dict[str, list[int]]:
    """Every tensor of the graph whose shape ONNX's shape inference knows in full."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model, data_prop=True).graph
    fixed = {init.name: list(init.dims) for init in inferred.initializer}
    for value in (*inferred.value_info, *inferred.input, *inferred.output):
        tensor = value.type.tensor_type
        if tensor.HasField("shape") and all(d.HasField("dim_value") for d in tensor.shape.dim):
            fixed[value.name] = [d.dim_value for d in tensor.shape.dim]
    return fixed


def fold_fixed_shapes(model: Any, rounds: int = 8) -> tuple[Any, int]:
    """``Shape`` of a tensor whose shape is fixed, replaced by that constant, and the shape
    arithmetic after it folded (onnxslim); how many were replaced.

    Swin's windows, SAM's ViT and Hiera compute reshape targets from ``Shape`` at run
    time; traced at a fixed input size those are constants, but left in the graph they
    reach onnx2tf as unknown dimensions, and its conversion fails ('NoneType' has no
    'shape', or a constant of shape (None,))."""
    import onnxslim
    from onnx import numpy_helper

    replaced = 0
    for _ in range(rounds):
        fixed = fixed_shapes(model)
        before = replaced
        graph = model.graph
        for index, node in reversed(list(enumerate(graph.node))):
            if node.op_type != "Shape" or node.input[0] not in fixed:
                continue
            dims = fixed[node.input[0]]
            bounds = {a.name: a.i for a in node.attribute}  # opset 15's start/end
            value = np.array(dims[bounds.get("start", 0):bounds.get("end", len(dims))], dtype=np.int64)
            graph.initializer.append(numpy_helper.from_array(value, node.output[0]))
            del graph.node[index]
            replaced += 1
        if replaced == before:
            break
        model = onnxslim.slim(model)
    return model, replaced


def cubic_resizes_as_matmuls(model: Any) -> tuple[Any, int]:
    """A bicubic ``Resize`` of a fixed-size NCHW tensor, written as the two matrix products it
    is: ``A_h @ x @ A_w.T``, each matrix ONNX Runtime's own interpolation weights for that axis
    (the node run on unit vectors, so every attribute is honoured). TFLite has no bicubic
    resize (CrossViT scales its input for the second branch); matrix products it has."""
    import onnx
    import onnxruntime as ort
    from onnx import helper, numpy_helper

    fixed = fixed_shapes(model)
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))

    def weights(node: Any, n_in: int, n_out: int) -> np.ndarray:
        """(n_out, n_in): the node's interpolation along one axis, read off unit vectors."""
        sizes = numpy_helper.from_array(np.array([n_in, 1, n_out, 1], dtype=np.int64), "sizes")
        probe = helper.make_node("Resize", ["x", "", "", "sizes"], ["y"])
        probe.attribute.extend(node.attribute)
        x = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [n_in, 1, n_in, 1])
        y = helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)
        probe_model = helper.make_model(helper.make_graph([probe], "axis", [x], [y], [sizes]),
                                        opset_imports=[helper.make_opsetid("", opset)])
        session = ort.InferenceSession(probe_model.SerializeToString(), providers=["CPUExecutionProvider"])
        unit = np.eye(n_in, dtype=np.float32).reshape(n_in, 1, n_in, 1)
        return np.asarray(session.run(None, {"x": unit})[0]).reshape(n_in, n_out).T.copy()

    graph, rewritten = model.graph, 0
    for index, node in reversed(list(enumerate(graph.node))):
        mode = next((a.s for a in node.attribute if a.name == "mode"), b"nearest")
        shape_in, shape_out = fixed.get(node.input[0]), fixed.get(node.output[0])
        if (node.op_type != "Resize" or mode != b"cubic" or shape_in is None or shape_out is None
                or len(shape_in) != 4 or shape_in[:2] != shape_out[:2]):
            continue
        rows = numpy_helper.from_array(weights(node, shape_in[2], shape_out[2]), f"{node.name}/rows")
        cols = numpy_helper.from_array(weights(node, shape_in[3], shape_out[3]).T.copy(), f"{node.name}/cols")
        graph.initializer.extend([rows, cols])
        middle = f"{node.output[0]}__rows_resized"
        del graph.node[index]
        graph.node.insert(index, helper.make_node("MatMul", [middle, cols.name], list(node.output),
                                                  name=f"{node.name}/cols"))
        graph.node.insert(index, helper.make_node("MatMul", [rows.name, node.input[0]], [middle],
                                                  name=f"{node.name}/rows"))
        rewritten += 1
    return model, rewritten


def _for_onnx2tf(source: Path, work: Path) -> Path:
    """The ONNX graph in forms onnx2tf converts: run-time shape arithmetic on fixed shapes
    folded (:func:`fold_fixed_shapes`); bicubic resizes as matrix products
    (:func:`cubic_resizes_as_matmuls`); ``ReduceL2`` over several axes (ConvNeXt V2's
    global response norm) trips its TensorFlow call, so it becomes ``Sqrt(ReduceSumSquare)``,
    the same computation; GridSample's 2-D ``linear`` mode (opset 20's name, RT-DETR's and
    D-FINE's deformable attention) is written by its earlier name ``bilinear``, the only one
    onnx2tf reads. The source file is left as it was."""
    import onnx
    from onnx import helper

    model = onnx.load(str(source))
    model, rewritten = fold_fixed_shapes(model)
    model, resized = cubic_resizes_as_matmuls(model)
    rewritten += resized
    graph = model.graph
    for node in (n for n in graph.node if n.op_type == "GridSample"):
        for attribute in node.attribute:
            if attribute.name == "mode" and attribute.s in _GRID_SAMPLE_MODES:
                attribute.s = _GRID_SAMPLE_MODES[attribute.s]
                rewritten += 1
    for index, node in reversed(list(enumerate(graph.node))):
        if node.op_type != "ReduceL2" or node.domain not in ("", "ai.onnx"):
            continue
        squares = f"{node.output[0]}__sum_of_squares"
        summed = helper.make_node("ReduceSumSquare", list(node.input), [squares], name=f"{node.name}/sum_sq")
        summed.attribute.extend(node.attribute)
        root = helper.make_node("Sqrt", [squares], list(node.output), name=f"{node.name}/sqrt")
        del graph.node[index]
        graph.node.insert(index, root)
        graph.node.insert(index, summed)
        rewritten += 1
    if not rewritten:
        return source
    target = work / "tflite_source.onnx"
    onnx.save(model, str(target))
    return target


# ONNX operations (and the attribute that decides) TFLite has no builtin for: TensorFlow's
# converter fails on them after minutes, unless SELECT_TF_OPS lets it keep TensorFlow's op
_NOT_BUILTIN = {("Resize", "mode", b"cubic"): "a bicubic resize (TensorFlow's ResizeBicubic)"}


def refuse_unconvertible(source: Path, supported_ops: list[str]) -> None:
    """An operation that TFLite's builtins cannot express is refused (exit 3) before the
    conversion, naming the op set that has it."""
    import onnx

    if "SELECT_TF_OPS" in supported_ops:
        return
    for node in onnx.load(str(source), load_external_data=False).graph.node:
        for attribute in node.attribute:
            what = _NOT_BUILTIN.get((node.op_type, attribute.name, attribute.s))
            if what:
                raise Unsupported(f"TFLite: the graph has {what} at {node.name or node.op_type}, which is "
                                  "not a TFLite builtin: export with --supported-ops TFLITE_BUILTINS "
                                  "SELECT_TF_OPS (export_config.supported_ops), or to another format")


def onnx2tflite(model: LoadedModel, spec: ExportSpec, source: Path | None, work: Path) -> Path:
    cfg = spec.export_config
    assert isinstance(cfg, TFLiteConfig) and source is not None
    prepared = _for_onnx2tf(source, work)
    refuse_unconvertible(prepared, list(cfg.supported_ops))
    out = work / "tflite"
    path = run_tf_convert(prepared, out, list(cfg.supported_ops))
    if spec.optimization_config.quantization is not None:  # the quantizer converts it again
        keep = work.parent / QUANTIZATION_WORK / "saved_model"
        keep.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(out / "saved_model"), str(keep))
    return path
