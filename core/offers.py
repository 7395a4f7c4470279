"""What Slipway offers for an export: every option is honoured, or refused here.

Before a job exists (the CLI before it starts the worker, the app's wizard on every
change, the job service when it records a job, the worker as its first act) the spec
is checked against the rules: each format's own (``Format.rules`` in core/formats)
and the ones below, which span formats (quantization, pruning, validation). A value
no rule refuses is honoured by the worker, and the option contract test
(tests/contract/) proves it in the exported file.

Only what the spec and the checkpoint's bytes say is known here (framework, task);
what only loading the model can tell (an NMS-free head, a processor option) is
refused by the worker's load stage, before any conversion.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import formats
from core.checkpoint import hf_processor_size
from core.errors import BadInput, SlipwayError, Unsupported, install_command
from core.formats.base import Rule
from core.spec import ExportSpec
from core.timm_names import check_timm_name

_OPTIMIZATION = "optimization_config"
_QUANT = f"{_OPTIMIZATION}.quantization"
_PRUNE = f"{_OPTIMIZATION}.pruning"


@dataclass(frozen=True)
class Context:
    """The export a rule judges: its spec, and what the checkpoint says it is."""

    spec: ExportSpec
    framework: str
    task: str | None  # None until the model is loaded (some bare state dicts)

    @property
    def format(self) -> str:
        return self.spec.export_format

    @property
    def quantization_method(self) -> str | None:
        quantization = self.spec.optimization_config.quantization
        return None if quantization is None else quantization.method

    def given(self, path: str) -> bool:
        """Whether the user set the option at ``path`` (not a default)."""
        parent, _, name = path.rpartition(".")
        owner = value_at(self.spec, parent) if parent else self.spec
        return owner is not None and name in getattr(owner, "model_fields_set", set())


def value_at(spec: Any, path: str) -> Any:
    value = spec
    for part in path.split("."):
        if value is None:
            return None
        value = getattr(value, part, None)
    return value


def _quantizers(method: str) -> str:
    where = [f.name for f in formats.all_formats() if method in f.quantizers]
    return ", ".join(where) if where else "no format"


def _not_for_format(path: str, applies: str) -> Rule:
    """A quantization setting only one quantizer reads: refuse it where it would be ignored."""
    def ignored(value: Any, context: Context) -> bool:
        onnx_static = context.format == "onnx" and context.quantization_method == "static"
        return context.given(path) and not onnx_static

    return Rule(path, ignored,
                f"{path.rsplit('.', 1)[-1]} tunes {applies}; the {{format}} quantizer does not read it: "
                "leave it unset", "bad_input")


def _timm_name_problem(value: Any, context: Context) -> str | None:
    if value is None or context.framework != "timm":
        return None
    try:
        check_timm_name(str(value))
    except BadInput as err:
        return err.message
    return None


def _systems(names: Iterable[str]) -> str:
    return " and ".join({"Darwin": "macOS"}.get(n, n) for n in names)


def _fixed_processor_size(value: Any, context: Context) -> tuple[int, int] | None:
    """The Hugging Face processor's fixed output size when ``input_size`` asks for another."""
    if value is None or context.framework != "huggingface":
        return None
    fixed = hf_processor_size(Path(context.spec.checkpoint))
    return fixed if fixed is not None and fixed != (value, value) else None


def _fixed_size_message(value: Any, context: Context) -> str:
    height, width = _fixed_processor_size(value, context) or (0, 0)
    return (f"input_size {value}: this checkpoint's image processor makes {width}x{height} tensors and "
            "Slipway does not change a fixed processor size; export without --imgsz (input_size)")


GENERAL_RULES: tuple[Rule, ...] = (
    Rule("input_size", lambda v, c: _fixed_processor_size(v, c) is not None, _fixed_size_message),
    Rule("model_name", lambda v, c: _timm_name_problem(v, c) is not None,
         lambda v, c: str(_timm_name_problem(v, c)), "bad_input"),
    Rule(f"{_QUANT}.method", lambda v, c: v not in formats.get(c.format).quantizers,
         "{format} has no '{value}' quantizer; export to a format that has one: " + "{quantizers}"),
    Rule(f"{_QUANT}.dtype", lambda v, c: c.quantization_method == "fp16" and c.given(f"{_QUANT}.dtype")
         and v != "float16", "method fp16 makes float16 weights; leave dtype unset or float16", "bad_input"),
    Rule(f"{_QUANT}.dtype", lambda v, c: c.quantization_method in ("dynamic", "static") and v == "float16",
         "float16 is method 'fp16', not an INT8 dtype: choose qint8 or quint8", "bad_input"),
    Rule(f"{_QUANT}.dtype", lambda v, c: v == "quint8" and c.format != "onnx",
         "the {format} quantizer makes signed int8 weights: choose qint8 (quint8 weights are ONNX only)"),
    Rule(f"{_QUANT}.calibration_data", lambda v, c: v is not None and c.quantization_method != "static",
         "calibration images are read by static INT8 only; remove them, or use method 'static'", "bad_input"),
    Rule(f"{_QUANT}.calibration_samples",
         lambda v, c: c.given(f"{_QUANT}.calibration_samples") and c.quantization_method != "static",
         "calibration_samples applies to static INT8 only", "bad_input"),
    _not_for_format(f"{_QUANT}.calibration_method", "ONNX Runtime's static calibration"),
    _not_for_format(f"{_QUANT}.quant_format", "ONNX Runtime's static quantization"),
    _not_for_format(f"{_QUANT}.per_channel", "ONNX Runtime's static quantization"),
    Rule(f"{_PRUNE}.method", lambda v, c: v == "structured" and c.framework == "ultralytics",
         "structured pruning of YOLO models is not built: Torch-Pruning's dependency search did not finish "
         "on YOLO11's attention block in over 10 minutes; use unstructured pruning"),
    Rule(f"{_PRUNE}.fine_tune_data", lambda v, c: v is not None and c.task not in (None, "classify"),
         "the recovery fine-tune trains classifiers on an ImageFolder; a {task} model cannot use it"),
    Rule(f"{_PRUNE}.steps", lambda v, c: c.given(f"{_PRUNE}.steps")
         and value_at(c.spec, f"{_PRUNE}.pruning_schedule") != "iterative",
         "steps applies to pruning_schedule 'iterative'", "bad_input"),
    Rule(f"{_PRUNE}.fine_tune_epochs", lambda v, c: c.given(f"{_PRUNE}.fine_tune_epochs")
         and value_at(c.spec, f"{_PRUNE}.fine_tune_data") is None,
         "fine_tune_epochs applies with fine_tune_data (an ImageFolder)", "bad_input"),
    Rule("validation_config.data", lambda v, c: v is not None and not c.spec.validation_config.enabled,
         "a validation dataset is given but validation is not enabled: set enabled true (--validate)",
         "bad_input"),
    Rule("validation_config.enabled", lambda v, c: bool(v) and not formats.get(c.format).runs_here(),
         lambda v, c: f"validation_config.enabled: validation runs the exported model on your data, and "
                      f"{formats.get(c.format).title} runs on {_systems(formats.get(c.format).runs_on)} "
                      "only: validate on such a machine, or leave validation off here"),
    Rule("validation_config.enabled", lambda v, c: bool(v) and c.task in ("obb", "semantic"),
         "accuracy validation of {task} models is not built (no rotated-box mAP or mIoU yet); the "
         "parity gate still checks the export"),
    Rule("validation_config.metrics", lambda v, c: bool(set(v) - _metrics_for(c.task)),
         "metrics {value} do not fit a {task} model: choose from {metrics}", "bad_input"),
)


def _metrics_for(task: str | None) -> set[str]:
    if task is None:
        return {"accuracy", "top1", "top5", "mAP50", "mAP50-95"}
    return {"accuracy", "top1", "top5"} if task == "classify" else {"mAP50", "mAP50-95"}


def rules_for(export_format: str) -> tuple[Rule, ...]:
    return (*formats.get(export_format).rules, *GENERAL_RULES)


def _message(rule: Rule, value: Any, context: Context) -> str:
    if callable(rule.message):
        return rule.message(value, context)
    method = context.quantization_method or ""
    text = rule.message.format(value=value, framework=context.framework, task=context.task or "",
                               format=context.format, quantizers=_quantizers(str(value) or method),
                               metrics=", ".join(sorted(_metrics_for(context.task))))
    return f"{rule.path} {value!r}: {text}"


def refusals(spec: ExportSpec, framework: str, task: str | None) -> list[tuple[Rule, str]]:
    """Every rule this export breaks, with its message (empty: everything is honoured)."""
    context = Context(spec, framework, task)
    found = []
    for rule in rules_for(spec.export_format):
        value = value_at(spec, rule.path)
        if value is None and rule.path.startswith(_OPTIMIZATION):
            continue  # the section is not there: nothing to judge
        if rule.refuses(value, context):
            found.append((rule, _message(rule, value, context)))
    return found


def route_problem(framework: str, export_format: str) -> Unsupported | None:
    """Why this machine cannot make this format from this framework (None: it can)."""
    from core.registry import route_for, unavailable_reason

    route = route_for(framework, export_format)
    reason, extra = unavailable_reason(route)
    if not reason:
        return None
    install = f"; install with: {install_command(extra)}" if extra else ""
    return Unsupported(f"{framework} → {export_format}: {reason}{install}")


def check(spec: ExportSpec, framework: str, task: str | None, *, here: bool = True) -> None:
    """Raise one error naming every option this export cannot honour, before a job exists.

    BadInput (exit 2) when only nonsensical combinations were found, Unsupported
    (exit 3) when anything asked is not possible here. ``here=False``: the export runs on
    a cluster, whose placement check (core.cluster) answers whether the route's needs exist.
    """
    problem = route_problem(framework, spec.export_format) if here else None
    if problem is not None:
        raise problem
    found = refusals(spec, framework, task)
    if not found:
        return
    lines = "\n  ".join(message for _, message in found)
    error: type[SlipwayError] = Unsupported if any(r.code == "unsupported" for r, _ in found) else BadInput
    raise error(f"these options cannot be honoured for this {framework} model:\n  {lines}",
                details={"refused": [r.path for r, _ in found]})


def subject(spec: ExportSpec) -> tuple[str, str | None]:
    """(framework, task) of the spec's checkpoint: the spec's words, else its bytes' (no torch)."""
    from core.checkpoint import inspect_checkpoint

    info = inspect_checkpoint(spec.checkpoint)
    framework = info.framework if spec.framework == "auto" else spec.framework
    task = info.task if spec.task == "auto" else spec.task
    return framework, task


def check_spec(spec: ExportSpec, *, here: bool = True) -> tuple[str, str | None]:
    """:func:`check` for a spec's own checkpoint; returns its (framework, task)."""
    framework, task = subject(spec)
    check(spec, framework, task, here=here)
    return framework, task


def allowed(values: Iterable[Any], path: str, spec: ExportSpec, framework: str,
            task: str | None) -> list[Any]:
    """The values at ``path`` no rule refuses for this export (what the wizard offers)."""
    context = Context(spec, framework, task)
    rules = [r for r in rules_for(spec.export_format) if r.path == path]
    return [v for v in values if not any(r.refuses(v, context) for r in rules)]


__all__ = ["GENERAL_RULES", "Context", "allowed", "check", "check_spec", "refusals", "route_problem",
           "rules_for", "subject", "value_at"]
