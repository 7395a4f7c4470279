"""The one inference implementation: the packaged Python wrapper, imported from its template.

The package's ``runtimes/python/model_wrapper.py`` is a copy of the template
this module loads, so the parity gate, the inference test view, the endpoint and
the user's own code all run the same pre- and post-processing.
"""

from __future__ import annotations

import importlib.util
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from core.errors import BadInput

WRAPPER_TEMPLATE = Path(__file__).resolve().parent.parent / "wrappers" / "templates" / "python"
WRAPPER_FILE = WRAPPER_TEMPLATE / "model_wrapper.py"


@cache
def wrapper_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("slipway_model_wrapper", WRAPPER_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def open_package(package_dir: Path, threads: int | None = None) -> Any:
    """A ModelWrapper for an export package folder (model file named in metadata.json, which
    is checked against the schema first: a broken file is a BadInput naming what is wrong)."""
    from core.metadata import read_metadata

    package_dir = Path(package_dir)
    metadata_path = package_dir / "metadata.json"
    model_file = package_dir / read_metadata(metadata_path).model_info.model_file
    if not model_file.exists():
        raise BadInput(f"{package_dir}: the model file {model_file.name} is missing")
    return wrapper_module().ModelWrapper(model_file, metadata_path, threads=threads)
