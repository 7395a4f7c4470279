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


def randomize_norms(module: Any, seed: int = 0) -> None:
    """Random scale (0.6..1.4) and shift for every normalization layer; layer scales
    (``gamma`` parameters, timm's LayerScale) drawn around 0.5 instead of ~0."""
    import torch

    g = _generator(seed)
    norms = (torch.nn.modules.batchnorm._BatchNorm, torch.nn.GroupNorm, torch.nn.LayerNorm,
             torch.nn.modules.instancenorm._InstanceNorm)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, norms) or type(m).__name__.endswith(("Norm", "Norm2d", "NormAct2d")):
                weight, bias = getattr(m, "weight", None), getattr(m, "bias", None)
                if isinstance(weight, torch.Tensor) and weight.is_floating_point():
                    weight.copy_(torch.empty_like(weight).uniform_(0.6, 1.4, generator=g))
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
