"""The deployments view over a real database: endpoint creation with its key shown once,
activate/deactivate with the timeline, the wizard offering only the packages an export's format
allows, and packages built off the UI thread through core.packaging (the slow tests build real ones).

The fast tests' export rows come from a replayed worker result (a real export is not the point there).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtGui import QGuiApplication
from pytestqt.qtbot import QtBot

from core import formats, packaging
from core.db import DeploymentType
from core.deployments import KEY_PREFIX, DeploymentService
from core.jobs import JobService
from core.samples import sample
from core.spec import ExportSpec
from gui.deploy_wizard import ENDPOINT, DeployChoice, DeployWizard, ExportOption, type_choices
from gui.main_window import MainWindow
from gui.thread_task import errors
from gui.views.deployments import DeploymentsView
from gui.wizard.export_wizard import ExportWizard
from tests.gui.modal import answer_next_question
from tests.helpers import CliRun


def completed_export(jobs: JobService, tmp_path: Path, export_format: str = "onnx") -> str:
    package = tmp_path / f"package-{export_format}"
    package.mkdir()
    job = jobs.create_job(ExportSpec(checkpoint=sample("shapes-yolo11n").checkpoint,
                                     export_format=export_format), out_dir=package)
    jobs.finish(job.id, 0, {"type": "result", "package_dir": str(package),
                            "model_path": str(package / "model.onnx"), "model_size_bytes": 1000})
    return job.id


def make_view(qtbot: QtBot, tmp_path: Path) -> tuple[DeploymentsView, DeploymentService, str]:
    jobs, deployments = JobService(), DeploymentService()
    export_id = completed_export(jobs, tmp_path)
    view = DeploymentsView(jobs, deployments)
    qtbot.addWidget(view)
    view.resize(1200, 720)
    view.show()
    return view, deployments, export_id


def test_endpoint_key_is_shown_once_and_works(qtbot: QtBot, tmp_path: Path) -> None:
    view, deployments, export_id = make_view(qtbot, tmp_path)
    assert not view.cards and view.empty.isVisible()
    choice = DeployChoice(export_id, DeploymentType.PLATFORM_ENDPOINT, tier="pro")
    deployment_id = view.create_deployment(choice)
    assert deployment_id is not None and list(view.cards) == [deployment_id]
    card = view.cards[deployment_id]
    assert card.status.text() == "active"
    assert card.values["URL"].text().endswith(f"/v1/infer/{deployment_id}")
    assert card.values["Tier"].text() == "pro"
    assert view.key_banner.isVisible()
    secret = view.key_field.text()
    assert secret.startswith(KEY_PREFIX)
    assert deployments.authenticate(deployment_id, secret) is not None  # the real key, not a display copy
    assert view.grab().save(str(tmp_path / "deployments.png"))
    view.key_banner.findChildren(type(view.server_button))[0].click()  # Copy
    assert QGuiApplication.clipboard().text() == secret
    view.dismiss_key()
    assert not view.key_banner.isVisible() and view.key_field.text() == ""
    # a fresh view (the app restarted) never shows it again
    again = DeploymentsView(JobService(), DeploymentService())
    qtbot.addWidget(again)
    assert not again.key_banner.isVisible() and again.key_field.text() == ""
    assert deployment_id in again.cards


def test_activate_deactivate_changes_status_and_timeline(qtbot: QtBot, tmp_path: Path) -> None:
    view, deployments, export_id = make_view(qtbot, tmp_path)
    choice = DeployChoice(export_id, DeploymentType.PLATFORM_ENDPOINT, tier="free")
    deployment_id = view.create_deployment(choice)
    assert deployment_id is not None
    first = view.timeline.lines()
    assert any("Created" in line for line in first) and any("API key created" in line for line in first)
    view.cards[deployment_id].toggle.click()
    assert deployments.get(deployment_id).status == "inactive"
    assert view.cards[deployment_id].status.text() == "inactive"
    assert view.cards[deployment_id].toggle.text() == "Activate"
    assert "Deactivated  (active → inactive)" in view.timeline.lines()[0]
    view.cards[deployment_id].toggle.click()
    assert deployments.get(deployment_id).status == "active"
    assert "Activated  (inactive → active)" in view.timeline.lines()[0]
    assert len(view.timeline.lines()) == len(first) + 2


def test_every_deployment_shows_until_the_visible_model_filter_narrows_it(
        qtbot: QtBot, tmp_path: Path) -> None:
    view, _deployments, export_id = make_view(qtbot, tmp_path)
    view.create_deployment(DeployChoice(export_id, ENDPOINT))
    own = JobService().get(export_id).checkpoint_id
    other = JobService().import_checkpoint(sample("digits-timm").checkpoint,
                                           model_name="mobilenetv3_small_050")
    view.set_checkpoint(other.id)  # the Models page selected another model: nothing hidden
    assert len(view.cards) == 1 and view.model_filter.isVisible()
    assert view.model_filter.currentText() == "All models"
    own_name = next(c.name for c in JobService().checkpoints() if c.id == own)
    [card] = view.cards.values()
    assert card.values["Export"].text() == f"“{own_name}” v1 (onnx)"
    view.filter_model(other.id)
    assert not view.cards and view.model_filter.currentText() == other.name
    assert view.empty.text().startswith(f"No deployments of “{other.name}”")
    view.model_filter.setCurrentIndex(view.model_filter.findData(own))
    assert len(view.cards) == 1


def test_wizard_preselects_the_export_and_returns_the_choice(qtbot: QtBot, tmp_path: Path) -> None:
    view, _deployments, export_id = make_view(qtbot, tmp_path)
    view.select_export(export_id)
    wizard = DeployWizard(view.completed_exports(), view.preselected_export)
    qtbot.addWidget(wizard)
    wizard.show()
    assert wizard.export_page.combo.currentData() == export_id
    wizard.next()
    assert wizard.type_page.kind == DeploymentType.PLATFORM_ENDPOINT
    wizard.next()
    wizard.config_page.tier.setCurrentIndex(wizard.config_page.tier.findData("enterprise"))
    assert wizard.choice() == DeployChoice(export_id, DeploymentType.PLATFORM_ENDPOINT, tier="enterprise")
    assert wizard.grab().save(str(tmp_path / "wizard.png"))


def test_the_wizard_lists_the_endpoint_and_the_package_registry() -> None:
    assert [c.kind for c in type_choices()] == [ENDPOINT, *packaging.names()]
    assert [c.title for c in type_choices()][1:] == [t.title for t in packaging.package_types()]


@pytest.mark.parametrize("export_format", formats.names())
def test_the_wizard_never_offers_an_impossible_package(qtbot: QtBot, export_format: str) -> None:
    wizard = DeployWizard([ExportOption("e" * 32, f"detector · {export_format} v1", export_format)])
    qtbot.addWidget(wizard)
    wizard.show()
    wizard.next()
    page = wizard.type_page
    assert page.buttons[ENDPOINT].isEnabled()
    for entry in packaging.package_types():
        button = page.buttons[entry.name]
        assert button.isEnabled() == entry.accepts(export_format), entry.name
        if not entry.accepts(export_format):  # it says which export to make, in the app's words
            note = page.notes[entry.name].text()
            assert f"export:{entry.needed_format}" in note and "export now</a>" in note
            assert formats.get(entry.needed_format).title in note
            assert "slipway" not in note and "--" not in note
            button.click()  # a disabled radio button cannot be chosen
            assert page.kind != entry.name
    for entry in packaging.for_format(export_format):
        page.buttons[entry.name].click()
        assert page.kind == entry.name and page.isComplete()
        wizard.next()
        assert wizard.choice() == DeployChoice("e" * 32, entry.name)
        assert entry.description in wizard.config_page.note.text()
        wizard.back()


def test_the_type_page_follows_the_chosen_export(qtbot: QtBot, tmp_path: Path) -> None:
    wizard = DeployWizard([ExportOption("a" * 32, "detector · coreml v1", "coreml"),
                           ExportOption("b" * 32, "detector · onnx v2", "onnx")], selected="a" * 32)
    qtbot.addWidget(wizard)
    wizard.resize(640, 560)
    wizard.show()
    wizard.next()
    wizard.type_page.buttons["edge-ios"].click()
    assert wizard.type_page.kind == "edge-ios"
    assert wizard.grab().save(str(tmp_path / "deploy-types-coreml.png"))
    wizard.back()
    wizard.export_page.combo.setCurrentIndex(1)  # the ONNX export: no iOS package
    wizard.next()
    assert not wizard.type_page.buttons["edge-ios"].isEnabled()
    assert wizard.type_page.kind == ENDPOINT  # the impossible choice was dropped, not kept
    note = wizard.type_page.notes["edge-ios"].text()
    assert "is made from a Core ML export; this one is ONNX" in note and "Make a Core ML export now" in note
    assert wizard.grab().save(str(tmp_path / "deploy-types-onnx.png"))


def test_a_wrong_format_is_refused_before_any_work(qtbot: QtBot, tmp_path: Path) -> None:
    view, deployments, export_id = make_view(qtbot, tmp_path)  # an ONNX export
    with qtbot.waitSignal(errors().sig_error, timeout=2000) as routed:
        assert view.create_deployment(DeployChoice(export_id, "edge-ios")) is None
    assert view.packaging is None  # nothing was started
    assert "Make a Core ML export of this model" in routed.args[0]
    assert view.status.text().startswith("Could not create the deployment: an iOS edge package is made from")
    assert "[" not in view.status.text() and "slipway" not in view.status.text()  # a sentence, no CLI
    assert deployments.list_deployments(include_deleted=True) == []
    assert not view.cards


def test_a_packaging_failure_reaches_the_notification_bar(qtbot: QtBot, window: MainWindow,
                                                        tmp_path: Path) -> None:
    """The export row exists but its folder holds no package: the thread's BadInput is the message."""
    view = window.deployments
    export_id = completed_export(window.service, tmp_path)
    window.show_page("Deployments")
    view.refresh()
    with qtbot.waitSignal(errors().sig_error, timeout=30_000) as routed:
        task = view.create_deployment(DeployChoice(export_id, "container"))
        assert task is None and view.packaging is not None  # built in the background
    qtbot.waitUntil(lambda: view.packaging is None, timeout=30_000)
    assert "is not an export package: it has no metadata.json" in routed.args[0]
    assert window.notification.isVisible() and window.notification.text.text() == routed.args[0]
    assert view.status.text() == f"Packaging failed: {routed.args[0]}"
    assert view.deployments.list_deployments(include_deleted=True) == []


def built_view(qtbot: QtBot, exported: Callable[[str], CliRun], name: str, export_format: str
               ) -> tuple[DeploymentsView, DeploymentService, str]:
    jobs, deployments = JobService(), DeploymentService()
    run = exported(name)
    job = jobs.create_job(ExportSpec(checkpoint=sample("shapes-yolo11n").checkpoint,
                                     export_format=export_format),
                          out_dir=Path(run.result["package_dir"]))
    jobs.finish(job.id, 0, None)
    view = DeploymentsView(jobs, deployments)
    qtbot.addWidget(view)
    view.resize(1200, 720)
    view.show()
    return view, deployments, job.id


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["download", "container", "edge-android"])
def test_packages_are_built_off_the_ui_thread_and_recorded(
        qtbot: QtBot, exported: Callable[[str], CliRun], tmp_path: Path, kind: str) -> None:
    """Every package type is built the same way: core.packaging.package on a pool thread."""
    view, deployments, export_id = built_view(qtbot, exported, "det-onnx", "onnx")
    assert view.create_deployment(DeployChoice(export_id, kind)) is None  # returns at once
    assert view.packaging is not None
    statuses: list[str] = []
    view.packaging.sig_progress.connect(statuses.append)
    qtbot.waitUntil(lambda: view.packaging is None, timeout=240_000)
    assert view.status.text().startswith("Package ready:"), view.status.text()
    assert statuses, "no progress reached the UI"
    [target] = deployments.list_deployments(export_id=export_id)
    entry = packaging.get(kind)
    config = target.deployment_config or {}
    assert target.deployment_type == entry.deployment_type
    assert config["package_type"] == kind
    assert Path(config["package_path"]).is_file()
    card = view.cards[target.id]
    assert card.values["Type"].text() == entry.title
    assert card.values["Package"].text().endswith(Path(config["package_path"]).name)
    if kind == "download":
        assert card.values["Package"].text().endswith("export-package.zip")
    if kind == "edge-android":
        assert card.values["Platform"].text() == "android"
    assert view.grab().save(str(tmp_path / f"deployments-{kind}.png"))


def test_a_deployment_is_deleted_from_its_card_after_asking(qtbot: QtBot, tmp_path: Path) -> None:
    view, deployments, export_id = make_view(qtbot, tmp_path)
    target = deployments.create(export_id, ENDPOINT)
    key = deployments.create_key(target.id)
    view.refresh()
    card = view.cards[target.id]
    seen: list[str] = []
    answer_next_question("Keep", seen)
    card.delete.click()
    assert target.name in seen[0] and "v1 (onnx)" in seen[0] and "cannot be undone" in seen[0]
    assert target.id in view.cards and deployments.get(target.id).status == "active"
    answer_next_question("Delete", seen)
    view.cards[target.id].delete.click()
    assert deployments.get(target.id).status == "deleted" and view.cards == {}
    assert deployments.authenticate(target.id, key.secret) is None  # its key stopped working
    assert view.empty.isVisible()


def test_a_package_that_needs_another_format_offers_to_make_that_export(
        qtbot: QtBot, window: MainWindow, tmp_path: Path) -> None:
    export_id = completed_export(window.service, tmp_path)
    deployments = window.deployments
    deployments.select_export(export_id)
    deployments.open_wizard()
    [wizard] = [w for w in deployments.findChildren(DeployWizard) if w.isVisible()]
    wizard.next()
    note = wizard.type_page.notes["edge-ios"]
    assert "Make a Core ML export now" in note.text()
    with qtbot.waitSignal(deployments.sig_export_requested) as asked:
        note.linkActivated.emit("export:coreml")  # the link in the note, as a click sends it
    assert asked.args == [export_id, "coreml"] and not wizard.isVisible()
    [export_wizard] = [w for w in window.findChildren(ExportWizard) if w.isVisible()]
    detector = JobService().get(export_id).checkpoint_id
    assert export_wizard.checkpoint.id == detector
    if export_wizard.format_page.cards["coreml"].available:
        assert export_wizard.format_page.chosen == "coreml"


def test_a_read_older_than_a_purge_shows_no_error(qtbot: QtBot, tmp_path: Path) -> None:
    """The store watcher's read can finish after the export was deleted (its deployments purged
    for good): the stale card's history is gone, and selecting it clears the timeline, no error."""
    view, deployments, export_id = make_view(qtbot, tmp_path)
    target = deployments.create(export_id, ENDPOINT)
    view.refresh()
    stale = view.read_cards(None)  # read before the purge ...
    deployments.delete(target.id)
    deployments.purge_export(export_id)
    view.show_cards(stale)  # ... applied after it
    assert view.timeline.lines() == [] and view.selected == target.id
    view.refresh()
    assert view.cards == {} and view.empty.isVisible()
