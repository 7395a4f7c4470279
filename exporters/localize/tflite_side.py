"""TFLite's side of a per-layer comparison: module paths carried through onnx2tf into the
.tflite's tensor names, and an interpreter run that keeps every intermediate tensor.

onnx2tf names its Keras layers after the TensorFlow functions it calls
(``tf.nn.convolution_1``): the ONNX scopes that carry the module paths are lost. So the
conversion (``exporters.tf_convert``, in TensorFlow's own process) renames the layer that
computes each ONNX node's first output to ``slipway>INDEX>SCOPE`` (:func:`layer_names`),
INDEX the node's position in the ONNX graph, SCOPE its name with ``>`` for ``/``. TFLite
writes a fused operator's output as all its parts' names joined by ``;``
(``model/slipway>3>block>block.2>Relu/Relu;model/slipway>2>block>block.0>Conv/Add;…``):
the tensor is the output of the part that comes last in the ONNX graph, the other named
parts were fused into its operator. A tensor with no such part (an operator onnx2tf or
the converter added, a graph output named by the signature) belongs to no module.

Layouts: onnx2tf computes 4-D activations channels-last. A tensor's layout relative to
the original's is followed from the input and from the operators that are channels-last
by definition (convolutions, pooling, resizes) through the operators that keep it
(element-wise, padding, concatenation, slicing, reductions that keep the rank); tensors
of rank 2 or less are in the original's layout. After a transpose or a reshape, a tensor
of rank 3 or more has no known layout, and its module is left unmatched, with that reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from exporters.localize.graph_side import GraphTaps, Scopes, last_in_scope, module_path

MARK = "slipway>"
_PART = re.compile(r"(?:^|/)" + re.escape(MARK) + r"(\d+)>([^/;]*)")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-/]")  # TensorFlow's name scopes allow no more

# operators whose 4-D output is channels-last whatever their input (onnx2tf maps NCHW ones to them)
_CHANNELS_LAST = {"CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "MAX_POOL_2D", "AVERAGE_POOL_2D",
                  "L2_POOL_2D", "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "SPACE_TO_DEPTH",
                  "DEPTH_TO_SPACE"}
# operators whose output has their input's layout when the rank is kept
_KEEPS_LAYOUT = {"ADD", "SUB", "MUL", "DIV", "MAXIMUM", "MINIMUM", "POW", "SQUARED_DIFFERENCE",
                 "LOGISTIC", "RELU", "RELU6", "RELU_N1_TO_1", "RELU_0_TO_1", "TANH", "HARD_SWISH",
                 "LEAKY_RELU", "PRELU", "ELU", "GELU", "EXP", "LOG", "SQRT", "RSQRT", "SQUARE", "ABS",
                 "NEG", "SIN", "COS", "FLOOR", "CEIL", "ROUND", "SIGN", "CAST", "QUANTIZE", "DEQUANTIZE",
                 "PAD", "PADV2", "MIRROR_PAD", "CONCATENATION", "SPLIT", "SPLIT_V", "SLICE",
                 "STRIDED_SLICE", "MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD", "SELECT",
                 "SELECT_V2", "ADD_N", "LOCAL_RESPONSE_NORMALIZATION", "BROADCAST_TO", "TILE"}
NO_NAME = ("no operator named after it in the TFLite graph (TFLite names graph outputs after the "
           "signature; only a single one, returned by one module as it is, is placed)")
OVERRUN = ("TFLite fused the operations after it (parts of no module's own, such as a scale) into its "
           "operator, so its output is not in the graph")
NO_LAYOUT = "its tensor in the TFLite graph comes after a transpose or reshape, so its layout is not known"


def layer_names(nodes: Iterable[tuple[str, list[str]]]) -> dict[str, str]:
    """For onnx2tf's layers: ONNX node (name, outputs) in graph order → {the key onnx2tf
    files the node's first output under: the layer name that carries the node's scope}.
    onnx2tf writes ``:`` as ``__`` and, for signatures, a leading ``/`` as ``wa/``."""
    names: dict[str, str] = {}
    for index, (name, outputs) in enumerate(nodes):
        if not name.startswith("/") or not outputs or not outputs[0]:
            continue
        scope = _UNSAFE.sub("_", name).lstrip("/").replace("/", ">")
        key = outputs[0].replace(":", "__")
        names[key] = names[re.sub("^/", "wa/", key)] = f"{MARK}{index}>{scope}"
    return names


def name_layers(layers: dict[str, Any], names: dict[str, str]) -> int:
    """Rename onnx2tf's layers (its ``tf_layers_dict``: ONNX tensor → {'tf_node': …}) after
    the ONNX nodes that own them; a layer claimed by several nodes (an operation TensorFlow
    needs no layer for passes its input's on) keeps the first. Returns how many were named."""
    seen: set[int] = set()
    for key, entry in layers.items():
        layer = getattr(getattr(entry.get("tf_node") if isinstance(entry, dict) else None, "node", None),
                        "layer", None)
        if layer is None or key not in names or id(layer) in seen:
            continue
        seen.add(id(layer))
        layer._name = names[key]
    return len(seen)


def scope(tensor_name: str) -> tuple[str | None, list[str], bool]:
    """(the ONNX node a TFLite tensor is the output of, the nodes fused into its operator,
    whether operations of no node come after them). TFLite lists a fused operator's parts
    from the last computed; an operation part without a node's name before the first named
    one (onnx2tf's decomposition of the next node, folded in by the converter, as a hard
    sigmoid's scale folded into the convolution before it) means the tensor is not that
    node's output. Parts without ``/`` are constants."""
    operations = [part for part in tensor_name.split(";") if "/" in part]
    named = [i for i, part in enumerate(operations) if _PART.search(part)]
    parts = sorted(((int(i), "/" + s.replace(">", "/")) for i, s in _PART.findall(tensor_name)), reverse=True)
    if not parts:
        return None, [], False
    return parts[0][1], [name for _, name in parts[1:]], named[0] > 0


Perm = tuple[int, ...]


def _layout(kind: str, inputs: list[Perm | None], rank: int, in_ranks: list[int]) -> Perm | None:
    """The output's permutation of the original's axes, from the operator and its inputs'."""
    if rank <= 2:
        return tuple(range(rank))
    if kind in _CHANNELS_LAST and rank == 4:
        return (0, 2, 3, 1)
    if kind in _KEEPS_LAYOUT:
        known = {p for p, r in zip(inputs, in_ranks, strict=True) if p is not None and r == rank}
        if len(known) == 1:
            return known.pop()
    return None


def tflite_taps(path: Path, modules: set[str], shared: set[str], input_perm: tuple[int, ...],
                returns: str | None = None, threads: int = 2) -> GraphTaps:
    """The modules' tensors read from LiteRT's reference kernels with every tensor kept
    (XNNPACK would compute fused partitions without writing their insides back), turned
    back to the original's layout and dequantized when the graph is integer."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(model_path=str(path), num_threads=threads,
                              experimental_preserve_all_tensors=True,
                              experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter.allocate_tensors()
    details = {t["index"]: t for t in interpreter.get_tensor_details()}
    source = interpreter.get_input_details()[0]["index"]
    outputs = [int(o["index"]) for o in interpreter.get_output_details()]
    # the graph's output is named after the signature; with one output, and the original
    # returning one module's tensor as it is, that module computed it
    final = {outputs[0]: "/" + returns.replace(".", "/") + "/output"} if returns and len(outputs) == 1 else {}
    layouts: dict[int, tuple[int, ...] | None] = {source: input_perm}
    ops, fused_parts, overrun = [], {}, []
    for op in interpreter._get_ops_details():
        if op["op_name"] == "DELEGATE":
            continue
        inputs = [int(i) for i in op["inputs"] if i >= 0]
        computed = [i for i in inputs if i in layouts]
        for out in (int(o) for o in op["outputs"]):
            tensor = details[out]
            layouts[out] = _layout(op["op_name"], [layouts[i] for i in computed], len(tensor["shape"]),
                                   [len(details[i]["shape"]) for i in computed])
            if not _is_activation(tensor):
                continue
            node, fused, followed = scope(tensor["name"])
            if node is None and out in final:
                node = final[out]
            if followed and node is not None:
                overrun.append(node)
                node, fused = None, []
            ops.append((node or f"#{out}", str(out), [str(i) for i in computed], op["op_name"]))
            fused_parts[str(out)] = fused
    scopes = last_in_scope(ops, modules, shared, inherit=False)
    scopes.no_operator = NO_NAME
    for node in overrun:
        module = module_path(node, modules)
        if module and module not in scopes.tensors:
            scopes.reasons[module] = OVERRUN
    _drop_unknown_layouts(scopes, {str(k): v for k, v in layouts.items()})
    scopes.fused = {tensor: [m for m in (module_path(n, modules) for n in fused_parts[tensor]) if m]
                    for tensor in set(scopes.tensors.values())}
    wanted = sorted({int(t) for t in scopes.tensors.values()})

    def run(batch: np.ndarray) -> dict[str, np.ndarray]:
        interpreter.set_tensor(source, np.ascontiguousarray(batch, dtype=details[source]["dtype"]))
        interpreter.invoke()
        taken = {}
        for index in wanted:
            value = _dequantized(interpreter.get_tensor(index), details[index])
            perm = layouts[index]
            taken[str(index)] = value if perm is None else value.transpose(np.argsort(perm))
        return taken

    return GraphTaps(scopes, run)


def _is_activation(tensor: dict[str, Any]) -> bool:
    """A floating-point tensor, or an integer one with a scale (an INT8 graph's activations)."""
    if np.issubdtype(tensor["dtype"], np.floating):
        return True
    scales = tensor.get("quantization_parameters", {}).get("scales")
    return scales is not None and len(scales) > 0


def _dequantized(value: np.ndarray, tensor: dict[str, Any]) -> np.ndarray:
    if np.issubdtype(value.dtype, np.floating):
        return value.copy()
    params = tensor["quantization_parameters"]
    scale, zero = float(params["scales"][0]), int(params["zero_points"][0])
    return (value.astype(np.float32) - zero) * scale


def _drop_unknown_layouts(scopes: Scopes, layouts: dict[str, tuple[int, ...] | None]) -> None:
    """A module whose tensor has no known layout is not compared: reshaping it to the
    original's shape would compare numbers that do not correspond."""
    for module, tensor in list(scopes.tensors.items()):
        if tensor in layouts and layouts[tensor] is None:
            del scopes.tensors[module]
            scopes.reasons[module] = NO_LAYOUT
