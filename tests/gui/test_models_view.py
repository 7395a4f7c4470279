"""The model library: samples listed, drops and file choices imported, bad files explained."""

from __future__ import annotations

import shutil
from pathlib import Path

from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDropEvent
from pytestqt.qtbot import QtBot

from core.deployments import DeploymentService
from core.jobs import JobService
from core.samples import sample
from core.spec import ExportSpec
from gui.app import ensure_samples
from gui.views.models import ModelsView
from tests.gui.modal import answer_next_question


def make_view(qtbot: QtBot) -> tuple[ModelsView, JobService]:
    service = JobService()
    ensure_samples(service)
    view = ModelsView(service, DeploymentService(service.db))
    qtbot.addWidget(view)
    view.refresh()
    view.problems: list[str] = []  # type: ignore[misc]
    view.show_problem = view.problems.append  # type: ignore[method-assign]
    return view, service


def drop(view: ModelsView, paths: list[Path]) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(QPoint(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    view.dropEvent(event)


def test_selecting_a_model_shows_its_details(qtbot: QtBot) -> None:
    view, _ = make_view(qtbot)
    seen: list[object] = []
    view.sig_checkpoint_selected.connect(seen.append)
    detector = next(c for c in view.model.items if c.sample == "shapes-yolo11n")
    view.select(detector.id)
    assert view.title.text() == detector.name
    assert view.framework.currentText() == "ultralytics"
    assert view.task.currentText() == "detect"
    assert seen[-1] == detector.id
    assert view.export_button.isEnabled()
    assert view.deployment_list.item(0).text() == "No deployments yet"


def test_detected_framework_task_and_architecture_can_be_corrected(qtbot: QtBot) -> None:
    view, service = make_view(qtbot)
    timm = next(c for c in view.model.items if c.sample == "digits-timm")
    view.select(timm.id)
    assert not view.save_button.isEnabled()
    view.task.setCurrentText("detect")
    view.architecture.setText("resnet18")
    view.architecture.textEdited.emit("resnet18")
    assert view.save_button.isEnabled()
    qtbot.mouseClick(view.save_button, Qt.MouseButton.LeftButton)
    stored = next(c for c in JobService(service.db).checkpoints() if c.id == timm.id)
    assert (stored.task, stored.model_name) == ("detect", "resnet18")
    assert view.problems == [] and not view.save_button.isEnabled()


def test_dropping_a_checkpoint_imports_it_with_its_framework(qtbot: QtBot, tmp_path: Path) -> None:
    view, service = make_view(qtbot)
    copy = tmp_path / "my-detector.pt"
    shutil.copyfile(sample("shapes-yolo11n").checkpoint, copy)
    drop(view, [copy])
    added = next(c for c in service.checkpoints() if c.path == str(copy.resolve()))
    assert (added.framework, added.task) == ("ultralytics", "detect")
    assert view.current() is not None and view.current().id == added.id  # type: ignore[union-attr]
    assert view.problems == []


def test_bare_timm_weights_ask_for_the_architecture(qtbot: QtBot, tmp_path: Path) -> None:
    view, service = make_view(qtbot)
    weights = tmp_path / "weights.pth"
    shutil.copyfile(sample("digits-timm").checkpoint, weights)
    asked: list[Path] = []
    view.ask_architecture = lambda p: asked.append(p) or "mobilenetv3_small_050"  # type: ignore[method-assign]
    view.import_paths([weights])
    added = next(c for c in service.checkpoints() if c.path == str(weights.resolve()))
    assert asked == [weights] and added.model_name == "mobilenetv3_small_050"
    declined = tmp_path / "other.pth"
    shutil.copyfile(weights, declined)
    view.ask_architecture = lambda p: None  # type: ignore[method-assign]
    assert view.import_paths([declined]) == []
    assert all(c.path != str(declined.resolve()) for c in service.checkpoints())


def test_files_that_are_not_checkpoints_are_explained(qtbot: QtBot, tmp_path: Path) -> None:
    view, service = make_view(qtbot)
    before = len(service.checkpoints())
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a pickle")
    view.import_paths([text, broken])
    assert len(service.checkpoints()) == before
    assert "notes.txt" in view.problems[0] and "broken.pt" in view.problems[0]


def test_an_added_model_gets_a_friendly_name_and_can_be_renamed(qtbot: QtBot, tmp_path: Path) -> None:
    view, service = make_view(qtbot)
    run = tmp_path / "ships_v2"
    run.mkdir()
    copy = run / "best.pt"  # Ultralytics' generic file name: the run folder names the model
    shutil.copyfile(sample("shapes-yolo11n").checkpoint, copy)
    drop(view, [copy])
    added = view.current()
    assert added is not None and added.name == "Ships v2 detector"
    assert view.name.text() == "Ships v2 detector" and view.title.text() == "Ships v2 detector"
    view.name.clear()
    qtbot.keyClicks(view.name, "Harbour ships")
    assert view.save_button.isEnabled()
    qtbot.mouseClick(view.save_button, Qt.MouseButton.LeftButton)
    stored = next(c for c in JobService(service.db).checkpoints() if c.id == added.id)
    assert stored.name == "Harbour ships" and view.title.text() == "Harbour ships"
    row = view.model.row_of(added.id)
    assert str(view.model.data(view.model.index(row))).startswith("Harbour ships")
    view.name.clear()
    view.name.textEdited.emit("")
    qtbot.mouseClick(view.save_button, Qt.MouseButton.LeftButton)  # an empty name is refused
    assert view.problems == ["a model needs a name"]


def test_a_model_is_removed_with_its_exports_and_deployments_after_asking(
        qtbot: QtBot, tmp_path: Path) -> None:
    view, service = make_view(qtbot)
    copy = tmp_path / "my-detector.pt"
    shutil.copyfile(sample("shapes-yolo11n").checkpoint, copy)
    drop(view, [copy])
    added = view.current()
    assert added is not None
    package = tmp_path / "package"
    package.mkdir()
    job = service.create_job(ExportSpec(checkpoint=copy, export_format="onnx"), out_dir=package)
    service.finish(job.id, 0, {"type": "result", "package_dir": str(package),
                               "model_path": str(package / "model.onnx"), "model_size_bytes": 1})
    deployments = DeploymentService(service.db)
    deployments.create(job.id, "platform_endpoint")
    view.refresh_exports()
    assert view.remove_button.isEnabled()
    seen: list[str] = []
    answer_next_question("Keep", seen)
    qtbot.mouseClick(view.remove_button, Qt.MouseButton.LeftButton)
    assert "“My detector”" in seen[0] and "1 export" in seen[0] and "1 deployment" in seen[0]
    assert view.model.row_of(added.id) >= 0
    answer_next_question("Remove", seen)
    qtbot.mouseClick(view.remove_button, Qt.MouseButton.LeftButton)
    assert view.model.row_of(added.id) == -1 and all(c.id != added.id for c in service.checkpoints())
    assert service.list_jobs() == [] and deployments.list_deployments(include_deleted=True) == []
    assert copy.is_file()  # the checkpoint file itself stays
    assert view.current() is not None and view.current().id != added.id  # type: ignore[union-attr]


def test_a_removed_sample_stays_removed_at_the_next_start(qtbot: QtBot) -> None:
    view, _ = make_view(qtbot)
    digits = next(c for c in view.model.items if c.sample == "digits-timm")
    view.select(digits.id)
    answer_next_question("Remove", [])
    qtbot.mouseClick(view.remove_button, Qt.MouseButton.LeftButton)
    ensure_samples(JobService())  # the next start
    assert all(c.sample != "digits-timm" for c in JobService().checkpoints())
    assert any(c.sample == "shapes-yolo11n" for c in JobService().checkpoints())
