"""A new user's whole flow through the main window's real widgets, end to end:

sample detector → export wizard → a real ONNX export (QProcess worker) → Test in the inference view
→ evaluate it on the sample's labelled folder → Deploy as a local endpoint (API key shown once)
→ start `slipway serve` from the Deployments view
→ POST /v1/infer over real HTTP with that key → stop the server from the view → a Triton container
→ delete the deployed export from the app (its deployments go with it, after one question).

Nothing is mocked except the file-open dialog (a native modal that cannot be clicked offscreen): it
is replaced by one returning a sample image, and the view's real "Open image…" button is clicked.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import httpx
import pytest
from PySide6.QtCore import QModelIndex, QPoint, QProcess, Qt
from PySide6.QtWidgets import QPushButton, QWidget, QWizard
from pytestqt.qtbot import QtBot

from core.db import DeploymentType
from core.deployments import KEY_PREFIX
from core.inference import open_package
from core.jobs import JobService
from core.launch import process_alive
from core.samples import sample
from core.spec import ExportSpec
from gui import window_state  # the file dialogs (they start in the last folder used)
from gui.app import MainWindow
from gui.closing import KEEP_AND_QUIT
from gui.deploy_wizard import DeployWizard
from gui.models.history_model import COLUMNS, PERCENT_ROLE
from gui.server_process import ServerState
from gui.wizard.export_wizard import ExportWizard
from tests.gui.modal import answer_next_question

EXPORT_TIMEOUT_MS = 300_000


def click(qtbot: QtBot, widget: QWidget) -> None:
    assert widget.isEnabled(), f"{widget!r} is disabled"
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def button(parent: QWidget, text: str) -> QPushButton:
    [found] = [b for b in parent.findChildren(QPushButton) if b.text() == text]
    return found


def toolbar_button(window: MainWindow, action_name: str) -> QWidget:
    action = window.history.actions_by_name[action_name]
    widget = window.history.toolbar.widgetForAction(action)
    assert widget is not None
    return widget


def signature(predictions: list[dict[str, Any]], name_key: str) -> list[tuple[int, str]]:
    return [(int(p["class_id"]), str(p[name_key])) for p in predictions]


@pytest.mark.slow
def test_new_user_exports_tests_deploys_and_serves_the_sample_detector(
        qtbot: QtBot, window: MainWindow, monkeypatch: pytest.MonkeyPatch) -> None:

    # 1 · the sample detector is in the library: select it, open the wizard, ONNX, finish
    detector = next(c for c in window.models.model.items if c.sample == "shapes-yolo11n")
    window.models.select(detector.id)
    selected = window.models.current()
    assert selected is not None and selected.id == detector.id
    click(qtbot, window.models.export_button)
    wizard = window.findChild(ExportWizard)
    assert wizard is not None and wizard.isVisible()
    click(qtbot, wizard.format_page.cards["onnx"])
    assert wizard.format_page.chosen == "onnx"
    click(qtbot, wizard.button(QWizard.WizardButton.NextButton))
    click(qtbot, wizard.button(QWizard.WizardButton.NextButton))
    assert wizard.currentPage() is wizard.review_page and wizard.spec is not None
    assert wizard.spec.export_format == "onnx"

    model = window.history.model
    seen: list[float] = []

    def record_progress(top_left: QModelIndex, _bottom_right: QModelIndex, _roles: object = None) -> None:
        if model.rows and model.rows[top_left.row()]["status"] == "running":
            seen.append(float(model.data(model.index(top_left.row(), 0), PERCENT_ROLE)))

    model.dataChanged.connect(record_progress)
    with qtbot.waitSignal(window.runner.sig_started, timeout=20_000) as started:
        click(qtbot, wizard.button(QWizard.WizardButton.FinishButton))
    job_id = str(started.args[0])
    assert window.stack.currentWidget() is window.history
    with qtbot.waitSignal(window.runner.sig_finished, timeout=EXPORT_TIMEOUT_MS) as finished:
        pass
    job = finished.args[1]
    assert job.status == "completed", job.error_message
    assert len(set(seen)) > 2 and seen == sorted(seen) and seen[-1] > seen[0], seen
    row = model.row_of(job_id)
    assert row >= 0
    assert model.display(model.rows[row], COLUMNS.index("Status")) == "completed"
    assert model.display(model.rows[row], COLUMNS.index("Parity")) == "passed"
    package = Path(job.package_dir)
    assert (package / "model.onnx").is_file()

    # 2 · "Test": the inference view runs the export on a sample image and draws its boxes
    window.history.select(job_id)
    qtbot.waitUntil(lambda: window.history.actions_by_name["test"].isEnabled(), timeout=10_000)
    click(qtbot, toolbar_button(window, "test"))
    inference = window.inference
    assert window.stack.currentWidget() is inference and inference.export_id == job_id
    image = sample("shapes-yolo11n").image_files()[0]
    monkeypatch.setattr(window_state.QFileDialog, "getOpenFileName",
                        staticmethod(lambda *_args, **_kw: (str(image), "")))
    click(qtbot, button(inference, "Open image…"))
    qtbot.waitUntil(lambda: inference.result is not None, timeout=120_000)
    conf, iou = inference.confidence, inference.iou_threshold
    wrapper = open_package(package)
    expected = wrapper.predict(str(image), conf=conf, iou=iou)
    assert expected, "the sample detector finds nothing on its own sample image"
    assert inference.canvas.box_count == len(inference.shown) == len(expected)
    assert signature(inference.shown, "class_name") == signature(expected, "class_name")

    # 2b · evaluate a folder: the export's "Evaluate on a folder…" on the Models page, the sample's own
    # labelled split, a run in the Evaluate child with its metrics shown
    window.show_page("Models")
    window.models.refresh_exports()
    window.models.exports.selectRow(window.models.exports_model.row_of(job_id))
    window.models.evaluate_action.trigger()
    evaluate = window.evaluate
    assert window.stack.currentWidget() is evaluate and evaluate.export_id == job_id
    evaluate.folder.setText(str(sample("shapes-yolo11n").dataset))
    with qtbot.waitSignal(evaluate.runner.sig_report, timeout=120_000) as evaluated:
        click(qtbot, evaluate.evaluate_button)
    assert evaluated.args[0]["metrics"]["mAP50"] > 0.5 and evaluate.metrics.text().startswith("mAP50")
    assert evaluate.gallery.count() > 0

    # 3 · "Deploy": the deployments view's wizard → local endpoint, free tier → key shown once
    window.show_page("Exports")
    window.history.select(job_id)
    click(qtbot, toolbar_button(window, "deploy"))
    deployments = window.deployments
    assert window.stack.currentWidget() is deployments
    click(qtbot, button(deployments, "New deployment…"))
    deploy_wizard = deployments.findChild(DeployWizard)
    assert deploy_wizard is not None and deploy_wizard.isVisible()
    assert deploy_wizard.export_page.combo.currentData() == job_id  # preselected by "Deploy"
    click(qtbot, deploy_wizard.button(QWizard.WizardButton.NextButton))
    endpoint_button = deploy_wizard.type_page.group.button(0)
    click(qtbot, endpoint_button)
    assert deploy_wizard.type_page.kind == DeploymentType.PLATFORM_ENDPOINT
    ios = deploy_wizard.type_page.buttons["edge-ios"]  # an ONNX export cannot become an iOS package
    assert not ios.isEnabled()
    assert "Make a Core ML export now" in deploy_wizard.type_page.notes["edge-ios"].text()
    click(qtbot, deploy_wizard.button(QWizard.WizardButton.NextButton))
    tier = deploy_wizard.config_page.tier
    tier.setCurrentIndex(tier.findData("free"))
    click(qtbot, deploy_wizard.button(QWizard.WizardButton.FinishButton))
    qtbot.waitUntil(lambda: len(deployments.cards) == 1, timeout=10_000)
    [(deployment_id, card)] = deployments.cards.items()
    assert card.values["Tier"].text() == "free" and card.status.text() == "active"
    assert deployments.key_banner.isVisible()
    secret = deployments.key_field.text()
    assert secret.startswith(KEY_PREFIX)
    click(qtbot, button(deployments.key_banner, "I saved it"))
    assert not deployments.key_banner.isVisible() and deployments.key_field.text() == ""

    # 4 · start the endpoint server from the view, infer over HTTP with the key, stop it
    server = deployments.server
    deployments.port.setValue(0)  # any free port: tests run side by side
    click(qtbot, deployments.server_button)
    qtbot.waitUntil(lambda: server.state in (ServerState.RUNNING, ServerState.FAILED), timeout=120_000)
    assert server.state == ServerState.RUNNING, "\n".join(server.log[-20:])
    assert deployments.server_status.text() == "Endpoint server: running"
    assert deployments.server_button.text() == "Stop server"
    url = deployments.cards[deployment_id].values["URL"].text()  # the card shows the live address
    assert url == f"{server.url}/v1/infer/{deployment_id}"
    body = {"image": base64.b64encode(image.read_bytes()).decode(),
            "confidence_threshold": conf, "iou_threshold": iou}
    answer = httpx.post(url, json=body, headers={"Authorization": f"Bearer {secret}"}, timeout=120)
    assert answer.status_code == 200, answer.text
    served = answer.json()["predictions"]
    assert signature(served, "class") == signature(expected, "class_name")
    for got, want in zip(served, expected, strict=True):
        assert got["confidence"] == pytest.approx(want["confidence"], abs=1e-4)
    refused = httpx.post(url, json=body, headers={"Authorization": "Bearer not-a-key"}, timeout=60)
    assert refused.status_code == 401

    process = server.process
    assert process is not None and process.state() == QProcess.ProcessState.Running
    click(qtbot, deployments.server_button)
    qtbot.waitUntil(lambda: server.state == ServerState.STOPPED, timeout=30_000)
    assert process.state() == QProcess.ProcessState.NotRunning
    assert deployments.server_status.text() == "Endpoint server: stopped"
    assert deployments.server_button.text() == "Start server"
    with pytest.raises(httpx.ConnectError):
        httpx.post(url, json=body, headers={"Authorization": f"Bearer {secret}"}, timeout=5)

    # 5 · a Triton container of the same export, through the same wizard, built in the background
    click(qtbot, button(deployments, "New deployment…"))
    container_wizard = [w for w in deployments.findChildren(DeployWizard) if w.isVisible()][-1]
    click(qtbot, container_wizard.button(QWizard.WizardButton.NextButton))
    radio = container_wizard.type_page.buttons["container"]
    assert radio.isEnabled()
    qtbot.mouseClick(radio, Qt.MouseButton.LeftButton, pos=QPoint(8, radio.height() // 2))  # its indicator
    assert container_wizard.type_page.kind == "container"
    click(qtbot, container_wizard.button(QWizard.WizardButton.NextButton))
    click(qtbot, container_wizard.button(QWizard.WizardButton.FinishButton))
    qtbot.waitUntil(lambda: deployments.packaging is None and len(deployments.cards) == 2, timeout=120_000)
    assert deployments.status.text().startswith("Package ready:"), deployments.status.text()
    [container] = [c for c in deployments.cards.values() if c.values["Type"].text() == "Triton container"]
    assert container.values["Package"].text().endswith("container-package.zip")
    assert not window.notification.isVisible() or "failed" not in window.notification.text.text()

    # 6 · delete the deployed export from the app: one question names its deployments, both go
    window.show_page("Exports")
    window.history.select(job_id)
    questions: list[str] = []
    answer_next_question("Delete export and deployments", questions)
    click(qtbot, toolbar_button(window, "delete"))
    [question] = questions
    assert "2 deployments" in question and detector.name in question and "cannot be undone" in question
    assert window.history.model.row_of(job_id) == -1 and not package.exists()
    assert deployments.cards == {} and not deployments.empty.isHidden()
    assert window.deployment_service.list_deployments(include_deleted=True) == []


@pytest.mark.slow
def test_an_export_kept_running_at_quit_finishes_and_the_next_start_shows_its_result(
        qtbot: QtBot, tmp_path: Path) -> None:
    detector = sample("shapes-yolo11n")
    window = MainWindow(JobService())  # not handed to qtbot: this test deletes it, as quitting would
    window.show()
    qtbot.waitExposed(window)
    with qtbot.waitSignal(window.runner.sig_event, timeout=60_000,
                          check_params_cb=lambda _id, event: event.get("type") == "progress"):
        job = window.runner.start(ExportSpec(checkpoint=detector.checkpoint, export_format="onnx"),
                                  tmp_path / "out")
    pid = window.service.get(job.id).process_id
    assert pid and process_alive(pid)

    # close → the question names the running export → "Keep running and quit"
    assert not window.close()
    guard = window.quit_guard
    assert guard.question is not None and guard.question.text() == "1 export is still running."
    qtbot.mouseClick(guard.button(KEEP_AND_QUIT), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5_000)
    assert guard.released == [job.id] and not window.runner.workers
    window.deleteLater()  # the window, its runner and their objects go; the worker does not
    qtbot.wait(200)
    assert process_alive(pid)
    assert JobService().get(job.id).status == "running"

    # the next start: the history shows it running, then its real result when the worker ends
    second = MainWindow(JobService())
    qtbot.addWidget(second)
    second.show()
    second.history.all_models.setChecked(True)
    row = second.history.model.row_of(job.id)
    assert second.history.model.rows[row]["status"] == "running"
    with qtbot.waitSignal(second.detached.sig_settled, timeout=EXPORT_TIMEOUT_MS) as settled:
        pass
    [done] = settled.args[0]
    assert done.id == job.id and done.status == "completed", done.error_message
    assert (Path(done.package_dir) / "model.onnx").is_file()
    row = second.history.model.row_of(job.id)
    history = second.history.model
    assert history.display(history.rows[row], COLUMNS.index("Status")) == "completed"
    assert "completed" in second.notification.text.text()
    assert not second.detached.timer.isActive()
