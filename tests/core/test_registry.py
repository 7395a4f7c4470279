from __future__ import annotations

import json
from pathlib import Path

import pytest

from core import registry
from core.errors import Unsupported
from core.registry import ROUTES, Route, capabilities, route_for, unavailable_reason
from core.spec import FORMATS, FRAMEWORKS
from exporters.formats import step
from tests.helpers import EXPORTS, export_pair, slipway


def test_every_step_a_route_names_exists() -> None:
    for route in ROUTES.values():
        for name in route.steps:
            assert callable(step(name)), f"{route.framework}/{route.export_format} names unknown step {name}"


def test_matrix_has_the_product_shape() -> None:
    matrix = capabilities()
    assert set(matrix) == set(FRAMEWORKS)
    for formats in matrix.values():
        assert set(formats) == set(FORMATS)
        for entry in formats.values():
            assert {"supported", "quality", "native", "preprocessing_embedded"} <= set(entry)
            assert entry["supported"] or entry.get("reason")
    assert matrix["timm"]["onnx"]["supported"] is True
    assert matrix["huggingface"]["coreml"]["supported"] is False
    assert set(capabilities("timm")) == {"timm"}


def test_unavailable_routes_say_why() -> None:
    with pytest.raises(Unsupported, match="huggingface → coreml"):
        route_for("huggingface", "coreml")
    assert route_for("ultralytics", "onnx").steps == ("ultralytics2onnx",)


def test_the_matrix_lists_as_supported_exactly_what_the_suite_exports(tmp_path: Path) -> None:
    """`slipway capabilities --json` promises no pair the slow suite does not export and check."""
    run = slipway("capabilities", "--json", home=tmp_path)
    assert run.code == 0, run.stderr
    matrix = json.loads(run.stdout)
    supported = {(fw, fmt) for fw, formats in matrix.items() for fmt, e in formats.items() if e["supported"]}
    assert supported == {export_pair(name) for name in EXPORTS}
    for fw, formats in matrix.items():
        for fmt, entry in formats.items():
            if not entry["supported"]:
                assert entry["reason"], (fw, fmt)
            if fmt == "coreml" and entry["supported"]:
                assert "parity not run" in entry["verification"]


def test_two_stage_routes_are_registered_steps_through_onnx() -> None:
    for route in ROUTES.values():
        if len(route.steps) == 2:
            first, second = route.steps
            assert first.endswith("2onnx") and second.startswith("onnx2"), route
            assert not route.native


def test_tensorrt_is_unavailable_without_a_gpu_or_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    route = ROUTES[("timm", "tensorrt")]
    monkeypatch.setattr(registry, "cuda_gpu_present", lambda: False)
    monkeypatch.setattr(Route, "missing_modules", lambda self: [])
    reason, extra = unavailable_reason(route)
    assert "NVIDIA GPU" in reason and extra is None
    monkeypatch.setattr(Route, "missing_modules", lambda self: ["tensorrt"])
    reason, extra = unavailable_reason(route)
    assert reason.startswith("not installed: tensorrt; ") and "NVIDIA GPU" in reason
    assert extra == "timm,tensorrt"
