"""The format registry is complete: every descriptor names what every view over formats needs,
and the worker, the wrapper and the rules agree with it."""

from __future__ import annotations

import pytest

from core import formats, offers
from core.formats import Format
from core.inference import wrapper_module
from core.spec import FORMAT_CONFIGS, FORMATS, FRAMEWORKS, ExportSpec
from exporters.formats import all_plugins, plugin, step

TRITON_PLATFORMS = {"onnxruntime_onnx", "pytorch_libtorch", "openvino", "tensorrt_plan",
                    "tensorflow_savedmodel", "tensorflow_graphdef"}
ALL = formats.all_formats()


def test_the_spec_lists_exactly_the_registry() -> None:
    assert formats.names() == ("onnx", "torchscript", "openvino", "tflite", "coreml", "tensorrt")
    assert formats.names() == FORMATS
    assert {f.name: f.config for f in ALL} == FORMAT_CONFIGS


@pytest.mark.parametrize("fmt", ALL, ids=[f.name for f in ALL])
def test_every_descriptor_is_complete(fmt: Format) -> None:
    assert fmt.title and fmt.description and fmt.suffix.startswith(".")
    assert fmt.config.export_format == fmt.name
    assert set(fmt.routes) == set(FRAMEWORKS)
    for framework, route in fmt.routes.items():
        assert route.framework == framework and route.export_format == fmt.name
        assert route.implemented or route.reason, f"{framework} → {fmt.name} has no steps and no reason"
        for name in route.steps:
            assert callable(step(name)), f"{framework} → {fmt.name} names unknown step {name}"
    for name, field in fmt.config.model_fields.items():
        assert field.description, f"{fmt.name}.{name} has no description (the CLI help and forms show it)"
    assert fmt.triton_platform is None or fmt.triton_platform in TRITON_PLATFORMS
    assert fmt.runtime_package
    assert set(fmt.quantized_at_conversion) <= set(fmt.quantizers)


@pytest.mark.parametrize("fmt", ALL, ids=[f.name for f in ALL])
def test_the_packaged_wrapper_has_a_runtime_for_every_format(fmt: Format) -> None:
    assert fmt.suffix in wrapper_module()._RUNTIMES


@pytest.mark.parametrize("fmt", ALL, ids=[f.name for f in ALL])
def test_every_format_has_a_worker_plugin_that_agrees_with_it(fmt: Format) -> None:
    """The plug-in quantizes with every method the descriptor offers (but those the converter
    applies itself), and writes the format's file: its steps end routes of this format."""
    worker = plugin(fmt.name)
    assert set(worker.quantizers) == set(fmt.quantizers) - set(fmt.quantized_at_conversion)
    last_steps = {r.steps[-1] for r in fmt.routes.values() if r.steps}
    assert last_steps <= set(worker.steps), (last_steps, set(worker.steps))
    assert (worker.gate is not None) == (not fmt.runs_here() or fmt.parity_runtime == "coreml")


def test_every_step_is_registered_once() -> None:
    names = [name for p in all_plugins() for name in p.steps]
    assert len(names) == len(set(names))


def test_every_rule_names_a_real_option() -> None:
    fields = {"export_config": None, **ExportSpec.model_fields}
    for fmt in ALL:
        for rule in offers.rules_for(fmt.name):
            head, _, rest = rule.path.partition(".")
            assert head in fields, rule.path
            model = fmt.config if head == "export_config" else ExportSpec.model_fields[head].annotation
            for part in rest.split(".") if rest else []:
                inner = getattr(model, "model_fields", {}).get(part)
                assert inner is not None, f"{rule.path}: no field {part!r}"
                nested = [a for a in getattr(inner.annotation, "__args__", ()) if hasattr(a, "model_fields")]
                model = nested[0] if nested else inner.annotation
