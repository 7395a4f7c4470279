"""Real exports of the bundled samples, made once per session and shared by the tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import EXPORTS, CliRun, slipway


@pytest.fixture(scope="session")
def export_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("export-home")


@pytest.fixture(scope="session")
def exported(export_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], CliRun]:
    """exported(name) → the CLI run that exported that sample (done once, on first use)."""
    cache: dict[str, CliRun] = {}
    out_root = tmp_path_factory.mktemp("packages")

    def get(name: str) -> CliRun:
        if name not in cache:
            run = slipway("export", *EXPORTS[name], "--out", str(out_root / name), "--json",
                          home=export_home)
            assert run.code == 0, f"export {name} failed:\n{run.stderr[-3000:]}"
            cache[name] = run
        return cache[name]

    return get
