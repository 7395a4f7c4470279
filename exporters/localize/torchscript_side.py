"""TorchScript's side of a per-layer comparison: the module hierarchy a traced or scripted
module keeps, read from its inlined graph.

A ScriptModule refuses forward hooks, but once its ``forward`` graph is inlined every
operation still knows the submodule call it came from (``node.getModuleHierarchy()``:
``block(Sequential).3(Conv2d)`` is ``block.3``). A module's output is the output of the last
operation in its scope, as for ONNX; those values are cloned where they are computed (an
in-place activation after them would change them) and returned with the model's output
from a function made of the rewritten graph, run on the loaded module itself.

``torch.jit.freeze`` (Slipway's own TorchScript exports are frozen) inlines the submodules
and folds their parameters into constants before saving: the hierarchy is gone, and such a
file cannot be compared layer by layer. Ultralytics' TorchScript export is traced, not
frozen, and keeps it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from exporters.localize.graph_side import GraphTaps, last_in_scope

FROZEN = ("the TorchScript module keeps no module hierarchy: it was frozen (torch.jit.freeze inlines the "
          "submodules and folds their weights into constants), so no operation can be tied to a module")
_CLASS = re.compile(r"\([^()]*\)")


def scope_name(hierarchy: str, kind: str, calls: dict[str, set[str]] | None = None) -> str:
    """``block(Sequential).3(Conv2d)`` → ``/block/3/aten::_convolution``, read by
    ``graph_side.module_path`` as torch.onnx's scopes are. The hierarchy starts at the module
    the top-level ``forward`` called, by its last attribute name (Ultralytics calls
    ``self.model[0]``: ``0(Conv).conv(Conv2d)``); ``calls`` gives its whole path, when that
    name belongs to one call target only."""
    path = _CLASS.sub("", hierarchy)
    if not path:
        return kind
    first, _, rest = path.partition(".")
    targets = (calls or {}).get(first, set())
    if len(targets) == 1:
        path = ".".join(filter(None, [next(iter(targets)), rest]))
    elif len(targets) > 1:
        return kind  # two call targets end in this name: which one is not guessed
    return "/" + "/".join([*path.split("."), kind])


def call_targets(graph: Any) -> dict[str, set[str]]:
    """The modules the (not inlined) top-level graph calls: last attribute name → full paths."""
    targets: dict[str, set[str]] = {}
    for node in graph.nodes():
        if node.kind() != "prim::CallMethod":
            continue
        names, source = [], node.inputsAt(0).node()
        while source.kind() == "prim::GetAttr":
            names.append(source.s("name"))
            source = source.inputsAt(0).node()
        if names and source.kind() == "prim::Param":
            targets.setdefault(names[0], set()).add(".".join(reversed(names)))
    return targets


def torchscript_taps(path: Path, modules: set[str], shared: set[str]) -> GraphTaps:
    import torch

    loaded = torch.jit.load(str(path), map_location="cpu").eval()
    calls = call_targets(loaded.forward.graph)
    graph = loaded.forward.graph.copy()
    torch._C._jit_pass_inline(graph)
    ops, values = [], {}
    for node in graph.nodes():
        if not node.kind().startswith("aten::") or node.outputsSize() == 0:
            continue
        out = node.outputsAt(0)
        if not isinstance(out.type(), torch._C.TensorType):  # sizes, lists: no module's output
            continue
        values[out.debugName()] = out
        ops.append((scope_name(node.getModuleHierarchy(), node.kind(), calls), out.debugName(),
                    [i.debugName() for i in node.inputs()], node.kind()))
    scopes = last_in_scope(ops, modules, shared)
    wanted = sorted(set(scopes.tensors.values()))
    function = _with_outputs(torch, graph, [values[name] for name in wanted]) if wanted else None

    def run(tensor: np.ndarray) -> dict[str, np.ndarray]:
        if function is None:
            return {}
        with torch.inference_mode():
            returned = function(loaded._c, torch.from_numpy(np.ascontiguousarray(tensor)))
        copies = zip(wanted, returned[1:], strict=True)
        return {name: value.detach().float().numpy() for name, value in copies}

    taps = GraphTaps(scopes, run)
    if not any(node.getModuleHierarchy() for node in graph.nodes()):
        taps.no_match_reason = FROZEN
    return taps


def _with_outputs(torch: Any, graph: Any, values: list[Any]) -> Any:
    """A function of the graph that returns (its output, a copy of each value)."""
    first = next(iter(graph.nodes()))
    none = graph.create("prim::Constant")
    none.output().setType(torch._C.NoneType.get())
    none.insertBefore(first)
    copies = []
    for value in values:
        clone = graph.create("aten::clone", [value, none.output()])
        clone.output().setType(value.type())
        clone.insertAfter(value.node())
        copies.append(clone.output())
    returned = [next(iter(graph.outputs())), *copies]
    pack = graph.create("prim::TupleConstruct", returned)
    pack.output().setType(torch._C.TupleType([v.type() for v in returned]))
    pack.insertBefore(graph.return_node())
    graph.eraseOutput(0)
    graph.registerOutput(pack.output())
    return torch._C._create_function_from_graph("slipway_localize", graph)
