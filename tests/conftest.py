"""Shared fixtures. Every test runs with its own SLIPWAY_HOME and HOME, offline."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.raycluster import RayCluster

ROOT = Path(__file__).resolve().parents[1]
NETGUARD = Path(__file__).resolve().parent / "netguard"
sys.path.insert(0, str(NETGUARD))

from slipway_netguard import install as install_netguard  # noqa: E402

from tests.helpers import EXPORTS, CliRun, slipway  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def offline_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """No network for this process or any it starts; a home that is not the user's."""
    base = tmp_path_factory.mktemp("session")
    log = base / "netguard.log"
    home = base / "home"
    home.mkdir()
    patch = pytest.MonkeyPatch()
    patch.setenv("SLIPWAY_BLOCK_NETWORK", "1")
    patch.setenv("SLIPWAY_NETGUARD_LOG", str(log))
    patch.setenv("PYTHONPATH", os.pathsep.join([str(NETGUARD), str(ROOT)]))
    patch.setenv("HOME", str(home))
    patch.setenv("QT_QPA_PLATFORM", "offscreen")
    from exporters.offline import configure_offline

    configure_offline(base / "cache")
    install_netguard()
    yield base
    patch.undo()
    if log.exists() and log.read_text().strip():
        pytest.fail(f"something tried to reach the network during the tests:\n{log.read_text()}")


@pytest.fixture(autouse=True)
def slipway_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "slipway-home"
    monkeypatch.setenv("SLIPWAY_HOME", str(home))
    return home


# Real exports of the bundled samples, made once per session and shared by every test folder.

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


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayCluster]:
    """A loopback Ray cluster (tests/raycluster.py: a head and a second node), stopped after
    the module's tests."""
    pytest.importorskip("ray.job_submission", reason="the 'cluster' extra (Ray) is not installed")
    from tests.raycluster import start_cluster

    cluster = start_cluster(tmp_path_factory.mktemp("ray"))
    try:
        yield cluster
    finally:
        cluster.stop()
