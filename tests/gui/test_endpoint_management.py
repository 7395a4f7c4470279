"""Endpoint management in the app, on the real Deployments view over the real key store: keys
issued, listed and revoked; a tier per key, with "unlimited" for this machine, honoured by the real
`slipway serve` over real HTTP; a port that persists; URL, curl and Python snippets on the
clipboard (run for real against a real export in the slow test); /docs served without the network.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from PySide6.QtGui import QGuiApplication
from pytestqt.qtbot import QtBot

from core.db import Database, DeploymentType
from core.deployments import KEY_PREFIX, DeploymentService
from core.jobs import JobService
from core.samples import sample
from core.tiers import LOCAL_TIER, TIERS
from gui.deploy_wizard import DeployChoice
from gui.preferences import Preferences
from gui.server_process import ServerState
from gui.views.deployments import DeploymentsView
from tests.gui.test_deployments_view import completed_export
from tests.helpers import CliRun

ENDPOINT = DeploymentType.PLATFORM_ENDPOINT


def endpoint_view(qtbot: QtBot, export_id: str | None = None, tmp_path: Path | None = None,
                  ) -> tuple[DeploymentsView, DeploymentService, str]:
    jobs, deployments = JobService(), DeploymentService()
    if export_id is None:
        assert tmp_path is not None
        export_id = completed_export(jobs, tmp_path)
    view = DeploymentsView(jobs, deployments)
    qtbot.addWidget(view)
    view.resize(1200, 720)
    view.show()
    deployment_id = view.create_deployment(DeployChoice(export_id, ENDPOINT, tier="free"))
    assert deployment_id is not None
    view.dismiss_key()
    return view, deployments, deployment_id


def issue(view: DeploymentsView, tier: str, name: str) -> str:
    view.keys.tier.setCurrentIndex(view.keys.tier.findData(tier))
    view.keys.name.setText(name)
    view.keys.issue_button.click()
    secret = view.key_field.text()
    assert view.key_banner.isVisible() and secret.startswith(KEY_PREFIX)
    return secret


@pytest.fixture
def stop_servers() -> Iterator[list[DeploymentsView]]:
    views: list[DeploymentsView] = []
    yield views
    for view in views:
        view.server.stop()


def start_server(qtbot: QtBot, view: DeploymentsView, stop_servers: list[DeploymentsView]) -> str:
    view.port.setValue(0)  # any free port: tests run side by side
    stop_servers.append(view)
    view.toggle_server()
    qtbot.waitUntil(lambda: view.server.state in (ServerState.RUNNING, ServerState.FAILED), timeout=120_000)
    assert view.server.state == ServerState.RUNNING, "\n".join(view.server.log[-20:])
    assert view.server.url is not None
    return view.server.url


def test_keys_are_issued_listed_and_revoked_in_the_app(qtbot: QtBot, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    view, deployments, deployment_id = endpoint_view(qtbot, tmp_path=tmp_path)
    view.side_tabs.setCurrentWidget(view.keys)
    panel = view.keys
    assert panel.deployment_id == deployment_id and panel.table.rowCount() == 1  # the first key
    assert panel.tier.currentData() == LOCAL_TIER  # the app offers unlimited first, on this machine
    assert [panel.tier.itemData(i) for i in range(panel.tier.count())] == list(TIERS)
    secret = issue(view, "pro", "notebook")
    key = deployments.authenticate(deployment_id, secret)
    assert key is not None and key.tier == "pro" and key.name == "notebook"
    assert panel.table.rowCount() == 2
    row = panel.key_ids.index(key.id)
    assert [panel.table.item(row, c).text() for c in (1, 2, 5)] == ["notebook", "pro", "live"]
    assert panel.table.item(row, 0).text() == f"{key.prefix}…"
    assert view.grab().save(str(tmp_path / "keys.png"))
    # revoke, after the question
    questions: list[str] = []
    monkeypatch.setattr(panel, "confirm", lambda q: questions.append(q) or True)
    panel.table.selectRow(row)
    assert panel.revoke_button.isEnabled()
    panel.revoke_button.click()
    assert len(questions) == 1 and key.prefix in questions[0]
    assert deployments.authenticate(deployment_id, secret) is None
    assert panel.table.rowCount() == 1 and key.id not in panel.key_ids  # revoked keys are hidden…
    panel.show_revoked.setChecked(True)
    revoked_row = panel.key_ids.index(key.id)  # …until asked for
    assert panel.table.item(revoked_row, 5).text() == "revoked"
    panel.table.selectRow(revoked_row)
    assert not panel.revoke_button.isEnabled()


def test_a_package_has_no_keys(qtbot: QtBot, tmp_path: Path) -> None:
    view, _deployments, _endpoint = endpoint_view(qtbot, tmp_path=tmp_path)
    package = DeploymentService().create(view.completed_exports()[0].id, "download")
    view.show_history(package.id)
    assert view.keys.deployment_id is None and not view.keys.issue_button.isEnabled()
    assert "packages have no API keys" in view.keys.heading.text()


def test_the_unlimited_tier_is_never_throttled_and_revocation_lands(
        qtbot: QtBot, tmp_path: Path, stop_servers: list[DeploymentsView]) -> None:
    """Over real HTTP, the real `slipway serve` the view starts: the free tier refuses the 11th call
    in a minute (the seed's 10/min); a key on the unlimited tier answers every one."""
    view, _deployments, deployment_id = endpoint_view(qtbot, tmp_path=tmp_path)
    free = issue(view, "free", "free key")
    unlimited = issue(view, "unlimited", "local")
    url = start_server(qtbot, view, stop_servers)
    usage = f"{url}/v1/deployments/{deployment_id}/usage"
    per_minute = TIERS["free"]["rate_limit_per_minute"]
    assert per_minute is not None
    with httpx.Client(timeout=10) as client:
        codes = [client.get(usage, headers={"Authorization": f"Bearer {free}"}).status_code
                 for _ in range(per_minute + 2)]
        assert codes[:per_minute] == [200] * per_minute and codes[per_minute:] == [429, 429]
        codes = [client.get(usage, headers={"Authorization": f"Bearer {unlimited}"}).status_code
                 for _ in range(4 * per_minute)]
        assert codes == [200] * (4 * per_minute)
        # revoked in the app: the running server refuses the key within a second or so
        view.keys.show_revoked.setChecked(False)
        table = view.keys.table
        row = next(r for r in range(table.rowCount()) if table.item(r, 1).text() == "local")
        view.keys.table.selectRow(row)
        view.keys.confirm = lambda _question: True  # type: ignore[method-assign]
        view.keys.revoke_button.click()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            status = client.get(usage, headers={"Authorization": f"Bearer {unlimited}"}).status_code
            if status == 401:
                break
            time.sleep(0.2)
        assert status == 401
        # /docs is the server's own page: no CDN, no script, nothing outside this server
        docs = client.get(f"{url}/docs")
        assert docs.status_code == 200 and docs.headers["content-type"].startswith("text/html")
        assert "/v1/deployments/{deployment_id}/usage" in docs.text and "openapi.json" in docs.text
        assert not re.search(r"(?i)(https?:)?//[a-z0-9]", docs.text), "an external reference in /docs"
        assert "<script" not in docs.text.lower()
        assert client.get(f"{url}/redoc").status_code == 404  # ReDoc would load from a CDN
        assert client.get(f"{url}/openapi.json").json()["paths"]


def test_the_port_persists_and_snippets_are_copied(qtbot: QtBot, tmp_path: Path) -> None:
    view, _deployments, deployment_id = endpoint_view(qtbot, tmp_path=tmp_path)
    assert view.port.value() == 8000  # the CLI's default port, fixed unless changed
    view.port.setValue(8765)
    view.port.editingFinished.emit()
    assert Preferences.load().endpoint_port == 8765
    again = DeploymentsView(JobService(), DeploymentService())  # the app restarted
    qtbot.addWidget(again)
    assert again.port.value() == 8765
    card = view.cards[deployment_id]
    card.copy_buttons["url"].click()
    assert QGuiApplication.clipboard().text() == f"http://127.0.0.1:8765/v1/infer/{deployment_id}"
    card.copy_buttons["curl"].click()
    curl = QGuiApplication.clipboard().text()
    assert f"http://127.0.0.1:8765/v1/infer/{deployment_id}" in curl and "$SLIPWAY_API_KEY" in curl
    # a key just issued (still on the banner) goes into the snippet; after "I saved it" it does not
    secret = issue(view, "pro", "")
    card = view.cards[deployment_id]
    card.copy_buttons["python"].click()
    script = QGuiApplication.clipboard().text()
    assert secret in script and "tritonclient.http" in script and "'127.0.0.1:8765'" in script
    compile(script, "snippet.py", "exec")
    view.dismiss_key()
    card.copy_buttons["python"].click()
    assert secret not in QGuiApplication.clipboard().text()
    assert "SLIPWAY_API_KEY" in QGuiApplication.clipboard().text()


@pytest.mark.slow
def test_the_copied_snippets_run_against_a_real_export(
        qtbot: QtBot, slipway_home: Path, exported: Callable[[str], CliRun],
        stop_servers: list[DeploymentsView]) -> None:
    from tests.core.serve.conftest import record_export

    export_id = record_export(Database(slipway_home / "slipway.db"), exported("det-onnx"))
    view, _deployments, deployment_id = endpoint_view(qtbot, export_id=export_id)
    issue(view, "unlimited", "snippets")
    start_server(qtbot, view, stop_servers)
    image = sample("shapes-yolo11n").image_files()[0]
    curl = view.copy(deployment_id, "curl").replace("image.jpg", str(image))
    env = {**os.environ, "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
    answer = subprocess.run(["bash", "-c", curl], capture_output=True, text=True, timeout=120, env=env)
    assert answer.returncode == 0 and '"predictions"' in answer.stdout, answer.stdout + answer.stderr
    script = view.copy(deployment_id, "python")
    ran = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip(), "the tritonclient script printed no output"
    # both calls were real inferences: the card's live chart shows them with their latency
    chart = view.cards[deployment_id].chart
    assert chart is not None
    view.usage.timer.setInterval(300)
    qtbot.waitUntil(lambda: sum(s.requests for s in chart.samples) >= 2
                    and any(s.mean_ms for s in chart.samples), timeout=15_000)
    assert "2 requests · 0 errors" in view.cards[deployment_id].values["Usage"].text()
