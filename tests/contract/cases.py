"""The option contract's cases, generated from the format registry and the spec's models.

Every option value of every format's settings model, of the quantization, pruning and
validation models and of the spec's own fields, for every framework (one bundled
sample each) and every format: one case each. Its expected outcome comes from the same
rules the CLI and the app apply (core.offers): refused up front, or honoured, in which
case tests/contract/effects.py must find its effect in the exported file.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from core import formats, offers
from core.errors import BadInput, Unsupported
from core.samples import sample
from core.spec import (
    ExportSpec,
    OptimizationConfig,
    PruningConfig,
    QuantizationConfig,
    ValidationConfig,
    parse_spec,
)

SAMPLES = {"ultralytics": "shapes-yolo11n", "timm": "digits-timm", "huggingface": "digits-hf"}
TASK = {"ultralytics": "detect", "timm": "classify", "huggingface": "classify"}
INPUT_NAME = {"ultralytics": "images", "timm": "input", "huggingface": "pixel_values"}
# The gate on a few images, its task agreement loosened (explicitly, as a user may): the
# contract is about options being honoured, and an INT8 option is honoured even when the
# quantized digits classifier disagrees on one image in eight. Raw outputs stay gated.
PARITY = {"max_images": 8, "min_task_agreement": 0.5}


def base(framework: str) -> dict[str, Any]:
    found = sample(SAMPLES[framework])
    data: dict[str, Any] = {"checkpoint": str(found.checkpoint), "parity": dict(PARITY)}
    if found.model_name:
        data["model_name"] = found.model_name
    return data


def _plain(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


def candidates(model: type[BaseModel], name: str, framework: str) -> list[Any]:
    """The values of one field worth a case: every choice, both booleans, the ends of a range."""
    info = model.model_fields[name]
    annotation, default = _plain(info.annotation), info.default
    special = SPECIAL.get((model.__name__, name))
    if special is not None:
        return [v for v in special(framework) if v != default]
    if get_origin(annotation) is Literal:
        return [v for v in get_args(annotation) if v != default]
    if annotation is bool or annotation == (bool | None):
        return [v for v in (True, False) if v != default]
    if annotation in (int, float):
        bounds = [m for m in info.metadata if hasattr(m, "ge") or hasattr(m, "le") or hasattr(m, "gt")]
        low = next((getattr(m, "ge", None) for m in bounds if getattr(m, "ge", None) is not None), None)
        high = next((getattr(m, "le", None) for m in bounds if getattr(m, "le", None) is not None), None)
        return [v for v in (low, high) if v is not None and v != default]
    return []


def _calibration(framework: str) -> str:
    return str(sample(SAMPLES[framework]).images)


SPECIAL: dict[tuple[str, str], Any] = {
    ("OnnxConfig", "dynamic_axes"): lambda fw: [True, {INPUT_NAME[fw]: [0]}],
    ("TFLiteConfig", "supported_ops"): lambda fw: [["TFLITE_BUILTINS", "SELECT_TF_OPS"],
                                                   ["TFLITE_BUILTINS", "TFLITE_BUILTINS_INT8"]],
    ("QuantizationConfig", "calibration_data"): lambda fw: [_calibration(fw)],
    ("QuantizationConfig", "calibration_samples"): lambda fw: [8],
    ("PruningConfig", "sparsity"): lambda fw: [0.3],
    ("PruningConfig", "steps"): lambda fw: [2],
    ("PruningConfig", "fine_tune_data"): lambda fw: [str(sample(SAMPLES[fw]).dataset)],
    ("PruningConfig", "fine_tune_epochs"): lambda fw: [2],
    ("ValidationConfig", "data"): lambda fw: [str(sample(SAMPLES[fw]).dataset)],
    ("ValidationConfig", "metrics"): lambda fw: [["top5"], ["mAP50"]],
    ("ValidationConfig", "enabled"): lambda fw: [],  # with data, below
    ("ExportSpec", "batch_size"): lambda fw: [2],
    ("ExportSpec", "input_size"): lambda fw: [160 if fw == "ultralytics" else 192],
}


@dataclass
class Case:
    framework: str
    export_format: str
    path: str  # the option, as a dotted spec path
    value: Any
    sections: dict[str, Any] = field(default_factory=dict)  # what the case adds to the base spec
    spec: ExportSpec | None = None
    refusal: str | None = None  # None: honoured

    @property
    def id(self) -> str:
        value = self.value if not isinstance(self.value, (dict, list)) else str(self.value).replace(" ", "")
        return f"{self.framework}-{self.export_format}-{self.path}={value}"


def _merge(target: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(target)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) \
            else value
    return out


def _nest(path: str, value: Any) -> dict[str, Any]:
    head, _, rest = path.partition(".")
    return {head: _nest(rest, value) if rest else value}


def _optimization_for(export_format: str, framework: str) -> dict[str, Any]:
    """One optimization the format has, for an option that is about optimizing (the goal)."""
    quantizers = formats.get(export_format).quantizers
    for method in ("dynamic", "fp16", "static"):
        if method in quantizers:
            extra = {"calibration_data": _calibration(framework)} if method == "static" else {}
            return {"quantization": {"method": method, **extra}}
    return {"pruning": {"method": "unstructured"}}


# What a quantization, pruning or validation option needs beside it to mean anything. The
# goal of the optimizations is size (the speed gate's own case is the goal's): an option is
# honoured when its effect is in the file, whether or not it made this model faster here.
def _requisites(path: str, value: Any, framework: str, export_format: str) -> list[dict[str, Any]]:
    return [_merge(sections, {"optimization_config": {"goal": "size"}})
            if "optimization_config" in sections and path != "optimization_config.goal" else sections
            for sections in _option_sections(path, value, framework, export_format)]


def _option_sections(path: str, value: Any, framework: str, export_format: str) -> list[dict[str, Any]]:
    quant, prune = "optimization_config.quantization", "optimization_config.pruning"
    if path == "optimization_config.goal":
        return [{"optimization_config": {"goal": value, **_optimization_for(export_format, framework)}}]
    if path == f"{quant}.method":
        extra = {"calibration_data": _calibration(framework)} if value == "static" else {}
        return [_nest(quant, {"method": value, **extra})]
    if path.startswith(quant + "."):
        name = path.rsplit(".", 1)[-1]
        method = "fp16" if value == "float16" else "dynamic" if name == "dtype" else "static"
        extra = {"calibration_data": _calibration(framework)} if method == "static" else {}
        return [_nest(quant, {"method": method, **extra, name: value})]
    if path == f"{prune}.method":
        return [_nest(prune, {"method": value})]
    if path.startswith(prune + "."):
        name = path.rsplit(".", 1)[-1]
        extra: dict[str, Any] = {"pruning_schedule": "iterative"} if name == "steps" else {}
        if name == "fine_tune_epochs":
            extra["fine_tune_data"] = str(sample(SAMPLES[framework]).dataset)
        return [_nest(prune, {"method": "unstructured", **extra, name: value})]
    if path.startswith("validation_config."):
        name = path.rsplit(".", 1)[-1]
        data = {"data": str(sample(SAMPLES[framework]).dataset)} if name != "data" else {}
        return [{"validation_config": {"enabled": True, **data, name: value}}]
    return [_nest(path, value)]


def _fields() -> Iterator[tuple[str, type[BaseModel], str]]:
    """(path prefix, model, field) for every option outside export_config."""
    yield from (("", ExportSpec, n) for n in ("batch_size", "input_size"))
    yield "optimization_config", OptimizationConfig, "goal"
    sections: list[tuple[str, type[BaseModel]]] = [
        ("optimization_config.quantization", QuantizationConfig),
        ("optimization_config.pruning", PruningConfig),
        ("validation_config", ValidationConfig),
    ]
    for prefix, model in sections:
        for name in model.model_fields:
            if (model, name) != (ValidationConfig, "fail_threshold"):
                yield prefix, model, name


def generate() -> list[Case]:
    cases: list[Case] = []
    for fmt in formats.all_formats():
        for framework in SAMPLES:
            options = [(f"export_config.{n}", fmt.config, n) for n in fmt.config.model_fields]
            options += [(f"{p}.{n}" if p else n, m, n) for p, m, n in _fields()]
            for path, model, name in options:
                for value in candidates(model, name, framework):
                    for sections in _requisites(path, value, framework, fmt.name):
                        cases.append(_judge(Case(framework, fmt.name, path, value, sections)))
    return cases


def _judge(case: Case) -> Case:
    """Build the case's spec and ask the rules: refused (with what they say) or honoured."""
    data = _merge({**base(case.framework), "export_format": case.export_format}, case.sections)
    try:
        case.spec = parse_spec(data)
        offers.check(case.spec, case.framework, TASK[case.framework])
    except (BadInput, Unsupported) as err:
        case.refusal = err.message
    return case
