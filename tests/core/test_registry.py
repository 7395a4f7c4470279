from __future__ import annotations

import pytest

from core.errors import Unsupported
from core.registry import ROUTES, capabilities, route_for
from core.spec import FORMATS, FRAMEWORKS
from exporters.steps import STEPS, get_step


def test_every_step_a_route_names_exists() -> None:
    for route in ROUTES.values():
        for step in route.steps:
            assert step in STEPS, f"{route.framework}/{route.export_format} names unknown step {step}"
            assert callable(get_step(step))


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
