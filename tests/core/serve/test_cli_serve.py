"""`slipway serve` keeps the GUI's contract: one `listening on` line, KServe liveness, clean SIGTERM."""

from __future__ import annotations

from pathlib import Path

import httpx

from core.serve.runner import is_loopback
from tests.core.serve.conftest import start_server
from tests.helpers import slipway


def test_serve_announces_its_port_answers_and_stops_cleanly_on_sigterm(slipway_home: Path) -> None:
    server = start_server(slipway_home)
    assert server.url.startswith("http://127.0.0.1:") and not server.url.endswith(":0")
    live = httpx.get(f"{server.url}/v2/health/live")
    assert live.status_code == 200 and live.json() == {"live": True}
    assert httpx.get(f"{server.url}/v2").json()["extensions"] == ["binary_tensor_data"]
    schema = httpx.get(f"{server.url}/openapi.json").json()
    assert {"/v1/infer/{deployment_id}", "/v2/models/{name}/infer"} <= set(schema["paths"])
    missing = httpx.post(f"{server.url}/v1/infer/0123abcd", json={"image": ""})
    assert missing.status_code == 404 and "no platform_endpoint deployment" in missing.json()["error"]
    assert httpx.get(f"{server.url}/nowhere").json() == {"error": "Not Found"}
    assert server.stop() == 0
    assert server.process.stdout is not None and server.process.stdout.read() == ""  # one line only


def test_serve_refuses_a_port_in_use_and_warns_off_loopback(slipway_home: Path) -> None:
    server = start_server(slipway_home)
    try:
        port = server.url.rsplit(":", 1)[1]
        # another data directory: on the same one the server lock would refuse it first
        busy = slipway("serve", "--port", port, home=slipway_home.parent / "other-home", timeout=60)
        assert busy.code == 2 and f"cannot listen on 127.0.0.1:{port}" in busy.stderr
    finally:
        server.stop()
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")


def test_deploy_refuses_an_unknown_export(slipway_home: Path) -> None:
    run = slipway("deploy", "abcdef12", "--json", home=slipway_home, timeout=60)
    assert run.code == 2 and "no export" in run.stderr
