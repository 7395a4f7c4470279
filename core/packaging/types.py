"""The package types: one entry per type, the only vocabulary for them.

``slipway package --type``, ``slipway deploy --type``, the deployment records, the
service's build/store/record steps and the GUI's choice lists all read this registry.
An entry says everything about a type: its name and title, the deployment type it
records (the seed's stored value: download | edge_package | container), the export
formats it accepts, its builder, its storage key, the deployment_config it records
and any extra upload it needs.

Adding a package type is one module that builds it and calls :func:`register`, plus
its name in ``BUILTIN_MODULES`` (docs/ARCHITECTURE.md walks through it).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core import formats
from core.errors import BadInput

if TYPE_CHECKING:
    from core.packaging.common import Progress
    from core.packaging.result import PackageResult
    from core.storage import Storage

BUILTIN_MODULES = ("core.packaging.download", "core.packaging.edge", "core.packaging.container")
DEPLOYMENT_TYPES = ("download", "edge_package", "container")  # the seed's values a package may record

Builder = Callable[[Path, Path, "Progress | None"], "PackageResult"]
"""(export folder, new or empty output folder, progress) → the built package."""
StorageKey = Callable[[str | None, str], str]
"""(export id or None, deployment id or a fresh id) → the key of the package's zip."""
DeploymentConfig = Callable[["PackageResult", dict[str, Any]], dict[str, Any]]
"""(package, what was stored) → this type's own fields of the deployment_config."""
ExtraUpload = Callable[["PackageResult", "Storage", str, "Progress | None"], dict[str, Any]]
"""(package, storage, deployment id, progress) → fields to add to the stored summary."""


def _no_config(result: PackageResult, stored: dict[str, Any]) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class PackageType:
    name: str  # the CLI's --type value and PackageResult.kind, e.g. "edge-ios"
    title: str  # for people: "iOS edge package"
    description: str  # one sentence: what is in it
    deployment_type: str  # what the deployment record stores (DEPLOYMENT_TYPES)
    formats: tuple[str, ...]  # the export formats it accepts; () accepts every format
    export_hint: str  # the export to make when the format does not fit: "--format coreml"
    builder: Builder
    storage_key: StorageKey
    deployment_config: DeploymentConfig = _no_config
    extra_upload: ExtraUpload | None = None
    export_note: str = ""  # advice added to a refusal: "add --dynamic to let Triton batch requests"
    order: int = 100  # where it stands in lists

    def accepts(self, export_format: str) -> bool:
        return not self.formats or export_format in self.formats

    def refusal(self, export_format: str) -> str | None:
        """Why an export of this format cannot become this package (None when it can)."""
        if self.accepts(export_format):
            return None
        wanted = " or ".join(self.formats)
        return (f"{_article(self.title)} {self.title} is made from {_article(wanted)} {wanted} export; this "
                f"export is {export_format}. Export the checkpoint again with {self.export_hint} "
                f"(slipway export CKPT {self.export_hint}) and package that"
                + (f"; {self.export_note}" if self.export_note else ""))

    @property
    def needed_format(self) -> str:
        """The export format to make when an export does not fit (the first it accepts)."""
        return self.formats[0] if self.formats else ""

    def mismatch(self, export_format: str) -> str | None:
        """Why an export of this format cannot become this package, in the app's words (no
        command line): the export to make instead is ``needed_format``; None when it can."""
        if self.accepts(export_format):
            return None
        wanted = " or ".join(_format_title(f) for f in self.formats)
        return (f"{_article(self.title)} {self.title} is made from {_article(wanted)} {wanted} export; "
                f"this one is {_format_title(export_format)}. Make {_article(wanted)} "
                f"{_format_title(self.needed_format)} export of this model, then package that")

    def check(self, export_format: str) -> None:
        """Refuse an export of the wrong format, before anything is written."""
        if (message := self.refusal(export_format)) is not None:
            raise BadInput(message, details={"package_type": self.name, "export_format": export_format,
                                             "accepted_formats": list(self.formats)})


def _format_title(name: str) -> str:
    return formats.get(name).title if name in formats.names() else name


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


_REGISTRY: dict[str, PackageType] = {}


def register(entry: PackageType) -> PackageType:
    """Called by each package module at import; a name may be registered once."""
    if entry.name in _REGISTRY:
        raise ValueError(f"package type {entry.name!r} registered twice")
    if entry.deployment_type not in DEPLOYMENT_TYPES:
        raise ValueError(f"package type {entry.name!r} records unknown deployment type "
                         f"{entry.deployment_type!r}; choose one of {', '.join(DEPLOYMENT_TYPES)}")
    _REGISTRY[entry.name] = entry
    return entry


def _load() -> dict[str, PackageType]:
    for module in BUILTIN_MODULES:
        importlib.import_module(module)
    return dict(sorted(_REGISTRY.items(), key=lambda item: item[1].order))


def package_types() -> list[PackageType]:
    """Every package type, in the product's order."""
    return list(_load().values())


def names() -> tuple[str, ...]:
    """The package types' names: ``slipway package --type`` choices."""
    return tuple(_load())


def get(name: str) -> PackageType:
    entry = _load().get(name)
    if entry is None:
        raise BadInput(f"unknown package type {name!r}; choose one of {', '.join(names())}")
    return entry


def for_format(export_format: str) -> list[PackageType]:
    """The package types an export of this format can become."""
    return [entry for entry in package_types() if entry.accepts(export_format)]
