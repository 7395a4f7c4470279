"""A data directory that cannot be written is refused with exit 2 and its path, never a traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.samples import sample
from tests.helpers import slipway


def _homes(tmp_path: Path) -> list[tuple[str, Path, Path]]:
    """(case, SLIPWAY_HOME, the path the message must name)."""
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    db_folder = tmp_path / "db-is-a-folder"
    (db_folder / "slipway.db").mkdir(parents=True)
    cases = [("home is a file", a_file, a_file), ("home under a file", a_file / "home", a_file / "home"),
             ("database path is a folder", db_folder, db_folder / "slipway.db")]
    if os.geteuid() != 0:  # root writes through permission bits
        read_only = tmp_path / "read-only"
        read_only.mkdir(mode=0o500)
        cases.append(("read-only folder", read_only, read_only))
    return cases


COMMANDS = {"jobs": ["jobs", "list"], "deployments": ["deployments", "list"],
            "serve": ["serve", "--port", "0"],
            "export": ["export", str(sample("shapes-yolo11n").checkpoint), "--format", "onnx"]}


@pytest.mark.parametrize("command", list(COMMANDS.values()), ids=list(COMMANDS))
def test_an_unwritable_data_directory_is_refused_naming_its_path(
    tmp_path: Path, command: list[str],
) -> None:
    for case, home, named in _homes(tmp_path):
        run = slipway(*command, home=home, timeout=120)
        assert run.code == 2, f"{case}: exit {run.code}\n{run.stderr[-2000:]}"
        assert "Traceback" not in run.stderr, case
        assert str(named) in run.stderr and "SLIPWAY_HOME" in run.stderr, f"{case}: {run.stderr}"
