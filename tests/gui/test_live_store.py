"""The open app follows the job store: an export run from the CLI appears in the history,
progresses there live and settles, without a restart or a refresh."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from core.db import Database, ExportJob
from core.jobs import JobService
from core.launch import process_alive
from core.paths import database_path
from core.samples import sample
from gui.app import ensure_samples
from gui.main_window import MainWindow
from gui.store_watcher import LiveRead, StoreWatcher
from tests.helpers import CliRun, slipway


def test_an_export_run_from_the_cli_appears_progresses_and_settles_in_the_open_app(
    window: MainWindow, qtbot: QtBot, slipway_home: Path, tmp_path: Path
) -> None:
    history = window.history
    history.all_models.setChecked(True)
    known = {row["id"] for row in history.model.rows}
    seen: list[tuple[str, float]] = []  # (status, progress) of the CLI's row, as shown

    def look(*_args: Any) -> None:
        seen.extend(
            (row["status"], float(row["progress_percent"] or 0))
            for row in history.model.rows
            if row["id"] not in known
        )

    history.model.dataChanged.connect(look)
    history.model.modelReset.connect(look)
    ran: dict[str, CliRun] = {}
    cli = threading.Thread(
        target=lambda: ran.update(
            run=slipway(
                "export",
                str(sample("shapes-yolo11n").checkpoint),
                "--format",
                "onnx",
                "--out",
                str(tmp_path / "cli"),
                "--json",
                home=slipway_home,
                timeout=300,
            )
        )
    )
    cli.start()
    try:
        qtbot.waitUntil(lambda: any(status == "completed" for status, _ in seen), timeout=300_000)
    finally:
        cli.join(timeout=300)
    run = ran["run"]
    assert run.code == 0, run.stderr[-2000:]
    [row] = [row for row in history.model.rows if row["id"] not in known]
    assert row["id"] == run.result["export_id"] and row["status"] == "completed"
    assert any(status == "running" and 0 < progress < 100 for status, progress in seen), seen
    window.models.select(row["checkpoint_id"])  # the Models page's export list has it too
    qtbot.waitUntil(lambda: window.models.exports_model.row_of(row["id"]) >= 0, timeout=10_000)


def test_the_cli_helper_kills_the_worker_of_a_run_past_its_timeout(
    slipway_home: Path, tmp_path: Path
) -> None:
    with pytest.raises(subprocess.TimeoutExpired):
        slipway(
            "export",
            str(sample("shapes-yolo11n").checkpoint),
            "--format",
            "tflite",  # minutes of conversion: still running when the helper's timeout hits
            "--out",
            str(tmp_path / "out"),
            home=slipway_home,
            timeout=10,
        )
    db = Database(slipway_home / database_path().name)
    with db.session() as s:
        [job] = s.query(ExportJob).all()
    db.close()
    assert job.process_id is not None
    deadline = time.monotonic() + 10  # SIGKILL was sent; the process ends a moment later
    while process_alive(job.process_id) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not process_alive(job.process_id)


def test_a_commit_by_another_process_is_heard_and_read_off_the_ui_thread(qtbot: QtBot) -> None:
    service = JobService()
    ensure_samples(service)
    owner = QWidget()
    qtbot.addWidget(owner)
    watcher = StoreWatcher(service.db.path, owner)
    readers: list[int] = []
    applied: list[list[str]] = []

    def read() -> list[str]:
        readers.append(threading.get_ident())
        return [c.name for c in service.checkpoints()]

    LiveRead(watcher, read, applied.append, owner, "Reading the library")
    rename = (
        "from core.jobs import JobService; s = JobService(); "
        f"s.update_checkpoint({service.checkpoints()[0].id!r}, name='renamed elsewhere')"
    )
    with qtbot.waitSignal(watcher.sig_changed, timeout=15_000):
        subprocess.run([sys.executable, "-c", rename], check=True, timeout=120)
    qtbot.waitUntil(lambda: any("renamed elsewhere" in names for names in applied), timeout=15_000)
    assert readers and threading.get_ident() not in readers
