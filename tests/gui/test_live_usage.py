"""Live usage on the endpoint cards: the real `slipway serve` (started by the view) answers real
HTTP calls, and the card's chart and totals follow within seconds, without a refresh, from reads
made off the UI thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pytestqt.qtbot import QtBot

from core.deployments import DeploymentService
from gui import usage_monitor
from gui.usage_monitor import UsageSeries
from gui.views.deployments import DeploymentsView
from tests.gui.test_endpoint_management import endpoint_view, issue, start_server


@pytest.fixture
def stop_servers() -> Iterator[list[DeploymentsView]]:
    views: list[DeploymentsView] = []
    yield views
    for view in views:
        view.server.stop()


def test_the_card_chart_follows_real_traffic_live(qtbot: QtBot, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  stop_servers: list[DeploymentsView]) -> None:
    threads: list[int] = []
    real_read = usage_monitor.read_counters

    def read(service: DeploymentService) -> dict[str, tuple[int, int, float]]:
        threads.append(threading.get_ident())
        return real_read(service)

    monkeypatch.setattr(usage_monitor, "read_counters", read)
    view, _deployments, deployment_id = endpoint_view(qtbot, tmp_path=tmp_path)
    view.usage.timer.setInterval(250)
    key = issue(view, "unlimited", "load")
    url = start_server(qtbot, view, stop_servers)
    card = view.cards[deployment_id]
    chart = card.chart
    assert chart is not None and view.usage.active
    qtbot.waitUntil(lambda: view.usage.series.totals(deployment_id) is not None, timeout=10_000)
    with httpx.Client(timeout=10) as client:  # admitted, then refused (not an image): counted as errors
        for _ in range(5):
            answer = client.post(f"{url}/v1/infer/{deployment_id}", json={"image": "not an image"},
                                 headers={"Authorization": f"Bearer {key}"})
            assert answer.status_code == 422
    qtbot.waitUntil(lambda: sum(s.errors for s in chart.samples) >= 5, timeout=15_000)
    assert view.cards[deployment_id] is card  # the same card, updated in place: no refresh needed
    assert card.values["Usage"].text().startswith("5 requests · 5 errors")
    assert "err" in chart.caption()
    assert threads and threading.get_ident() not in threads  # every read ran on a pool thread
    shot = tmp_path / "live-usage.png"
    assert card.grab().save(str(shot))
    view.hide()
    assert not view.usage.active  # nothing is read while the page is not on screen


def test_the_series_turns_counters_into_intervals() -> None:
    series = UsageSeries(keep=3)
    series.add({"a": (10, 1, 90.0)}, 0.0)  # the baseline: what came before the app looked
    assert series.of("a") == []
    series.add({"a": (14, 2, 120.0)}, 1.0)
    [first] = series.of("a")
    assert (first.requests, first.errors, first.mean_ms) == (4, 1, 10.0)
    series.add({"a": (14, 2, 120.0)}, 2.0)
    assert series.of("a")[-1].mean_ms is None and series.of("a")[-1].requests == 0
    for at in range(3, 6):
        series.add({"a": (14 + at, 2, 120.0 + at)}, float(at))
    assert len(series.of("a")) == 3 and series.totals("a") == (19, 2, 125.0)
