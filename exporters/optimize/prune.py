"""Pruning of the original PyTorch module before conversion.

Structured pruning removes whole channels with Torch-Pruning's dependency graph
(every layer that consumes a pruned channel shrinks with it), so the exported model
really is smaller and does less work; the classifier head keeps its classes.
Unstructured pruning zeroes the smallest weights (global L1): the tensors keep their
shapes, so without a sparse runtime the model is no faster — it only compresses
better, which the stats say in those words. A short fine-tune can follow on a
labeled ImageFolder (classifiers), reporting the accuracy it recovered.
"""

from __future__ import annotations

import copy
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import missing_extra
from core.spec import PruningConfig
from exporters.loaders.base import LoadedModel

PRUNABLE = ("Conv2d", "Linear")


def _prunable(module: Any) -> list[Any]:
    return [m for m in module.modules() if type(m).__name__ in PRUNABLE]


def _weights(module: Any) -> np.ndarray:
    return np.concatenate([m.weight.detach().numpy().ravel() for m in _prunable(module)])


def _latency_ms(model: LoadedModel, module: Any, runs: int = 10) -> float:
    import torch

    x = model.dummy_input(1)
    with torch.inference_mode():
        for _ in range(3):
            module(x)
        start = time.perf_counter()
        for _ in range(runs):
            module(x)
    return (time.perf_counter() - start) / runs * 1000


def _head(module: Any) -> list[Any]:
    """Layers whose outputs must keep their size: the classes."""
    head = module.get_classifier() if hasattr(module, "get_classifier") else None
    if head is None and hasattr(module, "classifier"):
        head = module.classifier
    layers = [m for m in (head.modules() if head is not None else []) if type(m).__name__ in PRUNABLE]
    return layers or _prunable(module)[-1:]


def _structured_step(model: LoadedModel, module: Any, ratio: float) -> None:
    try:
        import torch_pruning as tp
    except ImportError:
        raise missing_extra("torch-pruning", "optimize") from None
    pruner = tp.pruner.MetaPruner(
        module, model.dummy_input(1), importance=tp.importance.MagnitudeImportance(p=2),
        pruning_ratio=ratio, ignored_layers=_head(module),
        round_to=8,  # channel counts that CPU kernels handle without a ragged tail
    )
    pruner.step()


def _unstructured_step(module: Any, amount: float) -> None:
    from torch.nn.utils import prune

    params = [(m, "weight") for m in _prunable(module)]
    prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=amount)
    for m, name in params:
        prune.remove(m, name)


def prune_model(model: LoadedModel, cfg: PruningConfig, log: Any) -> dict[str, Any]:
    """Prune ``model.module`` in place (the unpruned copy stays as ``model.unpruned``).

    What cannot be pruned (structured YOLO, a fine-tune of a detector) was refused before
    the job by core.offers."""
    original = model.module
    model.unpruned = copy.deepcopy(original)
    params_before = sum(p.numel() for p in original.parameters())
    weights_before = _weights(original)
    latency_before = _latency_ms(model, original)
    steps = cfg.steps if cfg.pruning_schedule == "iterative" else 1
    recovered: list[dict[str, Any]] = []
    for step in range(1, steps + 1):
        target = cfg.sparsity * step / steps
        if cfg.method == "structured":
            # each step removes a share of what is left, so the total reaches the target
            done = cfg.sparsity * (step - 1) / steps
            _structured_step(model, original, 1 - (1 - target) / (1 - done))
        else:
            _unstructured_step(original, target)
        log(f"pruning step {step}/{steps}: {cfg.method}, target sparsity {target:.2f}")
        if cfg.fine_tune_data is not None:
            recovered.append(fine_tune(model, original, Path(cfg.fine_tune_data), cfg.fine_tune_epochs,
                                       keep_zeros=cfg.method == "unstructured"))
            log(f"fine-tuned: top-1 on the fine-tune data {recovered[-1]['top1_before']:.3f} → "
                f"{recovered[-1]['top1_after']:.3f}")
    original.eval()
    weights_after = _weights(original)
    stats: dict[str, Any] = {
        "method": cfg.method, "schedule": cfg.pruning_schedule, "steps": steps,
        "target_sparsity": cfg.sparsity,
        "parameters_before": params_before,
        "parameters_after": sum(p.numel() for p in original.parameters()),
        "latency_ms_before_pytorch": round(latency_before, 3),
        "latency_ms_after_pytorch": round(_latency_ms(model, original), 3),
    }
    if cfg.method == "unstructured":
        zeros = float(np.mean(weights_after == 0))
        stats.update(
            sparsity_reached=round(zeros, 4),
            weights_deflated_mb_before=round(len(zlib.compress(weights_before.tobytes(), 6)) / 1e6, 3),
            weights_deflated_mb_after=round(len(zlib.compress(weights_after.tobytes(), 6)) / 1e6, 3),
            note="unstructured sparsity shrinks the compressed package, not the latency: the "
                 "tensors keep their shapes and dense runtimes multiply the zeros too",
        )
    else:
        stats["sparsity_reached"] = round(1 - stats["parameters_after"] / params_before, 4)
    if recovered:
        stats["fine_tune"] = recovered
    return stats


def fine_tune(model: LoadedModel, module: Any, data: Path, epochs: int,
              keep_zeros: bool = False) -> dict[str, Any]:
    """A short recovery fine-tune on an ImageFolder; top-1 on that data before and after.

    ``keep_zeros``: the weights unstructured pruning zeroed stay zero (every step is masked),
    or the fine-tune would quietly undo the sparsity it was asked to keep."""
    import cv2
    import torch

    from core.datasets import check_classes, load_classification_dataset

    dataset = load_classification_dataset(data)
    check_classes(dataset, model.class_names)
    items = dataset.classifications()
    tensors, labels = [], []
    for item in items:
        bgr = cv2.imread(str(item.image), cv2.IMREAD_COLOR)
        if bgr is not None:
            tensors.append(model.framework_preprocess(np.ascontiguousarray(bgr[:, :, ::-1])))
            labels.append(item.class_id)
    x = torch.from_numpy(np.concatenate(tensors))
    y = torch.tensor(labels)

    def top1() -> float:
        module.eval()
        with torch.inference_mode():
            logits = torch.cat([_logits(module(x[i:i + 64])) for i in range(0, len(x), 64)])
        return float((logits.argmax(1) == y).float().mean())

    before = top1()
    masks = [(m.weight, m.weight.detach() != 0) for m in _prunable(module)] if keep_zeros else []
    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    module.train()
    for _ in range(epochs):
        for batch in torch.randperm(len(x), generator=generator).split(32):
            with torch.enable_grad():
                loss = torch.nn.functional.cross_entropy(_logits(module(x[batch])), y[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                with torch.no_grad():
                    for weight, keep in masks:
                        weight.mul_(keep)
    return {"images": len(x), "epochs": epochs, "top1_before": before, "top1_after": top1()}


def _logits(out: Any) -> Any:
    return out.logits if hasattr(out, "logits") else out
