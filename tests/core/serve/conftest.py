"""Endpoint fixtures: a database with completed exports of the real sample packages, and a real server."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from core.db import Database
from core.deployments import DeploymentService
from core.jobs import JobService
from core.spec import ExportSpec
from tests.helpers import SLIPWAY, CliRun, slipway


def record_export(db: Database, run: CliRun) -> str:
    """A completed export row in ``db`` for a package the session fixture exported.

    The row goes through the job store's own create/finish with the worker's
    result event, exactly as when the CLI runs the export in this database.
    """
    result = run.result
    package = Path(result["package_dir"])
    spec = _spec_of(package)
    jobs = JobService(db)
    job = jobs.create_job(spec, out_dir=package)
    jobs.finish(job.id, 0, {**result, "type": "result"})
    return job.id


def _spec_of(package: Path) -> ExportSpec:
    import json

    metadata = json.loads((package / "metadata.json").read_text(encoding="utf-8"))
    return ExportSpec.model_validate(metadata["export"])


@dataclass
class Server:
    process: subprocess.Popen[str]
    url: str
    home: Path

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


def start_server(home: Path, *extra: str) -> Server:
    """`slipway serve --port 0` in its own process; returns once it printed its address."""
    env = {**os.environ, "SLIPWAY_HOME": str(home)}
    process = subprocess.Popen(
        [*SLIPWAY, "serve", "--port", "0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line.startswith("listening on http://"):
        process.kill()
        raise AssertionError(
            f"server did not start: {line!r}\n{process.stderr.read() if process.stderr else ''}"
        )
    return Server(process, line.removeprefix("listening on "), home)


@pytest.fixture()
def deploy(slipway_home: Path, exported: Callable[[str], CliRun]) -> Callable[..., dict[str, Any]]:
    """deploy("det-onnx", tier="pro") → the `slipway deploy --json` result (id, api_key, ...)."""
    db = Database(slipway_home / "slipway.db")
    recorded: dict[str, str] = {}

    def make(name: str, tier: str = "enterprise") -> dict[str, Any]:
        if name not in recorded:
            recorded[name] = record_export(db, exported(name))
        run = slipway(
            "deploy",
            recorded[name],
            "--type",
            "platform_endpoint",
            "--tier",
            tier,
            "--json",
            home=slipway_home,
        )
        assert run.code == 0, run.stderr
        return run.result

    return make


@pytest.fixture()
def server(slipway_home: Path) -> Iterator[Server]:
    running = start_server(slipway_home)
    yield running
    running.stop()


def service(home: Path) -> DeploymentService:
    return DeploymentService(Database(home / "slipway.db"))
