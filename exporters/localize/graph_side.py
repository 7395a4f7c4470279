"""The exported model's side of a per-layer comparison: which graph tensor is each PyTorch
module's output, and a run that returns those tensors.

The exporters keep the module path in the names they write: torch.onnx names a node by
its module scopes (``/layer1/layer1.0/conv1/Conv``, ``/model.23/cv2.0/cv2.0.0/conv/Conv``);
OpenVINO keeps those as tensor names when it reads ONNX, and its PyTorch frontend names
operations ``__module.model.0.conv/aten::_convolution/…``. A module's output is the
output of the last operation (in graph order) inside its scope. Names that do not resolve
to a module of the original are left out: nothing is matched by guess.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

_PYTORCH_FRONTEND = re.compile(r"__module\.([^/]+)")


def module_path(name: str, modules: set[str]) -> str | None:
    """The deepest module of the original that an operation's or tensor's name places it in."""
    found = _PYTORCH_FRONTEND.match(name)
    if found:
        path = found.group(1)
        while path and path not in modules:
            path = path.rpartition(".")[0]
        return path or None
    if not name.startswith("/"):
        return None
    path = ""
    for component in name.split("/")[1:-1]:
        # torch.onnx writes a scope as the attribute name ("conv1") or qualified by its
        # parent's name for sequence items ("layer1.0" inside "layer1")
        candidates = [f"{path}.{component}" if path else component]
        if path and "." in component:
            candidates.append(f"{path}.{component.rpartition('.')[2]}")
        step = next((c for c in candidates if c in modules), None)
        if step is None:
            break
        path = step
    return path or None


@dataclass
class Scopes:
    """What the names say about the graph: each module's last tensor, the operation types in
    each module's scope, the tensors an operation of unknown place consumes, the modules a
    runtime fused into the operator that writes a tensor (TFLite), and why a module named in
    the graph cannot be compared after all."""

    tensors: dict[str, str] = field(default_factory=dict)
    op_types: dict[str, set[str]] = field(default_factory=dict)
    feeds_unknown: set[str] = field(default_factory=set)
    fused: dict[str, list[str]] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)
    no_operator: str = "no operator of its own in the exported graph"


_UNKNOWN = "?"  # the scope of an operation of a shared module named by one of its call sites


def last_in_scope(ops: Iterable[tuple[str, str, list[str], str]], modules: set[str],
                  shared: set[str] | None = None, inherit: bool = True) -> Scopes:
    """Each module's output: that of the last operation (in graph order) in its scope or its
    sub-modules', from (operation name, output, inputs, type). An operation whose name places
    it nowhere (a runtime's decomposition of a named one, or one renamed after a graph output)
    belongs to the scope of its only computed input, if it has one. OpenVINO's PyTorch
    frontend names every call of a shared module (Ultralytics' one SiLU) after one call site:
    such an operation's place is unknown, and a module whose tensor feeds one cannot be sure
    that tensor is its output. With ``inherit`` off (TFLite, where an unnamed operator is as
    likely the next node's padding as this one's tail) an unnamed operation belongs nowhere."""
    found = Scopes()
    scope_of: dict[str, str | None] = {}
    for op_name, output, inputs, op_type in ops:
        path = module_path(op_name, modules)
        if path is not None and _PYTORCH_FRONTEND.match(op_name) and _within(path, shared or set()):
            path = _UNKNOWN
        computed = [i for i in inputs if i in scope_of]  # constants and the graph input are not
        if path is None and not computed:
            continue  # a computation on constants (folded at compile time) or on the raw input
        if path is None and len(computed) == 1 and inherit:
            path = scope_of[computed[0]]
        scope_of[output] = path
        if path == _UNKNOWN:
            found.feeds_unknown.update(computed)
            continue
        while path:
            found.tensors[path] = output
            found.op_types.setdefault(path, set()).add(op_type)
            path = path.rpartition(".")[0]
    return found


def _within(path: str, modules: set[str]) -> bool:
    return any(path == m or path.startswith(f"{m}.") for m in modules)


@dataclass
class GraphTaps:
    """The module outputs a graph exposes, and how to run it for them."""

    scopes: Scopes
    run: Callable[[np.ndarray], dict[str, np.ndarray]] = field(repr=False)
    no_match_reason: str | None = None  # why nothing could match, when the graph itself says so

    @property
    def tensors(self) -> dict[str, str]:  # module path → tensor name in the graph
        return self.scopes.tensors


# operators of quantized ONNX graphs whose outputs are integers (besides the QLinear* ones)
INTEGER_OUTPUT_OPS = frozenset({"QuantizeLinear", "DynamicQuantizeLinear", "MatMulInteger", "ConvInteger"})


def onnx_taps(path: Path, modules: set[str], shared: set[str], scratch: Path, threads: int = 2) -> GraphTaps:
    """ONNX: the modules' tensors made graph outputs of a scratch copy, run by ONNX Runtime."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(path))
    graph = model.graph
    inferred = onnx.shape_inference.infer_shapes(model)
    types = {v.name: v.type.tensor_type.elem_type for v in inferred.graph.value_info}
    floats = (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16)

    def computes_floats(node: Any) -> bool:
        """Activations only: shape arithmetic (Shape, Gather of dims …) is no module's output,
        and neither is an integer tensor of a quantized graph (QLinearConv's uint8 output).
        Where shape inference gave no type (after an operator it does not know), the
        operator says: the quantized ones compute integers, the others floats."""
        known = types.get(node.output[0], onnx.TensorProto.UNDEFINED)
        if known != onnx.TensorProto.UNDEFINED:
            return known in floats
        return not (node.op_type.startswith("QLinear") or node.op_type in INTEGER_OUTPUT_OPS)

    ops = [(node.name, node.output[0], list(node.input), node.op_type) for node in graph.node
           if node.output and node.op_type not in ("Constant", "Identity") and computes_floats(node)]
    scopes = last_in_scope(ops, modules, shared)
    tensors = scopes.tensors
    present = {o.name for o in graph.output}
    for name in sorted(set(tensors.values()) - present):
        graph.output.append(onnx.helper.make_tensor_value_info(
            name, types.get(name) or onnx.TensorProto.FLOAT, None))
    scratch.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(scratch))
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(scratch), options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    wanted = sorted(set(tensors.values()))

    def run(tensor: np.ndarray) -> dict[str, np.ndarray]:
        if not wanted:  # ONNX Runtime would return every output for an empty list
            return {}
        return dict(zip(wanted, session.run(wanted, {input_name: tensor}), strict=True))

    return GraphTaps(scopes, run)


def openvino_taps(path: Path, modules: set[str], shared: set[str], config: dict[str, Any],
                  threads: int = 2) -> GraphTaps:
    """OpenVINO: the modules' outputs added as model outputs, compiled for the CPU at the
    inference precision the package pins. Operations are keyed by friendly name (unique in
    a model; the Python objects for one operation differ from call to call)."""
    import openvino as ov

    core = ov.Core()
    model = core.read_model(str(path))
    ports: dict[str, Any] = {}
    ops = []
    for op in model.get_ordered_ops():
        if (op.get_type_name() in ("Parameter", "Constant", "Result") or op.get_output_size() == 0
                or not op.output(0).get_element_type().is_real()):  # activations only, not shapes
            continue
        key = op.get_friendly_name()
        ports[key] = op.output(0)
        # an IR read from ONNX carries torch.onnx's tensor names; the PyTorch frontend's, op names
        scope = next((n for n in sorted(op.output(0).get_names()) if n.startswith("/")), key)
        inputs = [value.get_node().get_friendly_name() for value in op.input_values()]
        ops.append((scope, key, inputs, op.get_type_name()))
    scopes = last_in_scope(ops, modules, shared)
    tensors = scopes.tensors
    wanted = sorted(set(tensors.values()))
    index: dict[str, int] = {}
    for position, result in enumerate(model.get_results()):  # already outputs: read where they are
        index.setdefault(result.input_value(0).get_node().get_friendly_name(), position)
    extra = [key for key in wanted if key not in index]
    model.add_outputs([ports[key] for key in extra])
    results = [r.input_value(0).get_node().get_friendly_name() for r in model.get_results()]
    for key in extra:
        index[key] = results.index(key)
    compiled = core.compile_model(model, "CPU", {**config, "INFERENCE_NUM_THREADS": threads})
    request = compiled.create_infer_request()

    def run(tensor: np.ndarray) -> dict[str, np.ndarray]:
        result = request.infer({0: tensor})
        return {key: np.asarray(result[compiled.outputs[index[key]]]) for key in wanted}

    return GraphTaps(scopes, run)
