"""Command-line flags generated from the spec's models, as the wizard's forms are.

Every field of every format's settings model (core/formats) becomes a flag of
``slipway export``: ``--<field-name>``, or the short name the field declares
(``json_schema_extra={"flag": "--opset"}``). Formats that share a flag (``--precision``)
share it on the command line; the chosen format's model validates the value. A
flag of another format is refused naming the formats it belongs to. Literal
choices match case-insensitively (``--precision fp16`` is OpenVINO's ``FP16``).
The quantization settings that tune a quantizer get flags the same way.
"""

from __future__ import annotations

import argparse
import types
from dataclasses import dataclass, field
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from core import formats
from core.errors import BadInput


def _flag_name(name: str, info: FieldInfo) -> str:
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    return str(extra.get("flag") or f"--{name.replace('_', '-')}")


def _literal_values(annotation: Any) -> list[Any] | None:
    if get_origin(annotation) is Literal:
        return list(get_args(annotation))
    return None


def _plain(annotation: Any) -> Any:
    """``X | None`` → X; ``Annotated`` has already been unwrapped by pydantic."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


@dataclass
class Flag:
    """One flag and the fields (of one model per owner, e.g. per format) it sets."""

    flag: str
    fields: dict[str, tuple[type[BaseModel], str]] = field(default_factory=dict)

    @property
    def dest(self) -> str:
        return "opt_" + self.flag.lstrip("-").replace("-", "_")

    def owners(self) -> str:
        return "/".join(self.fields)


def model_flags(models: dict[str, type[BaseModel]], skip: frozenset[str] = frozenset()) -> dict[str, Flag]:
    """Flags for the fields of several models (owner name → model), merged by flag name."""
    flags: dict[str, Flag] = {}
    for owner, model in models.items():
        for name, info in model.model_fields.items():
            if name in skip:
                continue
            flag = _flag_name(name, info)
            flags.setdefault(flag, Flag(flag)).fields[owner] = (model, name)
    return flags


def add_arguments(parser: argparse.ArgumentParser, flags: dict[str, Flag]) -> None:
    for flag in flags.values():
        model, name = next(iter(flag.fields.values()))
        info = model.model_fields[name]
        annotation = _plain(info.annotation)
        if len(flag.fields) > 1:
            help_text = "; ".join(f"{owner}: {m.model_fields[n].description or n.replace('_', ' ')}"
                                  for owner, (m, n) in flag.fields.items())
        else:
            help_text = f"{info.description or name.replace('_', ' ')} ({flag.owners()})"
        choices = sorted({str(v) for m, n in flag.fields.values()
                          for v in (_literal_values(_plain(m.model_fields[n].annotation)) or [])})
        if annotation is bool or (get_origin(annotation) in (Union, types.UnionType)
                                  and bool in get_args(annotation)):
            action = argparse.BooleanOptionalAction if info.default is not False else "store_true"
            parser.add_argument(flag.flag, dest=flag.dest, action=action, default=None, help=help_text)
        elif get_origin(annotation) is list:
            (item,) = get_args(annotation)
            values = _literal_values(item)
            parser.add_argument(flag.flag, dest=flag.dest, nargs="+", metavar="VALUE",
                                help=help_text + (f"; of {', '.join(map(str, values))}" if values else ""))
        elif annotation in (int, float):
            parser.add_argument(flag.flag, dest=flag.dest, type=annotation, help=help_text,
                                metavar="N" if annotation is int else "X")
        else:
            metavar = "{" + ",".join(choices) + "}" if choices else "PATH"
            parser.add_argument(flag.flag, dest=flag.dest, metavar=metavar, help=help_text)


def _match_choice(value: Any, annotation: Any) -> Any:
    """A Literal's own spelling of a value typed in another case (fp16 → FP16)."""
    choices = _literal_values(_plain(annotation))
    if choices and isinstance(value, str):
        for choice in choices:
            if isinstance(choice, str) and choice.lower() == value.lower():
                return choice
    return value


def values_for(args: argparse.Namespace, flags: dict[str, Flag], owner: str,
               where: str | None = None) -> dict[str, Any]:
    """The fields of ``owner``'s model the given flags set; a flag ``owner`` lacks is an error."""
    values: dict[str, Any] = {}
    wrong: list[str] = []
    for flag in flags.values():
        value = getattr(args, flag.dest, None)
        if value is None or (value is False and flag.flag not in _negatable(flags)):
            continue
        if owner not in flag.fields:
            wrong.append(f"{flag.flag} ({flag.owners()})")
            continue
        model, name = flag.fields[owner]
        annotation = model.model_fields[name].annotation
        if isinstance(value, list):
            item = get_args(_plain(annotation))
            value = [_match_choice(v, item[0]) for v in value] if item else value
        values[name] = _match_choice(value, annotation)
    if wrong:
        raise BadInput(f"{', '.join(wrong)} do not apply to {where or owner}")
    return values


def _negatable(flags: dict[str, Flag]) -> set[str]:
    """Flags whose default is not false: --no-FLAG sets them false, which must reach the spec."""
    negatable = set()
    for flag in flags.values():
        model, name = next(iter(flag.fields.values()))
        if model.model_fields[name].default is not False:
            negatable.add(flag.flag)
    return negatable


def format_flags() -> dict[str, Flag]:
    """Every format's settings as flags of `slipway export`."""
    return model_flags({f.name: f.config for f in formats.all_formats()})


def quantization_flags() -> dict[str, Flag]:
    """The settings that tune a quantizer (the method itself is --int8 / --half)."""
    from core.spec import QuantizationConfig

    return model_flags({"quantization": QuantizationConfig}, skip=frozenset({"method"}))


def optimization_flags() -> dict[str, Flag]:
    """optimization_config's own settings (its sections have flags of their own): --goal."""
    from core.spec import OptimizationConfig

    return model_flags({"optimization": OptimizationConfig}, skip=frozenset({"quantization", "pruning"}))
