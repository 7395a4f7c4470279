"""timm's architecture names, read from its source without importing it (or torch).

A bare state dict needs its timm architecture named (``--model-name``, the library's
architecture field). A typo is caught when it is typed, with the closest names
suggested, not minutes later in the worker. Importing timm would import torch (a
second or more, and never in the GUI process), so the names are read from timm's
model files: functions decorated with ``@register_model`` are architectures, the
string keys given to ``generate_default_cfgs`` are their ``arch.tag`` pretrained
configurations (wherever the module writes them), and ``register_model_deprecations``
maps old names to new. The
list is cached in the data directory, keyed by timm's version.
"""

from __future__ import annotations

import ast
import difflib
import json
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path

from core.errors import BadInput
from core.paths import cache_dir


def _timm_models_dir() -> Path | None:
    spec = find_spec("timm")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    return folder if folder.is_dir() else None


def _called(node: ast.Call, name: str) -> bool:
    func = node.func
    return (isinstance(func, ast.Name) and func.id == name) or (
        isinstance(func, ast.Attribute) and func.attr == name)


def _is_register_model(decorator: ast.expr) -> bool:
    return (isinstance(decorator, ast.Name) and decorator.id == "register_model") or (
        isinstance(decorator, ast.Attribute) and decorator.attr == "register_model")


def _read_module(path: Path, names: dict[str, list[str]], aliases: dict[str, str]) -> None:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return
    keys: list[str] = []  # every "arch.tag" string key of a dict literal: the pretrained configurations
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and any(_is_register_model(d) for d in node.decorator_list):
            names.setdefault(node.name, [])
        elif isinstance(node, ast.Dict):
            keys += [k.value for k in node.keys
                     if isinstance(k, ast.Constant) and isinstance(k.value, str)]
        if isinstance(node, ast.Call) and _called(node, "register_model_deprecations") and node.args \
                and isinstance(node.args[0], ast.Dict):
            for old, new in zip(node.args[0].keys, node.args[0].values, strict=False):
                if isinstance(old, ast.Constant) and isinstance(new, ast.Constant):
                    aliases[str(old.value)] = str(new.value)
    for key in keys:
        arch, _, tag = key.partition(".")
        if tag and arch in names and tag not in names[arch]:
            names[arch].append(tag)


def timm_architectures() -> tuple[dict[str, list[str]], dict[str, str]] | None:
    """(architecture → its pretrained tags, deprecated name → new name); None without timm."""
    folder = _timm_models_dir()
    if folder is None:
        return None
    version = metadata.version("timm")
    cache = cache_dir() / f"timm-names-{version}.json"
    try:
        data = json.loads(cache.read_text(encoding="utf-8"))
        return dict(data["names"]), dict(data["aliases"])
    except (OSError, ValueError, KeyError):
        pass
    names: dict[str, list[str]] = {}
    aliases: dict[str, str] = {}
    for path in sorted(folder.glob("*.py")):
        _read_module(path, names, aliases)
    names = {arch: tags for arch, tags in names.items() if not arch.startswith("_")}
    cache.write_text(json.dumps({"names": names, "aliases": aliases}), encoding="utf-8")
    return names, aliases


def check_timm_name(name: str) -> None:
    """Refuse an architecture timm does not know (``arch`` or ``arch.tag``), suggesting the closest."""
    known = timm_architectures()
    if known is None:
        return  # timm is not installed here: the worker says so, naming the extra
    names, aliases = known
    arch = name.partition(".")[0]
    arch = aliases.get(arch, arch)
    if arch not in names:
        close = difflib.get_close_matches(arch, list(names), n=5, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise BadInput(f"model_name: '{name}' is not a timm architecture{hint}")
    # a tag (arch.tag) is checked by the worker against timm's own registry: some modules
    # build their tag lists in code, which reading the source cannot always follow
