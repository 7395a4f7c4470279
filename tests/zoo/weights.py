"""Random weights that behave like trained ones, for the zoo's checkpoints.

A freshly initialised network is a poor test subject: residual branches start at
zero (timm's ``zero_init_last``, ConvNeXt's layer scale of 1e-6), so converters fold
whole branches away; activations fade layer by layer, so every image gives the same
output; and detection heads start with class biases so low that nothing is ever
detected. Then an export that dropped half the graph still "agrees" with the
original. Here every normalization layer gets random scale and shift, batch norms
are calibrated on real photos (so activations stay alive to the last layer and
depend on the image), and layer scales are brought to the order of one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np


def photos(task: str = "classify") -> list[np.ndarray]:
    """The images the parity gate uses for a task by default (scikit-image's bundled photos
    and the bundled samples' images), RGB uint8: statistics calibrated on them keep the
    model's activations in a trained-like range on exactly what the gate shows it."""
    from core.spec import ExportSpec
    from exporters.images import parity_images

    spec = ExportSpec.model_construct()  # defaults only: parity.max_images, no folders
    return [rgb for _, rgb in parity_images(spec, task)]


@contextmanager
def reproducible(seed: int) -> Iterator[None]:
    """One thread and a seeded generator: the same checkpoint whatever ran in the process
    before (Ultralytics' predict, for one, leaves torch at one thread; sums over other
    thread counts round differently, and a random model's borderline boxes move)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _generator(seed: int) -> Any:
    import torch

    return torch.Generator().manual_seed(seed)


def randomize_norms(module: Any, seed: int = 0, small_branch_ends: bool = False) -> None:
    """Random scale (0.6..1.4) and shift for every normalization layer; layer scales
    (``gamma`` parameters, timm's LayerScale) drawn around 0.5 instead of ~0.

    ``small_branch_ends``: a norm the library initialised at zero ends a residual branch
    (timm's ``zero_init_last``, LeViT's and HaloNet's ``bn_weight_init=0``); its scale is
    drawn small (0.1..0.3), as training leaves them. At full scale every branch adds as much
    as the trunk carries and a deep stack turns chaotic: LeViT's float32 logits were then
    0.15-0.29 from its own float64 ones (HaloNet's 2.8), so no export could agree with it
    (1.5e-4 and 3.2e-4 with small branch ends). The timm zoo draws them so; the Hugging Face
    zoo's DETR backbones and timm_wrapper keep full scales (their results were recorded so,
    and those stacks are not chaotic), other families have no such norm."""
    import torch

    g = _generator(seed)
    norms = (torch.nn.modules.batchnorm._BatchNorm, torch.nn.GroupNorm, torch.nn.LayerNorm,
             torch.nn.modules.instancenorm._InstanceNorm)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, norms) or type(m).__name__.endswith(("Norm", "Norm2d", "NormAct2d")):
                weight, bias = getattr(m, "weight", None), getattr(m, "bias", None)
                if isinstance(weight, torch.Tensor) and weight.is_floating_point():
                    branch_end = small_branch_ends and weight.numel() > 0 and not bool(weight.any())
                    low, high = (0.1, 0.3) if branch_end else (0.6, 1.4)
                    weight.copy_(torch.empty_like(weight).uniform_(low, high, generator=g))
                if isinstance(bias, torch.Tensor) and bias.is_floating_point():
                    bias.copy_(torch.randn(bias.shape, generator=g) * 0.2)
        for name, p in module.named_parameters():
            leaf = name.rsplit(".", 1)[-1]
            if leaf in ("gamma", "gamma_1", "gamma_2", "layer_scale"):
                p.copy_(torch.empty_like(p).uniform_(0.3, 0.7, generator=g))


def calibrate_batch_norms(module: Any, batch: Any) -> None:
    """Running statistics of every batch norm from one forward pass over ``batch`` (real
    photos), as a trained network would have them; everything else stays in eval mode."""
    import torch

    bns = [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    module.eval()
    for m in bns:
        if m.track_running_stats:
            m.reset_running_stats()
            m.momentum = None  # a plain average over the pass
            m.train()
    with torch.no_grad():
        module(batch)
    module.eval()
