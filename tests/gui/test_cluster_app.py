"""The app on a Ray cluster: Settings choose it and test it, the app's exports run there.

`make test` runs the refusals that need no cluster (an unreachable address: the test button
and an export both say so, naming the address; no job row). `make test-cluster`
(SLIPWAY_CLUSTER_FULL=1) starts a real loopback cluster (tests/raycluster.py: a head and a
second node, every process stopped at the end) and tests the connection, a TensorRT refusal,
an export from the app's runner whose node is in the history, and cancels (as the conductor
starts, and while the export runs) that leave the Ray job STOPPED.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from core.samples import sample
from core.settings import Settings
from core.spec import ExportSpec
from gui.cluster_exports import start_on_cluster
from gui.main_window import MainWindow
from gui.models.history_model import COLUMNS
from gui.views.settings import SettingsView
from tests.helpers import recorded_jobs
from tests.raycluster import HEAD_IP, NODE_IPS, RayCluster, free_port

full = pytest.mark.skipif(not os.environ.get("SLIPWAY_CLUSTER_FULL"),
                          reason="the app on a real Ray cluster runs under `make test-cluster`")
TIMM = ExportSpec(checkpoint=sample("digits-timm").checkpoint, export_format="onnx",
                  model_name="mobilenetv3_small_050")




def _choose_cluster(qtbot: QtBot, address: str) -> SettingsView:
    """Settings → Where exports run → Ray cluster at ADDRESS, saved."""
    view = SettingsView()
    qtbot.addWidget(view)
    view.cluster.cluster.setChecked(True)
    view.cluster.address.setText(address)
    assert view.save()
    return view


def _test_connection(qtbot: QtBot, view: SettingsView) -> tuple[bool, str]:
    with qtbot.waitSignal(view.cluster.sig_tested, timeout=60_000) as tested:
        view.cluster.test_button.click()
        assert not view.cluster.test_button.isEnabled()  # off the UI thread: the window is live
    ok, text = tested.args
    assert view.cluster.result.text().endswith(text)
    return ok, text


def _start(qtbot: QtBot, window: MainWindow) -> str:
    """The wizard's accepted export, as _wizard_done hands it over: started on the cluster."""
    with qtbot.waitSignal(window.runner.sig_started, timeout=60_000) as started:
        assert start_on_cluster(window, TIMM)
    return str(started.args[0])


def test_an_unreachable_cluster_is_named_by_the_test_and_refuses_exports(
    qtbot: QtBot, window: MainWindow, slipway_home: Path,
) -> None:
    address = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    view = _choose_cluster(qtbot, address)
    saved = Settings.load()
    assert (saved.run_exports_on, saved.export_cluster()) == ("cluster", address)
    again = SettingsView()  # the choice is read back
    qtbot.addWidget(again)
    assert again.cluster.cluster.isChecked() and again.cluster.address.text() == address
    ok, text = _test_connection(qtbot, view)
    assert not ok and address in text and "cannot be reached" in text
    view.cluster.address.setText("ftp://head")  # not an address at all: said at once
    with qtbot.waitSignal(view.cluster.sig_tested, timeout=5_000) as tested:
        view.cluster.test_button.click()
    assert tested.args[0] is False and "Jobs API address" in tested.args[1]
    assert view.cluster.result.text().startswith("✗")
    view.cluster.address.setText(address)
    # an export from the app is refused before any job row exists, in the notification bar
    started: list[str] = []
    window.runner.sig_started.connect(started.append)
    assert start_on_cluster(window, TIMM)  # handed to the cluster path, not started here
    qtbot.waitUntil(lambda: "not started" in window.notification.text.text(), timeout=30_000)
    message = window.notification.text.text()
    assert address in message and "Settings" in message, message
    assert started == [] and recorded_jobs(slipway_home) == []
    # this machine again: the wizard's export is not the cluster's business
    view.cluster.here.setChecked(True)
    assert view.save() and not start_on_cluster(window, TIMM)


def test_the_benchmark_panel_runs_on_the_cluster_settings_choose(
    qtbot: QtBot, window: MainWindow, slipway_home: Path,
) -> None:
    """The benchmark panel's `slipway benchmark` goes to the chosen cluster (`--cluster`): one
    that cannot be reached ends the run with the address named, before any export exists."""
    from tests.gui.test_inspect_benchmark import benchmark_panel

    address = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    _choose_cluster(qtbot, address)
    panel = benchmark_panel(qtbot, window, ("fp32",))
    assert panel.run()
    assert address in panel.status.text()
    child = panel.child
    assert child is not None and child.command[-2:] == ["--cluster", address]
    qtbot.waitUntil(lambda: panel.outcome != "", timeout=120_000)
    assert panel.outcome == "failed" and address in panel.status.text(), panel.status.text()
    assert recorded_jobs(slipway_home) == []


@full
def test_the_app_tests_the_cluster_and_refuses_tensorrt_without_a_gpu(
    ray_cluster: RayCluster, qtbot: QtBot, window: MainWindow, slipway_home: Path,
) -> None:
    view = _choose_cluster(qtbot, ray_cluster.address)
    ok, text = _test_connection(qtbot, view)
    assert ok, text
    assert ray_cluster.address in text and "2 node(s)" in text and "0 GPU(s)" in text
    assert HEAD_IP in text and NODE_IPS[0] in text and "slipway_node_b 1" in text
    with qtbot.waitSignal(window.runner.sig_started, timeout=3_000, raising=False) as started:
        assert start_on_cluster(window, TIMM.model_copy(update={"export_format": "tensorrt"}))
        qtbot.waitUntil(lambda: "not started" in window.notification.text.text(), timeout=60_000)
    assert not started.signal_triggered
    message = window.notification.text.text()
    assert "1 GPU" in message and "tensorrt" in message and ray_cluster.address in message, message
    assert recorded_jobs(slipway_home) == []


@full
def test_an_app_export_runs_on_the_cluster_and_its_node_is_in_the_history(
    ray_cluster: RayCluster, qtbot: QtBot, window: MainWindow, slipway_home: Path,
) -> None:
    _choose_cluster(qtbot, ray_cluster.address)
    progress: list[float] = []
    window.runner.sig_event.connect(
        lambda _id, e: progress.append(e["percent"]) if e["type"] == "progress" else None)
    job_id = _start(qtbot, window)
    assert window.runner.workers[job_id].remote  # its child is the conductor, not a local worker
    with qtbot.waitSignal(window.runner.sig_finished, timeout=300_000) as finished:
        pass
    job = finished.args[1]
    assert job.status == "completed", job.error_message
    assert job.cluster_address == ray_cluster.address
    assert job.executed_on and job.executed_on.split()[0] in (HEAD_IP, *NODE_IPS)
    assert len(progress) > 3 and progress == sorted(progress)  # live progress came through Ray's log
    package = Path(job.package_dir)
    assert (package / "model.onnx").is_file() and (package / "export-package.zip").is_file()
    window.history.all_models.setChecked(True)
    model = window.history.model
    row = model.rows[model.row_of(job_id)]
    assert model.display(row, COLUMNS.index("Status")) == "completed"
    assert model.display(row, COLUMNS.index("Ran on")) == job.executed_on.split()[0]
    window.history.select(job_id)
    summary = window.history.detail.summary.toPlainText()
    assert job.executed_on in summary and ray_cluster.address in summary, summary
    [recorded] = recorded_jobs(slipway_home)  # one row, recorded once
    assert recorded.status == "completed" and recorded.process_id is None


@full
def test_a_cancel_as_the_conductor_starts_leaves_nothing_running(
    ray_cluster: RayCluster, qtbot: QtBot, window: MainWindow, slipway_home: Path,
) -> None:
    from ray.job_submission import JobSubmissionClient

    _choose_cluster(qtbot, ray_cluster.address)
    job_id = _start(qtbot, window)
    with qtbot.waitSignal(window.runner.sig_finished, timeout=90_000) as finished:
        assert window.runner.cancel(job_id)  # before the conductor has marked its start
    assert finished.args[1].status == "cancelled"
    client = JobSubmissionClient(ray_cluster.address)
    submitted = [j for j in client.listrecorded_jobs() if j.submission_id == f"slipway-{job_id}"]
    if submitted:  # it got as far as submitting: stopped, not left to run
        qtbot.waitUntil(lambda: client.get_job_status(f"slipway-{job_id}").value == "STOPPED",
                        timeout=30_000)


@full
def test_cancel_from_the_app_stops_the_ray_job(
    ray_cluster: RayCluster, qtbot: QtBot, window: MainWindow, slipway_home: Path,
) -> None:
    from ray.job_submission import JobSubmissionClient

    _choose_cluster(qtbot, ray_cluster.address)
    job_id = _start(qtbot, window)
    try:
        qtbot.waitUntil(lambda: any(j.status == "running" and j.executed_on
                                    for j in recorded_jobs(slipway_home)), timeout=120_000)
        with qtbot.waitSignal(window.runner.sig_finished, timeout=90_000) as finished:
            assert window.runner.cancel(job_id)
    finally:
        window.runner.cancel_all()
        qtbot.waitUntil(lambda: not window.runner.running(), timeout=60_000)
    job = finished.args[1]
    assert job.status == "cancelled" and job.error_code == "cancelled"
    client = JobSubmissionClient(ray_cluster.address)
    assert client.get_job_status(f"slipway-{job_id}").value == "STOPPED"
    assert not (Path(job.package_dir) / "model.onnx").exists()
    assert not (Path(job.package_dir) / ".staging").exists()
