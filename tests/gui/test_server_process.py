"""The endpoint server adapter: start → listening line → health over real HTTP → stop (then kill)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest
from pytestqt.qtbot import QtBot

from gui import server_process
from gui.server_process import ServerProcess, ServerState, server_command

STAND_IN = textwrap.dedent('''
    import json, signal, sys
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"status": "ok", "path": self.path}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *args):
            pass

    if "--ignore-term" in sys.argv:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    server = HTTPServer(("127.0.0.1", 0), Handler)
    print("starting up", flush=True)
    print(f"listening on http://127.0.0.1:{server.server_port}", flush=True)
    server.serve_forever()
''')


def stand_in(tmp_path: Path, *flags: str) -> list[str]:
    script = tmp_path / "stand_in_server.py"
    script.write_text(STAND_IN, encoding="utf-8")
    return [sys.executable, str(script), *flags]


def test_command_runs_the_cli_serve_subcommand() -> None:
    assert server_command(8123)[1:] == ["-m", "gui.launcher", "serve", "--host", "127.0.0.1",
                                        "--port", "8123"]


def test_start_health_stop(qtbot: QtBot, tmp_path: Path) -> None:
    server = ServerProcess(stand_in(tmp_path))
    states: list[str] = []
    server.sig_state_changed.connect(states.append)
    with qtbot.waitSignal(server.sig_listening, timeout=20_000) as listening:
        server.start()
    url = listening.args[0]
    assert url == server.url and url.startswith("http://127.0.0.1:")
    assert server.state == ServerState.RUNNING
    answer = httpx.get(f"{url}/v1/deployments/abc/health", timeout=5)
    assert answer.status_code == 200 and answer.json()["path"] == "/v1/deployments/abc/health"
    with qtbot.waitSignal(server.sig_state_changed, timeout=10_000,
                          check_params_cb=lambda s: s == ServerState.STOPPED):
        server.stop()
    assert states == [ServerState.STARTING, ServerState.RUNNING, ServerState.STOPPING, ServerState.STOPPED]
    assert server.url is None
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/v1/deployments/abc/health", timeout=2)


def test_a_server_ignoring_sigterm_is_killed_after_the_grace(qtbot: QtBot, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_process, "STOP_GRACE_MS", 300)
    server = ServerProcess(stand_in(tmp_path, "--ignore-term"))
    with qtbot.waitSignal(server.sig_listening, timeout=20_000):
        server.start()
    with qtbot.waitSignal(server.sig_state_changed, timeout=10_000,
                          check_params_cb=lambda s: s == ServerState.STOPPED):
        server.stop()
    assert any("killing" in line for line in server.log)


def test_a_server_that_dies_at_start_is_failed(qtbot: QtBot) -> None:
    server = ServerProcess([sys.executable, "-c", "import sys; sys.exit(3)"])
    with qtbot.waitSignal(server.sig_state_changed, timeout=10_000,
                          check_params_cb=lambda s: s == ServerState.FAILED):
        server.start()
    assert server.exit_code == 3 and server.url is None


def _serve_exists() -> bool:
    probe = subprocess.run([sys.executable, "-m", "gui.launcher", "serve", "--help"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.slow
def test_the_real_slipway_serve(qtbot: QtBot) -> None:
    if not _serve_exists():
        pytest.skip("`slipway serve` is not in the CLI yet")
    server = ServerProcess()
    with qtbot.waitSignal(server.sig_listening, timeout=60_000) as listening:
        server.start()
    answer = httpx.get(f"{listening.args[0]}/v2/health/live", timeout=5)
    assert answer.status_code == 200
    with qtbot.waitSignal(server.sig_state_changed, timeout=15_000,
                          check_params_cb=lambda s: s == ServerState.STOPPED):
        server.stop()
