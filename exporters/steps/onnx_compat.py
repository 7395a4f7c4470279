"""Equivalence-preserving ONNX rewrites for runtimes with a narrower ONNX importer.

OpenCV's DNN module (4.x, the C++ wrapper's ``opencv_dnn`` backend) reads fewer
forms of the same computation than ONNX Runtime does. Two forms in Ultralytics'
detectors stop it, and both have a plain equivalent every runtime reads:

* ``Split`` whose part sizes come as an input (opset 13 and later) with parts of
  unequal size: OpenCV ignores the sizes input and splits into equal parts. Each
  output becomes a ``Slice`` of the same range.
* an elementwise ``Mul``/``Add``/``Sub``/``Div`` with a constant that broadcasts
  over an axis *before* one of its own (the (1, 2100) strides against the
  (1, 4, 2100) boxes): OpenCV 4.6 fails in forward there; it applies a constant
  over the tensor's axes from the channel axis on (as its per-channel Scale), so a
  constant spanning every axis up to its last real one works. It is tiled over
  those axes; a scalar or per-channel constant is left alone.

The graph computes the same values afterwards (only copies and tiled constants
change); the parity gate, which runs after this pass, checks it on real images.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import onnx

ELEMENTWISE = ("Mul", "Add", "Sub", "Div")
# a constant that would grow past these bounds (a layer-norm weight tiled over every
# token, say) would cost more file size and memory than it is worth: left as it was
MAX_TILED_ELEMENTS = 1 << 20
MAX_TILING_FACTOR = 64


def make_portable(path: Path) -> dict[str, int]:
    """Rewrite the ONNX file at ``path`` in place; how many nodes of each kind changed."""
    import onnx

    model = onnx.load(str(path))
    replaced: set[str] = set()
    changed = {"split": _splits_to_slices(model, replaced), "broadcast": _tile_constants(model, replaced)}
    if any(changed.values()):
        _drop_initializers(model, replaced)
        onnx.checker.check_model(model)
        onnx.save(model, str(path))
    return changed


def _constants(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    from onnx import numpy_helper

    values = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant" and len(node.attribute) == 1 and node.attribute[0].name == "value":
            values[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return values


def _unique(model: onnx.ModelProto, base: str) -> str:
    """A tensor or node name not used yet (OpenCV names its layers after the nodes)."""
    taken = {init.name for init in model.graph.initializer}
    taken.update(name for node in model.graph.node for name in (node.name, *node.input, *node.output))
    name, n = base, 0
    while name in taken:
        n += 1
        name = f"{base}_{n}"
    return name


def _used_names(graph: onnx.GraphProto) -> set[str]:
    """Every tensor name a node reads, subgraphs (If, Loop) included."""
    from onnx import AttributeProto

    used = {i.name for i in graph.input} | {o.name for o in graph.output}
    for node in graph.node:
        used.update(node.input)
        for attribute in node.attribute:
            if attribute.type == AttributeProto.GRAPH:
                used |= _used_names(attribute.g)
            elif attribute.type == AttributeProto.GRAPHS:
                for sub in attribute.graphs:
                    used |= _used_names(sub)
    return used


def _drop_initializers(model: onnx.ModelProto, replaced: set[str]) -> None:
    """The initializers this pass replaced, unless something still reads them."""
    unused = replaced - _used_names(model.graph)
    kept = [init for init in model.graph.initializer if init.name not in unused]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)


def _splits_to_slices(model: onnx.ModelProto, replaced: set[str]) -> int:
    import numpy as np
    from onnx import helper, numpy_helper

    constants = _constants(model)
    nodes: list[onnx.NodeProto] = []
    rewritten = 0
    for node in model.graph.node:
        sizes = constants.get(node.input[1]) if node.op_type == "Split" and len(node.input) > 1 else None
        if sizes is None or len(set(sizes.reshape(-1).tolist())) <= 1:
            nodes.append(node)
            continue
        axis = next((int(helper.get_attribute_value(a)) for a in node.attribute if a.name == "axis"), 0)
        base = node.name or node.output[0]  # the Split goes: its name is free for the slices
        start = 0
        for part, (output, size) in enumerate(zip(node.output, sizes.reshape(-1).tolist(), strict=True)):
            bounds = []
            for label, value in (("starts", start), ("ends", start + int(size)), ("axes", axis)):
                name = f"{base}/slice_{part}_{label}"
                model.graph.initializer.append(numpy_helper.from_array(np.array([value], np.int64), name))
                bounds.append(name)
            nodes.append(helper.make_node("Slice", [node.input[0], *bounds], [output],
                                          name=f"{base}/slice_{part}"))
            start += int(size)
        replaced.add(node.input[1])
        rewritten += 1
    if rewritten:
        del model.graph.node[:]
        model.graph.node.extend(nodes)
    return rewritten


def _static_shapes(model: onnx.ModelProto) -> dict[str, list[int]]:
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model)
    shapes: dict[str, list[int]] = {}
    for info in (*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output):
        dims = info.type.tensor_type.shape.dim
        # the batch axis may be symbolic: OpenCV's rule only concerns the axes after it
        shapes[info.name] = [d.dim_value if d.HasField("dim_value") else -1 for d in dims]
    return shapes


def _tiled(constant: np.ndarray, shape: list[int]) -> np.ndarray | None:
    """The constant tiled to span ``shape``'s axes 1..its last non-1 axis, or None when it already does."""
    import numpy as np

    if constant.size <= 1 or len(shape) < constant.ndim:
        return None
    aligned = constant.reshape((1,) * (len(shape) - constant.ndim) + constant.shape)
    real = [axis for axis, dim in enumerate(aligned.shape) if dim != 1 and axis > 0]
    if not real:
        return None
    last = real[-1]
    span = shape[1:last + 1]
    own = list(aligned.shape[1:last + 1])
    if any(dim <= 0 for dim in span) or own == span:
        return None
    if any(o not in (1, d) for o, d in zip(own, span, strict=True)):
        return None
    target = (aligned.shape[0], *span, *aligned.shape[last + 1:])
    size = int(np.prod(target))
    if size > MAX_TILED_ELEMENTS or size > MAX_TILING_FACTOR * constant.size:
        return None
    return np.ascontiguousarray(np.broadcast_to(aligned, target))


def _tile_constants(model: onnx.ModelProto, replaced: set[str]) -> int:
    from onnx import numpy_helper

    constants = _constants(model)
    shapes: dict[str, list[int]] | None = None
    rewritten = 0
    for node in model.graph.node:
        if node.op_type not in ELEMENTWISE or len(node.input) != 2:
            continue
        const_at = [i for i, name in enumerate(node.input) if name in constants]
        if len(const_at) != 1:
            continue
        shapes = shapes if shapes is not None else _static_shapes(model)
        other = shapes.get(node.input[1 - const_at[0]])
        tiled = _tiled(constants[node.input[const_at[0]]], other) if other else None
        if tiled is None:
            continue
        replaced.add(node.input[const_at[0]])
        name = _unique(model, f"{node.input[const_at[0]]}_tiled")
        model.graph.initializer.append(numpy_helper.from_array(tiled, name))
        node.input[const_at[0]] = name
        rewritten += 1
    return rewritten
