"""The option contract: every option value of every config × framework × format has one of two
outcomes, never a third.

* refused up front: the rules the CLI, the app and the job service apply (core.offers) name
  the option and say what to do instead;
* honoured: its effect is in the exported file (or, for a runtime setting, in metadata.json,
  which says what was really done), read back by tests/contract/effects.py.

The cases are generated from the format registry (tests/contract/cases.py). Honoured cases
are exported in groups (compatible options share one real export, run in this process).
`make test` runs every refused case and the honoured ones of a representative slice;
`make test-contract` runs every case (SLIPWAY_CONTRACT_FULL=1).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from core import offers
from core.errors import BadInput, Unsupported
from core.spec import parse_spec
from tests.contract.cases import TASK, Case, _merge, base, generate
from tests.contract.effects import PROBES, metadata_of

CASES = generate()
REFUSED = [c for c in CASES if c.refusal is not None]
HONOURED = [c for c in CASES if c.refusal is None]
FULL = os.environ.get("SLIPWAY_CONTRACT_FULL") == "1"
# options that must not share an export: validation judges accuracy, which pruning without a
# fine-tune ruins on purpose and INT8 may cost; a dynamic batch axis hides a fixed batch size; a lossy
# quantizer should not be blamed for what pruning did (or the other way round); the input size
# is read from the graph's input, which dynamic axes or embedded preprocessing replace
APART = (("validation_config", "optimization_config"),
         ("export_config.dynamic_axes", "batch_size"),
         ("export_config.dynamic_axes", "input_size"),
         ("export_config.embed_preprocessing", "input_size"),
         ("optimization_config.quantization", "optimization_config.pruning"))
# the slice `make test` exports: one framework through three formats, and the options the
# issue saw ignored before (per-tensor dynamic axes, the quantized dtype) on another
SLICE_PATHS = ("export_config.dynamic_axes", "optimization_config.quantization.dtype")


def _leaves(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and key != "dynamic_axes":
            out.update(_leaves(value, path + "."))
        else:
            out[path] = value
    return out


@dataclass
class Group:
    framework: str
    export_format: str
    sections: dict[str, Any] = field(default_factory=dict)
    cases: list[Case] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.framework}-{self.export_format}-{len(self.cases)}-{id(self)}"

    def accepts(self, case: Case) -> bool:
        mine, theirs = _leaves(self.sections), _leaves(case.sections)
        if any(path in mine and mine[path] != value for path, value in theirs.items()):
            return False
        for first, second in APART:
            if (any(p.startswith(first) for p in mine) and any(p.startswith(second) for p in theirs)) or (
                    any(p.startswith(second) for p in mine) and any(p.startswith(first) for p in theirs)):
                return False
        merged = _merge(self.sections, case.sections)
        try:
            spec = parse_spec(_merge({**base(self.framework), "export_format": self.export_format}, merged))
            offers.check(spec, self.framework, TASK[self.framework])
        except (BadInput, Unsupported):
            return False
        return True

    @property
    def in_slice(self) -> bool:
        return (self.framework == "timm" and self.export_format in ("onnx", "torchscript", "openvino")) or (
            self.framework == "huggingface" and self.export_format == "onnx"
            and any(c.path in SLICE_PATHS for c in self.cases))


def grouped(cases: list[Case]) -> list[Group]:
    groups: list[Group] = []
    for case in cases:
        route = (case.framework, case.export_format)
        group = next((g for g in groups if (g.framework, g.export_format) == route and g.accepts(case)), None)
        if group is None:
            group = Group(case.framework, case.export_format)
            groups.append(group)
        group.sections = _merge(group.sections, case.sections)
        group.cases.append(case)
    return groups


GROUPS = grouped(HONOURED)
GROUP_OF = {id(c): g for g in GROUPS for c in g.cases}


def test_every_option_is_generated_and_judged() -> None:
    """The generator reaches every field of every format's settings, and every honoured
    option has a probe that reads its effect back."""
    from core import formats

    for fmt in formats.all_formats():
        for name in fmt.config.model_fields:
            assert any(c.export_format == fmt.name and c.path == f"export_config.{name}" for c in CASES), name
    missing = sorted({c.path for c in HONOURED} - set(PROBES))
    assert not missing, f"honoured options without a probe: {missing}"
    assert len(CASES) > 400 and REFUSED and HONOURED


WAY_OUT = ("use ", "choose ", "leave ", "add ", "remove", "install", "export ", "set ", "give ")


@pytest.mark.parametrize("case", REFUSED, ids=[c.id for c in REFUSED])
def test_refused_up_front_naming_the_option_and_the_way_out(case: Case) -> None:
    message = case.refusal or ""
    # the option, or what it needs beside it (fine_tune_epochs needs fine_tune_data), or the
    # whole route (framework → format) when the format cannot be made here at all
    options = {p.rsplit(".", 1)[-1] for p in _leaves(case.sections)} | {case.path.rsplit(".", 1)[-1]}
    assert any(o in message for o in options) or "→" in message, \
        f"the refusal names none of {sorted(options)}: {message}"
    says_what_to_do = any(w in message.lower() for w in WAY_OUT)
    says_what_is_missing = "not built" in message or "not installed" in message
    assert says_what_to_do or says_what_is_missing, f"the refusal does not say what to do instead: {message}"


@pytest.fixture(scope="session")
def contract_export(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Group | None, str, str], Path]:
    """A group's package (exported once, in this process, as the worker would)."""
    from exporters.emitter import Emitter
    from exporters.pipeline import run_export

    done: dict[str, Path] = {}
    root = tmp_path_factory.mktemp("contract")

    def export(group: Group | None, framework: str, fmt: str) -> Path:
        key = group.key if group else f"baseline-{framework}-{fmt}"
        if key not in done:
            sections = group.sections if group else {}
            spec = parse_spec(_merge({**base(framework), "export_format": fmt}, sections))
            out = root / key
            run_export(spec, out, Emitter(io.StringIO()))
            done[key] = out
        return done[key]

    return export


RUN = [c for c in HONOURED if FULL or GROUP_OF[id(c)].in_slice]


@pytest.mark.slow
@pytest.mark.parametrize("case", RUN, ids=[c.id for c in RUN])
def test_honoured_in_the_package(
    case: Case, contract_export: Callable[[Group | None, str, str], Path]
) -> None:
    group = GROUP_OF[id(case)]
    package = contract_export(group, case.framework, case.export_format)
    meta = metadata_of(package)
    assert meta["parity"].get("passed") in (True, None)
    baseline = contract_export(None, case.framework, case.export_format) if case.path.endswith("simplify") \
        else None
    # the probe reads the settings the package was really made with: the group's, which
    # include this case's option
    exported = parse_spec(_merge({**base(case.framework), "export_format": case.export_format},
                                 group.sections))
    PROBES[case.path](replace(case, spec=exported), package, meta, baseline)
