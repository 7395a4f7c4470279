"""Schemathesis fuzzes the served OpenAPI schema (with a real key and real deployment ids): no 5xx."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.core.serve.conftest import Server

pytestmark = pytest.mark.slow  # needs the session's real exports


def test_fuzzing_the_openapi_schema_finds_no_server_error(
    deploy: Callable[..., dict[str, Any]], server: Server, tmp_path: Path
) -> None:
    det = deploy("det-onnx", tier="enterprise")
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        f'headers = {{ Authorization = "Bearer {det["api_key"]}" }}\n'
        f'[parameters]\ndeployment_id = "{det["id"]}"\nname = "{det["id"]}"\n',
        encoding="utf-8",
    )
    cli = Path(sys.executable).with_name("schemathesis")
    run = subprocess.run(
        [
            str(cli),
            "--config-file",
            str(config),
            "run",
            f"{server.url}/openapi.json",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "20",
            "--seed",
            "7",
            "--phases",
            "examples,coverage,fuzzing",
            "--request-timeout",
            "30",
            "--workers",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    report = run.stdout[-12000:] + run.stderr[-2000:]
    assert run.returncode == 0, report
    assert "/v1/infer/{deployment_id}" in run.stdout and "/v2/models/{name}/infer" in run.stdout, report
    assert server.process.poll() is None, "the server died under the fuzzing"
