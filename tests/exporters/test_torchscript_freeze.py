"""TorchScript is frozen with its batch norms folded into the convolutions (faster), unless the
folding itself moves the outputs past half the parity tolerance: then frozen exactly, with the
reason (the zoo's HaloNet and DAB-DETR, whose random weights make folding drift 1.3-1.6e-3)."""

from __future__ import annotations

import warnings

import torch

from exporters.steps.pytorch import freeze_checked


def _conv_bn(cancelling: bool) -> torch.nn.Module:
    conv, bn = torch.nn.Conv2d(2, 4, 1, bias=False), torch.nn.BatchNorm2d(4)
    if cancelling:  # the output is a small difference of large terms: folding rescales both
        with torch.no_grad():
            conv.weight[:, 0] = 1e4 + 0.1
            conv.weight[:, 1] = -1e4
            bn.weight.fill_(3.7)
            bn.running_var.fill_(0.013)
    return torch.nn.Sequential(conv, bn).eval()


def _frozen(cancelling: bool) -> tuple[torch.Tensor, torch.jit.ScriptModule, str | None, torch.Tensor]:
    torch.manual_seed(0)
    x = torch.rand(1, 1, 8, 8).repeat(1, 2, 1, 1)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(_conv_bn(cancelling), x)
        frozen, note = freeze_checked(traced, [x], 1e-4, 1e-3)
        return traced(x), frozen, note, frozen(x)


def test_an_ill_conditioned_network_is_frozen_exactly_and_says_why() -> None:
    reference, frozen, note, out = _frozen(cancelling=True)
    with torch.no_grad():
        folded = torch.jit.freeze(torch.jit.trace(_conv_bn(True), torch.rand(1, 2, 8, 8)))
    assert "batch_norm" not in str(folded.graph)  # what folding would have handed over
    assert note is not None and "without folding batch norms" in note and "tolerance" in note
    assert "batch_norm" in str(frozen.graph) and float((out - reference).abs().max()) == 0.0


def test_a_well_conditioned_network_keeps_its_batch_norms_folded() -> None:
    reference, frozen, note, out = _frozen(cancelling=False)
    assert note is None and "batch_norm" not in str(frozen.graph)
    assert float((out - reference).abs().max()) < 1e-5
    assert freeze_checked(torch.jit.script(_conv_bn(True)), [], None, None)[1] is None  # INT8: not judged
