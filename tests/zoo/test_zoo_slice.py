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
