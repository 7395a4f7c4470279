"""The job store under contention: many processes creating exports of one checkpoint at the same instant."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path
from typing import Any

import pytest

from core.db import Database, ExportJob
from core.samples import sample

PROCESSES = 20


def _create(home: str, start: Any, results: Any) -> None:
    """One process: wait for the others, then create an export job (as `slipway export` does)."""
    os.environ["SLIPWAY_HOME"] = home
    try:
        from core.jobs import JobService
        from core.spec import parse_spec

        spec = parse_spec({"checkpoint": str(sample("shapes-yolo11n").checkpoint), "export_format": "onnx"})
        service = JobService()
        start.wait(timeout=120)
        results.put(("ok", service.create_job(spec).version))
    except BaseException as err:  # the test reports whatever escaped, traceback or not
        results.put(("error", f"{type(err).__name__}: {err}"))


@pytest.mark.parametrize("in_library", [False, True], ids=["new-checkpoint", "checkpoint-in-library"])
def test_simultaneous_creations_from_separate_processes_all_get_their_own_version(
    slipway_home: Path, in_library: bool,
) -> None:
    db = Database(slipway_home / "slipway.db")  # migrated once, as the app's first start does
    if in_library:  # only the version numbers race
        from core.jobs import JobService

        JobService(db).import_checkpoint(sample("shapes-yolo11n").checkpoint)
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(PROCESSES), context.Queue()
    workers = [context.Process(target=_create, args=(str(slipway_home), start, results))
               for _ in range(PROCESSES)]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=300) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    errors = [detail for kind, detail in outcomes if kind == "error"]
    assert not errors, errors
    assert sorted(version for _, version in outcomes) == list(range(1, PROCESSES + 1))
    with Database(slipway_home / "slipway.db").session() as s:
        ids = {job.id for job in s.query(ExportJob)}
    folders = {p.name for p in (slipway_home / "jobs").iterdir()}
    assert folders == ids, "a job folder without a job (or a job without its folder)"
