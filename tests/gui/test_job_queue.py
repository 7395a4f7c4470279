"""The app's export queue with real workers: the limit, cancelling a queued export, the
timeout, and the Jobs settings."""

from __future__ import annotations

from pathlib import Path

from pytestqt.qtbot import QtBot

from core.jobs import QUEUED_ORPHANED
from core.samples import sample
from core.spec import ExportSpec
from gui.job_queue import TIMEOUT_CODE, automatic_limit
from gui.main_window import MainWindow
from gui.models.history_model import COLUMNS
from gui.preferences import Preferences

FINISH_MS = 240_000  # a real export on a shared machine


def detector() -> ExportSpec:
    return ExportSpec(checkpoint=sample("shapes-yolo11n").checkpoint, export_format="onnx")


def shown_status(window: MainWindow, job_id: str) -> str | None:
    """The Status column of the job's row on the Exports page (None: no row)."""
    model = window.history.model
    row = model.row_of(job_id)
    return model.display(model.rows[row], COLUMNS.index("Status")) if row >= 0 else None


def test_a_second_export_waits_queued_and_runs_when_the_first_ends(
    window: MainWindow, qtbot: QtBot, tmp_path: Path
) -> None:
    runner, service = window.runner, window.service
    runner.queue.configure(1, None)
    window.history.all_models.setChecked(True)
    first = runner.start(detector(), tmp_path / "first")
    second = runner.start(detector(), tmp_path / "second")
    assert service.get(second.id).status == "queued" and runner.is_queued(second.id)
    assert shown_status(window, second.id) == "queued"
    assert runner.queue.position(second.id) == 1
    qtbot.waitUntil(lambda: service.get(first.id).status == "running", timeout=30_000)
    assert second.id not in runner.workers  # waiting: no worker of its own yet
    with qtbot.waitSignal(
        runner.sig_finished, timeout=30_000, check_params_cb=lambda job_id, _job: job_id == first.id
    ):
        assert runner.cancel(first.id)  # the first ends: its slot goes to the second
    assert runner.is_running(second.id) and not runner.is_queued(second.id)
    with qtbot.waitSignal(runner.sig_finished, timeout=FINISH_MS) as ended:
        pass
    assert ended.args[0] == second.id
    done = service.get(second.id)
    assert done.status == "completed", done.error_message
    assert (tmp_path / "second" / "model.onnx").is_file()
    qtbot.waitUntil(lambda: shown_status(window, second.id) == "completed", timeout=10_000)


def test_a_queued_export_is_cancelled_before_it_starts(
    window: MainWindow, qtbot: QtBot, tmp_path: Path
) -> None:
    runner, service, history = window.runner, window.service, window.history
    runner.queue.configure(1, None)
    history.all_models.setChecked(True)
    first = runner.start(detector(), tmp_path / "first")
    second = runner.start(detector(), tmp_path / "second")
    history.select(second.id)
    assert history.actions_by_name["cancel"].isEnabled()
    assert not history.actions_by_name["delete"].isEnabled()  # cancel it first
    with qtbot.waitSignal(runner.sig_finished, timeout=10_000) as cancelled:
        history.actions_by_name["cancel"].trigger()
    assert cancelled.args[0] == second.id
    job = service.get(second.id)
    assert job.status == "cancelled" and job.started_at is None
    assert "before it started" in (job.error_message or "")
    assert shown_status(window, second.id) == "cancelled"
    assert not runner.is_queued(second.id) and runner.is_running(first.id)
    with qtbot.waitSignal(runner.sig_finished, timeout=30_000):
        runner.cancel(first.id)
    assert second.id not in runner.workers and service.get(second.id).status == "cancelled"
    assert not (tmp_path / "second").exists()  # it never ran


def test_an_export_past_the_timeout_is_stopped_and_failed_with_the_reason(
    window: MainWindow, qtbot: QtBot, tmp_path: Path
) -> None:
    runner, service = window.runner, window.service
    runner.queue.configure(1, 2.0)
    job = runner.start(detector(), tmp_path / "slow")
    qtbot.waitUntil(lambda: service.get(job.id).status == "running", timeout=30_000)
    pid = service.get(job.id).process_id
    with qtbot.waitSignal(runner.sig_finished, timeout=60_000) as finished:
        pass
    failed = finished.args[1]
    assert failed.status == "failed" and failed.error_code == TIMEOUT_CODE
    assert "export timeout" in failed.error_message and "2 s" in failed.error_message
    assert not (tmp_path / "slow" / "model.onnx").exists()
    from core.launch import process_alive

    qtbot.waitUntil(lambda: not process_alive(pid), timeout=15_000)  # the worker was stopped


def test_the_jobs_section_sets_the_limit_and_the_timeout(window: MainWindow) -> None:
    jobs = window.settings.jobs
    assert window.runner.queue.limit == automatic_limit()  # nothing chosen yet
    assert jobs.parallel.specialValueText().startswith("automatic")
    jobs.parallel.setValue(3)
    jobs.timeout.setValue(45)
    assert window.settings.save()
    saved = Preferences.load()
    assert (saved.max_parallel_exports, saved.export_timeout_min) == (3, 45)
    assert (window.runner.queue.limit, window.runner.queue.timeout_s) == (3, 45 * 60)


def test_the_automatic_limit_is_one_on_a_small_machine() -> None:
    gib = 1024**3
    assert automatic_limit(cores=4, memory=64 * gib) == 1
    assert automatic_limit(cores=16, memory=8 * gib) == 1
    assert automatic_limit(cores=16, memory=64 * gib) == 2
    assert automatic_limit(cores=8, memory=None) == 2


def test_quitting_cancels_the_queued_exports_before_the_running_ones(
    window: MainWindow, qtbot: QtBot, tmp_path: Path
) -> None:
    runner, service = window.runner, window.service
    runner.queue.configure(1, None)
    first = runner.start(detector(), tmp_path / "first")
    second = runner.start(detector(), tmp_path / "second")
    qtbot.waitUntil(lambda: service.get(first.id).status == "running", timeout=30_000)
    assert runner.cancel_all() == 2  # what "Cancel exports and quit" asks
    qtbot.waitUntil(lambda: not runner.running(), timeout=30_000)
    never = service.get(second.id)
    assert never.status == "cancelled" and never.error_message == QUEUED_ORPHANED
    assert never.started_at is None and second.id not in runner.workers
    assert service.get(first.id).status == "cancelled"
