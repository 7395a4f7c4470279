"""An export outlives the `slipway export` that started it: the worker finishes, the next start settles it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from core.db import Database, ExportJob
from core.launch import process_alive
from core.samples import sample
from tests.helpers import SLIPWAY, slipway

pytestmark = pytest.mark.slow  # a real export of the sample detector


def test_killing_the_cli_mid_export_still_gives_a_completed_job_with_its_package(
    slipway_home: Path, tmp_path: Path,
) -> None:
    out = tmp_path / "package"
    cli = subprocess.Popen(
        [*SLIPWAY, "export", str(sample("shapes-yolo11n").checkpoint), "--format", "onnx", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "SLIPWAY_HOME": str(slipway_home)},
    )
    assert cli.stderr is not None
    for line in cli.stderr:  # the first progress line: the job is recorded and the worker runs
        if "%" in line:
            break
    else:
        pytest.fail(f"the export printed no progress (exit {cli.wait()})")
    cli.send_signal(signal.SIGKILL)  # as a closed terminal or a crash would leave it
    cli.wait()
    with Database(slipway_home / "slipway.db").session() as s:
        job = s.query(ExportJob).one()
    assert job.status == "running" and job.process_id
    deadline = time.monotonic() + 600
    while process_alive(job.process_id):  # the worker goes on without anyone reading its events
        assert time.monotonic() < deadline, "the worker did not finish"
        time.sleep(0.5)
    shown = slipway("jobs", "show", job.id, home=slipway_home, timeout=120)  # the next start settles it
    assert shown.code == 0, shown.stderr
    settled = json.loads(shown.stdout)
    assert settled["status"] == "completed", settled["error_message"]
    assert (out / "model.onnx").is_file() and (out / "export-package.zip").is_file()
    assert (out / "result.json").is_file() and (out / "export.log").is_file()
    assert (slipway_home / "jobs" / job.id / "worker.log").is_file()
