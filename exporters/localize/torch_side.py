"""The original model's side of a per-layer comparison: every module's output, taken with
forward hooks, in the order the modules finish (a block after the layers inside it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

# modules that compute nothing at inference (identity, dropout in eval mode): with no operator
# of their own in the graph, the producer's tensor is theirs
PASS_THROUGH = ("Identity", "Dropout", "Dropout2d", "DropPath", "DropBlock2d")


def is_normalization(kind: str) -> bool:
    """A batch norm (timm's BatchNormAct2d too): exporters fold it into the convolution or
    linear layer before it, whose operator then computes both."""
    return "BatchNorm" in kind


@dataclass
class Survey:
    """What one forward pass says about the modules: finishing order, output shapes, how
    often each ran, and which module produced each module's input."""

    order: list[str] = field(default_factory=list)
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    producer: dict[str, str | None] = field(default_factory=dict)
    returns: str | None = None  # the innermost module whose output is the model's (a single tensor)


def _first_tensor(value: Any) -> Any:
    import torch

    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)) and value and isinstance(value[0], torch.Tensor):
        return value[0]
    return None


def survey(module: Any, tensor: np.ndarray) -> Survey:
    """One forward pass with hooks that record shapes, call counts and producers (no values)."""
    import torch

    found = Survey()
    made_by: dict[int, str] = {}  # id of an output tensor → the innermost module that returned it
    alive: list[Any] = []  # the outputs, held so that no id is reused during the pass
    handles = []

    def hook(name: str) -> Any:
        def record(mod: Any, inputs: tuple[Any, ...], output: Any) -> None:
            found.calls[name] = found.calls.get(name, 0) + 1
            out = _first_tensor(output)
            if out is None or found.calls[name] > 1:
                return
            first_input = _first_tensor(inputs)
            found.producer[name] = made_by.get(id(first_input)) if first_input is not None else None
            found.order.append(name)
            found.shapes[name] = tuple(out.shape)
            found.kinds[name] = type(mod).__name__
            made_by.setdefault(id(out), name)
            alive.append(out)
        return record

    for name, sub in module.named_modules():
        if name:
            handles.append(sub.register_forward_hook(hook(name)))
    try:
        with torch.inference_mode():
            result = module(torch.from_numpy(np.ascontiguousarray(tensor)))
    finally:
        for handle in handles:
            handle.remove()
    if isinstance(result, torch.Tensor):
        found.returns = made_by.get(id(result))
    return found


def capture(module: Any, tensor: np.ndarray, names: set[str]) -> tuple[dict[str, np.ndarray], list[Any]]:
    """The outputs of the named modules (first call only) and the model's own outputs."""
    import torch

    taken: dict[str, np.ndarray] = {}
    handles = []

    def hook(name: str) -> Any:
        def record(mod: Any, inputs: tuple[Any, ...], output: Any) -> None:
            out = _first_tensor(output)
            if out is not None and name not in taken:
                taken[name] = out.detach().float().cpu().numpy().copy()  # in-place layers come next
        return record

    for name, sub in module.named_modules():
        if name in names:
            handles.append(sub.register_forward_hook(hook(name)))
    try:
        with torch.inference_mode():
            result = module(torch.from_numpy(np.ascontiguousarray(tensor)))
    finally:
        for handle in handles:
            handle.remove()
    return taken, result
