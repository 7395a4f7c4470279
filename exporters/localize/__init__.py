"""Per-layer localisation: where along the network an export starts to differ from the
original, named by PyTorch module path.

The original's module outputs are taken with forward hooks (``torch_side``); the export's
by exposing the graph tensors that the exporters' names tie to those modules
(``graph_side``: ONNX and OpenVINO; ``tflite_side``: the scopes onnx2tf's layers are
renamed after; ``torchscript_side``: the module hierarchy a traced module keeps). Each
matched layer gets the maximum absolute and relative error, the cosine similarity and the
signal-to-noise ratio over the images; the first divergent layer is the earliest (in the
order the modules finish) past the precision's tolerance, judged as the gate judges
outputs: ``atol + rtol * max|original|``. A module the graph shows no tensor for is listed
as unmatched, with the reason.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import InternalError
from exporters.localize.graph_side import GraphTaps, onnx_taps, openvino_taps
from exporters.localize.tflite_side import tflite_taps
from exporters.localize.torch_side import PASS_THROUGH, Survey, capture, is_normalization, survey
from exporters.localize.torchscript_side import torchscript_taps

FORMATS = ("onnx", "openvino", "tflite", "torchscript")  # what localisation reads
MOST_SENSITIVE = 5  # layers listed by lowest signal-to-noise when there is no tolerance (INT8)


@dataclass
class LayerDiff:
    """One layer's differences, accumulated over the images."""

    max_abs: float = 0.0
    max_reference: float = 0.0
    signal: float = 0.0
    noise: float = 0.0
    cosine: float = 1.0

    def add(self, reference: np.ndarray, exported: np.ndarray) -> None:
        ref = reference.astype(np.float64).ravel()
        exp = exported.astype(np.float64).ravel()
        diff = exp - ref
        self.max_abs = max(self.max_abs, float(np.abs(diff).max(initial=0.0)))
        self.max_reference = max(self.max_reference, float(np.abs(ref).max(initial=0.0)))
        self.signal += float(ref @ ref)
        self.noise += float(diff @ diff)
        norms = float(np.linalg.norm(ref) * np.linalg.norm(exp))
        self.cosine = min(self.cosine, float(ref @ exp) / norms if norms else 1.0)

    def row(self, chain: list[str], kind: str, shape: tuple[int, ...], atol: float | None,
            rtol: float | None) -> dict[str, Any]:
        """The layer's line: ``module`` is the one whose operator computes the tensor,
        ``folded`` the modules after it folded into that operator (its output is theirs)."""
        tolerance = None if atol is None or rtol is None else atol + rtol * self.max_reference
        snr = float("inf") if self.noise == 0 else 10 * np.log10(max(self.signal, 1e-300) / self.noise)
        return {
            "module": chain[0], "folded": chain[1:], "type": kind, "shape": list(shape),
            "max_abs_diff": self.max_abs,
            "max_rel_diff": self.max_abs / self.max_reference if self.max_reference else 0.0,
            "cosine": self.cosine,
            "snr_db": None if snr == float("inf") else round(snr, 2),
            "tolerance": tolerance,
            "diverged": tolerance is not None and self.max_abs > tolerance,
        }


Match = tuple[dict[str, str], dict[str, str], dict[str, list[str]]]
# the operation types a batch norm keeps when it was not folded (ONNX, OpenVINO, TorchScript)
NORMALIZATION_OPS = {"BatchNormalization", "BatchNormInference", "aten::batch_norm"}


def match(found: Survey, taps: GraphTaps) -> Match:
    """(module → graph tensor, module → why it has none, module → the modules whose operator
    computes its tensor).

    A batch norm with no normalization operation in its scope was folded into the module that
    fed it: that module's operator computes both, so its own output is not in the graph; the
    batch norm's output is (its producer's tensor, or its activation's for timm's
    BatchNormAct2d). An identity or dropout with nothing of its own passes its input on."""
    matched = {m: taps.tensors[m] for m in found.order if m in taps.tensors and found.calls.get(m) == 1}
    unmatched = {m: "ran more than once (shared module)" for m in found.order if found.calls.get(m, 0) > 1}
    unmatched.update({m: reason for m, reason in taps.scopes.reasons.items()
                      if m in found.calls and m not in unmatched})
    chains = {m: [m] for m in matched}
    for module in found.order:
        producer, kind = found.producer.get(module) or "", found.kinds.get(module, "")
        folded = (is_normalization(kind) and producer in matched
                  and not taps.scopes.op_types.get(module, set()) & NORMALIZATION_OPS)
        if folded and module in matched:  # it has operations of its own after the fold
            chains[module] = [*chains.pop(producer), *chains[module]]
            del matched[producer]
            unmatched[producer] = f"folded with {module}"
            for inner in [m for m in matched if m.startswith(f"{module}.") and matched[m] == matched[module]]:
                del matched[inner], chains[inner]  # its activation: the same tensor, compared as the module
                unmatched[inner] = f"compared as {module}"
            continue
        if module in matched or module in unmatched:
            continue
        passes = kind in PASS_THROUGH and producer in matched
        if (folded or passes) and found.shapes.get(producer) == found.shapes.get(module):
            matched[module] = matched.pop(producer)
            chains[module] = [*chains.pop(producer), module]
            unmatched[producer] = f"folded with {module}"
        else:
            unmatched[module] = taps.scopes.no_operator
    _fuse(found, taps, matched, unmatched, chains)
    for module in [m for m, tensor in matched.items() if tensor in taps.scopes.feeds_unknown]:
        del matched[module], chains[module]
        unmatched[module] = ("its tensor feeds an operation of a shared module that the graph names after "
                             "another call site, so it may not be this module's output")
    return matched, unmatched, chains


def _fuse(found: Survey, taps: GraphTaps, matched: dict[str, str], unmatched: dict[str, str],
          chains: dict[str, list[str]]) -> None:
    """TFLite fuses a convolution with its activation into one operator, whose tensor names
    both: the convolution (outside the activation's module) heads the chain compared at the
    activation's output, with the batch norms or identities between them that have no operator
    of their own. Only modules the tensor's name itself places in the operator start a chain."""
    for module, tensor in list(matched.items()):
        parts = {f for f in taps.scopes.fused.get(tensor, [])
                 if not _related(f, module) and unmatched.get(f) == taps.scopes.no_operator}
        if not parts:
            continue
        order = found.order
        start = min(order.index(f) for f in parts)
        chain: list[str] = []
        for other in order[start:order.index(module)]:
            kind = found.kinds.get(other, "")
            trailing = found.producer.get(other) in chain and (is_normalization(kind) or kind in PASS_THROUGH)
            if unmatched.get(other) == taps.scopes.no_operator and (other in parts or trailing):
                chain.append(other)
        for other in chain:
            unmatched[other] = f"fused with {module}"
        chains[module] = [*chain, *chains[module]]


def _related(one: str, other: str) -> bool:
    return one == other or one.startswith(f"{other}.") or other.startswith(f"{one}.")


def _taps(export_format: str, model_file: Path, module: Any, found: Survey, work: Path,
          runtime_config: dict[str, Any], input_perm: tuple[int, ...]) -> GraphTaps:
    """The graph's tensors for the modules, by every name each module has (a module shared by
    several parents has several); those shared or run more than once are ``shared``."""
    names: dict[int, list[str]] = {}
    for name, sub in module.named_modules(remove_duplicate=False):
        if name:
            names.setdefault(id(sub), []).append(name)
    modules = {name for group in names.values() for name in group}
    shared = {name for group in names.values() if len(group) > 1 for name in group}
    shared |= {name for name, calls in found.calls.items() if calls > 1}
    if export_format == "onnx":
        return onnx_taps(model_file, modules, shared, work / "localize" / "taps.onnx")
    if export_format == "tflite":
        return tflite_taps(model_file, modules, shared, input_perm, found.returns)
    if export_format == "torchscript":
        return torchscript_taps(model_file, modules, shared)
    return openvino_taps(model_file, modules, shared, runtime_config)


def channels_last(original: tuple[int, ...], exported: tuple[int, ...]) -> tuple[int, ...]:
    """TFLite's input axes as a permutation of the original's: onnx2tf makes an image input
    channels-last (the package's input format says NHWC); a 2-D input stays as it is. An input
    of another shape is refused rather than lined up by guess."""
    perm = (0, *range(2, len(original)), 1) if len(original) >= 3 else tuple(range(len(original)))
    if tuple(original[i] for i in perm) != tuple(exported):
        raise InternalError(f"the TFLite input {list(exported)} is not the channels-last form of the "
                            f"original's {list(original)}, so its layers cannot be lined up")
    return perm


def localize(module: Any, model_file: Path, export_format: str,
             pairs: Sequence[tuple[np.ndarray, np.ndarray]], atol: float | None, rtol: float | None,
             work: Path, batch: int = 1, runtime_config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Compare ``module`` layer by layer with the exported ``model_file``; ``pairs`` are
    (the original's input tensor, the export's input tensor) for each image. The report
    that goes into parity_report.json under ``layers``."""
    start = time.perf_counter()
    if export_format not in FORMATS:
        return {"status": "not_supported",
                "reason": f"per-layer comparison reads {' and '.join(FORMATS)} graphs, not {export_format}"}
    found = survey(module, pairs[0][0])
    taps = _taps(export_format, model_file, module, found, work, runtime_config or {},
                 channels_last(pairs[0][0].shape, pairs[0][1].shape) if export_format == "tflite" else ())
    matched, unmatched, chains = match(found, taps)
    diffs = {m: LayerDiff() for m in matched}
    for reference, exported in pairs:
        ours, _ = capture(module, reference, set(matched))
        graph_input = np.repeat(exported, batch, axis=0) if batch > 1 else exported
        theirs = taps.run(graph_input)
        for name, tensor_name in matched.items():
            mine, other = ours.get(name), theirs[tensor_name]
            if mine is None:
                continue
            other = other[: mine.shape[0]] if batch > 1 and other.shape[:1] == (batch,) else other
            if mine.size != other.size:
                unmatched[name] = (f"shape {list(other.shape)} in the graph, "
                                   f"{list(mine.shape)} in the original")
                diffs.pop(name, None)
                continue
            if name in diffs:
                diffs[name].add(mine, other.reshape(mine.shape))
    rows = [diffs[m].row(chains[m], found.kinds[chains[m][0]], found.shapes[m], atol, rtol)
            for m in found.order if m in diffs]
    first = next((row for row in rows if row["diverged"]), None)
    report: dict[str, Any] = {
        "status": "compared" if rows else "no_match",
        "format": export_format,
        "images": len(pairs),
        "matched": len(rows),
        "unmatched": len(unmatched),
        "tolerance": {"atol": atol, "rtol": rtol},
        "first_divergent": first,
        "layers": rows,
        "unmatched_modules": [{"module": m, "reason": r} for m, r in unmatched.items()],
        "seconds": round(time.perf_counter() - start, 2),
    }
    if not rows and taps.no_match_reason:
        report["reason"] = taps.no_match_reason
    elif not rows:
        report["reason"] = ("no operation in the exported graph carries a module path of the original "
                            "(the names the exporter wrote were lost), so no layer can be compared")
    if atol is None or rtol is None:  # no tolerance (INT8): the layers that lose most
        ranked = sorted((r for r in rows if r["snr_db"] is not None), key=lambda r: r["snr_db"])
        report["most_sensitive"] = [r["module"] for r in ranked[:MOST_SENSITIVE]]
    return report


def summary(report: dict[str, Any]) -> str | None:
    """The first divergent layer in a few words, for the gate's message."""
    first = report.get("first_divergent")
    if not first:
        return None
    folded = f", with {', '.join(first['folded'])} folded in" if first["folded"] else ""
    return (f"first divergent layer: {first['module']} ({first['type']}{folded}), max abs diff "
            f"{first['max_abs_diff']:.3g} > {first['tolerance']:.3g}")
