"""The export history view: rows from the database, live events, actions, the detail pane."""

from __future__ import annotations

import io
import urllib.request
import zipfile
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from pytestqt.qtbot import QtBot

from core.jobs import JobService
from core.samples import sample
from core.settings import Settings
from core.spec import ExportSpec
from gui.export_runner import ExportRunner
from gui.models.history_model import COLUMNS
from gui.views.history import NO_STORAGE, HistoryView
from tests.gui.modal import answer_next_question
from tests.gui.test_worker_replay import recorded_lines


def completed_job(service: JobService, runner: ExportRunner, tmp_path: Path, name: str) -> str:
    """A job finished by replaying the recorded stream through the runner's adapter."""
    out = tmp_path / name
    job = service.create_job(ExportSpec(checkpoint=sample("shapes-yolo11n").checkpoint,
                                        export_format="onnx"), out)
    worker = runner.adopt(job)
    service.mark_started(job.id, None)
    for line in recorded_lines(out):
        worker.handle_line(line)
    out.mkdir()
    (out / "model.onnx").write_bytes(b"x")
    (out / "metadata.json").write_text('{"model_info": {"task": "detect"}}')
    worker.finish(0)
    return job.id


def test_the_log_pane_follows_the_selected_running_job(qtbot: QtBot, tmp_path: Path) -> None:
    view, service, runner = make_view(qtbot)
    out = tmp_path / "live"
    job = service.create_job(ExportSpec(checkpoint=sample("shapes-yolo11n").checkpoint,
                                        export_format="onnx"), out)
    worker = runner.adopt(job)
    service.mark_started(job.id, None)
    view.refresh()
    view.select(job.id)
    lines = recorded_lines(out)
    for line in lines[:8]:
        worker.handle_line(line)
    row = view.model.rows[view.model.row_of(job.id)]
    assert view.model.display(row, COLUMNS.index("Status")) == "running"
    assert view.model.display(row, COLUMNS.index("Stage")) == "parity"
    log = view.detail.log.toPlainText()
    assert "loaded ultralytics detect model" in log and "image 1/16" in log
    worker.finish(1)


def make_view(qtbot: QtBot) -> tuple[HistoryView, JobService, ExportRunner]:
    service = JobService()
    runner = ExportRunner(service)
    view = HistoryView(service, runner)
    qtbot.addWidget(view)
    runner.setParent(view)  # Qt owns it: nothing parentless is left for interpreter shutdown
    view.resize(1200, 700)
    view.show()
    return view, service, runner


def test_rows_follow_the_runner_and_the_detail_pane_shows_the_job(qtbot: QtBot, tmp_path: Path) -> None:
    view, service, runner = make_view(qtbot)
    first = completed_job(service, runner, tmp_path, "a")
    second = completed_job(service, runner, tmp_path, "b")
    view.refresh()
    assert [r["id"] for r in view.model.rows] == [second, first]  # newest first
    view.select(first)
    assert "v1 onnx" in view.detail.summary.toPlainText()
    assert "box_agreement" in view.detail.parity.toPlainText()  # the parity report, rendered
    assert "metadata.json" in view.detail.summary.toPlainText()
    actions = view.actions_by_name
    assert actions["test"].isEnabled() and actions["deploy"].isEnabled()
    assert not actions["cancel"].isEnabled()  # nothing running
    assert not actions["s3"].isEnabled() and actions["s3"].toolTip() == NO_STORAGE
    with qtbot.waitSignal(view.sig_deploy) as deploy:
        actions["deploy"].trigger()
    assert deploy.args == [first]
    with qtbot.waitSignal(view.sig_test) as test:
        actions["test"].trigger()
    assert test.args == [first]


def test_default_tag_and_delete_with_confirmation(qtbot: QtBot, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    view, service, runner = make_view(qtbot)
    job_id = completed_job(service, runner, tmp_path, "a")
    view.refresh()
    view.select(job_id)
    view.actions_by_name["default"].trigger()
    row = view.model.row_of(job_id)
    assert "★" in view.model.display(view.model.rows[row], COLUMNS.index("Version"))
    monkeypatch.setattr("gui.views.history.QInputDialog.getText", lambda *a, **k: ("release-1", True))
    view.actions_by_name["tag"].trigger()
    assert service.get(job_id).version_tag == "release-1"
    assert view.model.display(view.model.rows[view.model.row_of(job_id)], COLUMNS.index("Tag")) == "release-1"
    questions: list[str] = []
    view.confirm = lambda q, _action="": questions.append(q) or False  # type: ignore[method-assign]
    view.actions_by_name["delete"].trigger()
    assert service.list_jobs() and "cannot be undone" in questions[0]
    view.confirm = lambda q, _action="": True  # type: ignore[method-assign]
    view.actions_by_name["delete"].trigger()
    assert service.list_jobs() == [] and view.model.rowCount() == 0


def test_history_survives_a_restart_and_settles_an_interrupted_job(qtbot: QtBot, tmp_path: Path) -> None:
    service = JobService()
    job = service.create_job(ExportSpec(checkpoint=sample("shapes-yolo11n").checkpoint,
                                        export_format="onnx"), tmp_path / "out")
    service.mark_started(job.id, 2**22 + 12345)  # a process id that is not running
    restarted = JobService()  # the app starting again: reconcile settles it
    runner = ExportRunner(restarted)
    view = HistoryView(restarted, runner)
    qtbot.addWidget(view)
    runner.setParent(view)
    view.refresh()
    status = view.model.display(view.model.rows[0], COLUMNS.index("Status"))
    assert status == "failed"
    assert "interrupted" in (view.model.rows[0]["error_message"] or "")


def test_s3_link_uploads_the_package_and_copies_a_presigned_url(
        qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Against a real S3-compatible server (s3rver on loopback)."""
    from tests.s3server import BUCKET, s3_environment

    environment = s3_environment(tmp_path, monkeypatch)
    server = next(environment)
    try:
        view, service, runner = make_view(qtbot)
        job_id = completed_job(service, runner, tmp_path, "a")
        package = Path(service.get(job_id).package_dir)
        with zipfile.ZipFile(package / "export-package.zip", "w") as archive:
            archive.writestr("model.onnx", b"weights")
        view.refresh()
        view.select(job_id)
        assert not view.actions_by_name["s3"].isEnabled()
        Settings(storage_backend="s3", s3_bucket=BUCKET, s3_prefix="team",
                 s3_endpoint_url=server.endpoint).save()
        view.select(job_id)
        view.update_actions()
        assert view.actions_by_name["s3"].isEnabled()
        with qtbot.waitSignal(view.linker.sig_link, timeout=30_000) as link:
            view.actions_by_name["s3"].trigger()
        url = link.args[1]
        assert f"{BUCKET}/team/exports/{job_id}/export-package.zip" in url and "Signature" in url
        assert QGuiApplication.clipboard().text() == url
        with urllib.request.urlopen(url, timeout=10) as response:  # the link really downloads it
            assert zipfile.ZipFile(io.BytesIO(response.read())).read("model.onnx") == b"weights"
    finally:
        environment.close()


def test_a_deployed_export_is_deleted_with_its_deployments_after_one_question(
        qtbot: QtBot, tmp_path: Path) -> None:
    view, service, runner = make_view(qtbot)
    job_id = completed_job(service, runner, tmp_path, "deployed")
    deployments = view.deployment_service
    endpoint = deployments.create(job_id, "platform_endpoint")
    view.refresh()
    view.select(job_id)
    deleted: list[str] = []
    view.sig_deleted.connect(deleted.append)
    seen: list[str] = []
    answer_next_question("Keep", seen)
    view.actions_by_name["delete"].trigger()
    [question] = seen
    model = next(c.name for c in service.checkpoints() if c.id == service.get(job_id).checkpoint_id)
    assert f"“{model}”" in question and "1 deployment" in question and endpoint.name in question
    assert "cannot be undone" in question and "slipway deployments" not in question
    assert service.get(job_id) and deleted == []
    answer_next_question("Delete export and deployments", seen)
    view.actions_by_name["delete"].trigger()
    assert deleted == [job_id] and view.model.row_of(job_id) == -1
    assert deployments.list_deployments(include_deleted=True) == []
    assert not (tmp_path / "deployed").exists()


def test_all_models_adds_a_model_column_and_precision_tells_fp16_from_int8(
        qtbot: QtBot, tmp_path: Path) -> None:
    view, service, _runner = make_view(qtbot)
    detector = sample("shapes-yolo11n")
    fp16 = service.create_job(ExportSpec(checkpoint=detector.checkpoint, export_format="openvino",
                                         export_config={"precision": "FP16"}), tmp_path / "fp16")
    calibration = str(detector.folder / "dataset" / "data.yaml")
    int8 = service.create_job(ExportSpec(
        checkpoint=detector.checkpoint, export_format="openvino",
        optimization_config={"quantization": {"method": "static", "calibration_data": calibration}}),
        tmp_path / "int8")
    timm = service.import_checkpoint(sample("digits-timm").checkpoint, name="Digits",
                                     model_name="mobilenetv3_small_050")
    other = service.create_job(ExportSpec(checkpoint=sample("digits-timm").checkpoint, export_format="onnx",
                                          model_name="mobilenetv3_small_050"), tmp_path / "other")
    view.set_checkpoint(fp16.checkpoint_id)
    model_column = COLUMNS.index("Model")
    assert view.table.isColumnHidden(model_column) and view.model.rowCount() == 2
    precision = COLUMNS.index("Precision")
    shown = {row["id"]: view.model.display(row, precision) for row in view.model.rows}
    assert shown == {fp16.id: "FP16", int8.id: "INT8 static"}
    view.all_models.trigger()  # the toolbar's "All models"
    assert not view.table.isColumnHidden(model_column) and view.model.rowCount() == 3
    names = {row["id"]: view.model.display(row, model_column) for row in view.model.rows}
    detector_name = next(c.name for c in service.checkpoints() if c.id == fp16.checkpoint_id)
    assert names == {fp16.id: detector_name, int8.id: detector_name, other.id: timm.name}
    assert view.model.headerData(model_column, Qt.Orientation.Horizontal) == "Model"
