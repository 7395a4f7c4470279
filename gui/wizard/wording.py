"""Messages about a spec in the app's words: field paths and names become the titles the
wizard shows (the settings models own them), pydantic's prefixes go."""

from __future__ import annotations

import re

from pydantic import BaseModel

from core import formats
from core.spec import FORMAT_CONFIGS, FailThreshold, PruningConfig, QuantizationConfig, ValidationConfig

SPEC_HEADER = "invalid export spec:"
SECTIONS: dict[str, str] = {"optimization_config.quantization": "Quantization",
                            "optimization_config.pruning": "Pruning",
                            "validation_config.fail_threshold": "Validation",
                            "validation_config": "Validation"}


def _titles(model: type[BaseModel]) -> dict[str, str]:
    return {name: info.title for name, info in model.model_fields.items() if info.title}


def field_words(export_format: str) -> dict[str, str]:
    """Every path and snake_case name the wizard's forms edit → what the form calls it."""
    words: dict[str, str] = {}
    groups: list[tuple[str, type[BaseModel]]] = [
        ("optimization_config.quantization", QuantizationConfig),
        ("optimization_config.pruning", PruningConfig),
        ("validation_config.fail_threshold", FailThreshold), ("validation_config", ValidationConfig)]
    if export_format in FORMAT_CONFIGS:
        groups.insert(0, ("export_config", FORMAT_CONFIGS[export_format]))
    for prefix, model in groups:
        for name, title in _titles(model).items():
            words[f"{prefix}.{name}"] = f"“{title}”"
            if "_" in name:  # plain words ("method") stay as they are in a sentence
                words.setdefault(name, f"“{title}”")
    title = formats.get(export_format).title if export_format in formats.names() else export_format
    words["export_config"] = f"{title} settings"
    words.update(SECTIONS)
    return words


def in_app_words(message: str, export_format: str) -> str:
    """A spec problem as the wizard says it: titles for field paths and names."""
    if message.startswith(SPEC_HEADER):  # core's one-line-per-field list: the lines alone
        message = "\n".join(line.strip() for line in message.removeprefix(SPEC_HEADER).splitlines()
                             if line.strip())
    message = message.replace("Value error, ", "")
    words = field_words(export_format)
    pattern = re.compile(r"(?<![\w.])(" + "|".join(re.escape(k) for k in sorted(words, key=len, reverse=True))
                         + r")(?![\w])")
    return pattern.sub(lambda m: words[m.group(1)], message)
