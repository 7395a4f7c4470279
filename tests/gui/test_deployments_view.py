"""The deployments view over a real database: endpoint creation with its key shown once,
activate/deactivate with the timeline, the wizard's choice and the package command.

The export row comes from a replayed worker result (a real export is not the point here).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtGui import QGuiApplication
from pytestqt.qtbot import QtBot

from core.db import DeploymentType
from core.deployments import KEY_PREFIX, DeploymentService
from core.jobs import JobService
from core.samples import sample
from core.spec import ExportSpec
from gui.deploy_wizard import DeployChoice, DeployWizard, packaging_available
from gui.views.deployments import DeploymentsView, package_command
from tests.helpers import CliRun


def completed_export(jobs: JobService, tmp_path: Path) -> str:
    package = tmp_path / "package"
    package.mkdir()
    job = jobs.create_job(ExportSpec(checkpoint=sample("shapes-yolo11n").checkpoint, export_format="onnx"),
                          out_dir=package)
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


def test_download_deployment_points_at_the_package_zip(qtbot: QtBot, tmp_path: Path) -> None:
    view, _deployments, export_id = make_view(qtbot, tmp_path)
    deployment_id = view.create_deployment(DeployChoice(export_id, DeploymentType.DOWNLOAD))
    assert deployment_id is not None
    assert view.cards[deployment_id].values["Package"].text().endswith("export-package.zip")
    assert not view.key_banner.isVisible()
    assert "URL" not in view.cards[deployment_id].values


def test_checkpoint_filter_hides_other_models_deployments(qtbot: QtBot, tmp_path: Path) -> None:
    view, _deployments, export_id = make_view(qtbot, tmp_path)
    view.create_deployment(DeployChoice(export_id, DeploymentType.DOWNLOAD))
    own = JobService().get(export_id).checkpoint_id
    view.set_checkpoint(own)
    assert len(view.cards) == 1
    other = JobService().import_checkpoint(sample("digits-timm").checkpoint,
                                           model_name="mobilenetv3_small_050")
    view.set_checkpoint(other.id)
    assert not view.cards


def test_wizard_preselects_the_export_and_returns_the_choice(qtbot: QtBot, tmp_path: Path) -> None:
    view, _deployments, export_id = make_view(qtbot, tmp_path)
    view.select_export(export_id)
    wizard = DeployWizard(view.completed_exports(), view.preselected_export)
    qtbot.addWidget(wizard)
    wizard.show()
    assert wizard.export_page.combo.currentData() == export_id
    wizard.next()
    assert wizard.type_page.deployment_type == DeploymentType.PLATFORM_ENDPOINT
    wizard.next()
    wizard.config_page.tier.setCurrentIndex(wizard.config_page.tier.findData("enterprise"))
    assert wizard.choice() == DeployChoice(export_id, DeploymentType.PLATFORM_ENDPOINT, tier="enterprise")
    assert wizard.grab().save(str(tmp_path / "wizard.png"))


def test_package_command_uses_the_cli() -> None:
    choice = DeployChoice("abc", DeploymentType.EDGE_PACKAGE, platform="ios")
    assert package_command("abc", choice) == [sys.executable, "-m", "gui.launcher", "package", "abc",
                                              "--type", "edge-ios", "--json"]
    container = DeployChoice("abc", DeploymentType.CONTAINER)
    assert package_command("abc", container)[-3:] == ["--type", "container", "--json"]


@pytest.mark.slow
def test_container_package_is_built_through_the_cli(qtbot: QtBot, exported: Callable[[str], CliRun]) -> None:
    """The view runs `slipway package … --json` as a child process and shows the deployment it records."""
    if not packaging_available():
        pytest.skip("core.packaging is not there yet")
    jobs, deployments = JobService(), DeploymentService()
    run = exported("det-onnx")
    job = jobs.create_job(ExportSpec(checkpoint=sample("shapes-yolo11n").checkpoint, export_format="onnx"),
                          out_dir=Path(run.result["package_dir"]))
    jobs.finish(job.id, 0, None)
    view = DeploymentsView(jobs, deployments)
    qtbot.addWidget(view)
    # returns at once: the package is built in the background
    assert view.create_deployment(DeployChoice(job.id, DeploymentType.CONTAINER)) is None
    assert view._packaging is not None
    qtbot.waitUntil(lambda: view._packaging is None, timeout=240_000)
    assert view.status.text().startswith("Package ready:"), view.status.text()
    [target] = deployments.list_deployments(export_id=job.id)
    assert target.deployment_type == DeploymentType.CONTAINER
    assert target.id in view.cards
