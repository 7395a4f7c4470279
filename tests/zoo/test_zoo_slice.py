"""The zoo's representative slice: families from every library, each exported to ONNX through
the CLI, the parity gate passed and the package's wrapper agreeing with the framework's own
pipeline on real photos. The whole zoo, every format, runs in `make test-zoo`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.zoo import Family, all_families
from tests.zoo.run import export_one

pytestmark = pytest.mark.slow

SLICE = [f for f in all_families() if f.in_slice]


def test_the_slice_covers_every_library_and_task_kind() -> None:
    assert {f.library for f in SLICE} == {"huggingface", "timm", "ultralytics"}
    assert {"classify", "detect", "semantic", "obb"} <= {f.task for f in SLICE}


@pytest.mark.parametrize("family", SLICE, ids=[f.name for f in SLICE])
def test_family_exports_to_onnx_and_matches_its_framework(family: Family, tmp_path: Path) -> None:
    checkpoint = family.build(tmp_path / "checkpoint")
    outcome = export_one(family, checkpoint, "onnx", tmp_path)
    assert outcome.status == "passed", f"{family.name}: {outcome.detail}"
    if family.framework_predict is not None:
        assert outcome.pipeline == "agrees"


def test_norms_the_library_zero_initialised_end_branches_and_are_drawn_small() -> None:
    """LeViT's residual branches end in a batch norm timm initialises at zero; drawn at full
    scale (0.6..1.4) like the others, the random network was chaotic (float32 0.15 from its
    own float64 logits) and no export could agree with it."""
    import torch

    from tests.zoo.weights import randomize_norms

    def net() -> torch.nn.Sequential:
        model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8),
                                    torch.nn.BatchNorm2d(8))
        torch.nn.init.zeros_(model[2].weight)  # a branch end, as timm's bn_weight_init=0
        return model

    small, plain = net(), net()
    randomize_norms(small, 0, small_branch_ends=True)
    randomize_norms(plain, 0)
    assert float(small[2].weight.min()) >= 0.1 and float(small[2].weight.max()) <= 0.3
    assert float(plain[2].weight.min()) >= 0.6  # the Hugging Face zoo keeps full scales
    assert torch.equal(small[1].weight, plain[1].weight)  # other norms draw the same either way
    assert float(small[1].weight.min()) >= 0.6 and float(small[1].weight.max()) <= 1.4
