"""Limits that hold for the whole data directory, on real `slipway serve` processes: side endpoints
throttled like inference, a write-locked database that no request waits for, one server per data
directory, and a rate window that outlives a restart (graceful or SIGKILL)."""

from __future__ import annotations

import base64
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.samples import sample
from tests.core.serve.conftest import Server, service, start_server
from tests.helpers import SLIPWAY

pytestmark = pytest.mark.slow  # needs the session's real exports
LOCK_S = 5.0  # how long another process holds the database's write lock (the probe)


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _body() -> dict[str, str]:
    return {"image": base64.b64encode(sample("digits-timm").image_files()[0].read_bytes()).decode()}


def test_side_endpoints_take_places_in_the_key_window_but_not_in_usage(
    deploy: Callable[..., dict[str, Any]], server: Server, slipway_home: Path
) -> None:
    cls = deploy("timm-onnx", tier="free")
    other = service(slipway_home).create_key(cls["id"], tier="enterprise")
    base, auth = server.url, _auth(cls["api_key"])
    usage = f"{base}/v1/deployments/{cls['id']}/usage"
    codes = [httpx.get(usage, headers=auth).status_code for _ in range(12)]
    assert codes == [200] * 10 + [429] * 2, codes  # the free tier's 10 a minute
    refused = httpx.get(usage, headers=auth)
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert "10 requests per minute" in refused.json()["error"]
    dep = cls["id"]
    for method, path in (("POST", f"/v1/deployments/{dep}/cache/clear"), ("GET", f"/v2/models/{dep}"),
                         ("GET", f"/v2/models/{dep}/ready"), ("GET", f"/v2/models/{dep}/config"),
                         ("POST", f"/v1/infer/{dep}")):
        answer = httpx.request(method, base + path, headers=auth, json=_body())
        assert answer.status_code == 429, (path, answer.status_code, answer.text)
    assert httpx.get(base + f"/v2/models/{cls['id']}", headers=_auth("sk_slipway_wrong")).status_code == 401
    # another key is not throttled, and side calls were not counted as requests
    assert httpx.post(f"{base}/v1/infer/{cls['id']}", json=_body(), headers=_auth(other.secret),
                      timeout=60).status_code == 200
    report = httpx.get(usage, headers=_auth(other.secret)).json()
    assert report["request_count"] == 1 and [r["key_id"] for r in report["keys"]] == [other.id]


def _hold_write_lock(database: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process holding `BEGIN IMMEDIATE` on the database; returns once it holds it."""
    code = ("import sqlite3, sys, time\n"
            f"con = sqlite3.connect({str(database)!r}, isolation_level=None)\n"
            "con.execute('BEGIN IMMEDIATE'); print('locked', flush=True)\n"
            f"time.sleep({seconds}); con.execute('COMMIT')\n")
    locker = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
    return locker


def _timed(call: Callable[[], httpx.Response]) -> tuple[float, int]:
    start = time.perf_counter()
    code = call().status_code
    return time.perf_counter() - start, code


def test_a_write_locked_database_blocks_neither_inference_nor_usage(
    deploy: Callable[..., dict[str, Any]], slipway_home: Path
) -> None:
    cls = deploy("timm-onnx", tier="pro")
    server = start_server(slipway_home, "--workers", "1")  # one inference thread: nothing to hide behind
    url, usage = f"{server.url}/v1/infer/{cls['id']}", f"{server.url}/v1/deployments/{cls['id']}/usage"
    client = httpx.Client(headers=_auth(cls["api_key"]), timeout=60)
    try:
        assert client.post(url, json=_body()).status_code == 200  # the model is loaded
        locker = _hold_write_lock(slipway_home / "slipway.db", LOCK_S)
        infer = _timed(lambda: client.post(url, json=_body()))  # its count waits for the writer
        side: list[tuple[float, int]] = []
        reading = threading.Thread(target=lambda: side.append(_timed(lambda: client.get(usage))))
        reading.start()
        during = _timed(lambda: httpx.post(url, json=_body(), headers=_auth(cls["api_key"]), timeout=60))
        reading.join()
        time.sleep(1.2)  # past the status and key caches: their lookups read a locked database
        later = _timed(lambda: client.post(url, json=_body()))
        report = client.get(usage).json()
        assert locker.poll() is None, "the lock was released before the requests ended"
        print(f"with the database write-locked: infer {infer[0] * 1000:.0f} ms, /usage "
              f"{side[0][0] * 1000:.0f} ms, infer beside it {during[0] * 1000:.0f} ms, infer after the "
              f"caches {later[0] * 1000:.0f} ms")
        for what, (took, code) in {"infer": infer, "usage": side[0], "infer beside usage": during,
                                   "infer after the caches expired": later}.items():
            assert code == 200, what
            assert took < LOCK_S / 2, f"{what} waited {took:.2f} s for the locked database (before: 5 s)"
        assert report["request_count"] == 4  # counted in memory while the database could not be written
        locker.wait(timeout=30)
        deadline = time.monotonic() + 10
        while service(slipway_home).get(cls["id"]).request_count < 4:  # written once the lock is gone
            assert time.monotonic() < deadline, "usage was not written after the lock was released"
            time.sleep(0.1)
        assert client.post(url, json=_body()).status_code == 200
    finally:
        client.close()
        assert server.stop() == 0
    assert service(slipway_home).get(cls["id"]).request_count == 5


def _serve_refused(home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SLIPWAY, "serve", "--port", "0"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "SLIPWAY_HOME": str(home)})


def test_one_server_per_data_directory_and_the_window_outlives_restarts(
    deploy: Callable[..., dict[str, Any]], slipway_home: Path
) -> None:
    cls = deploy("timm-onnx", tier="free")
    second_key = service(slipway_home).create_key(cls["id"], tier="free")
    server = start_server(slipway_home)
    second = _serve_refused(slipway_home)
    assert second.returncode == 2, second.stderr
    assert str(slipway_home) in second.stderr and f"pid {server.process.pid}" in second.stderr
    assert server.url in second.stderr and "Traceback" not in second.stderr
    url = f"/v1/infer/{cls['id']}"
    codes = [httpx.post(server.url + url, json=_body(), headers=_auth(cls["api_key"]), timeout=60).status_code
             for _ in range(10)]
    assert codes == [200] * 10
    assert server.stop() == 0  # graceful: the window is written on the way out
    server = start_server(slipway_home)
    try:
        again = httpx.post(server.url + url, json=_body(), headers=_auth(cls["api_key"]), timeout=60)
        assert again.status_code == 429 and 1 <= int(again.headers["retry-after"]) <= 60, again.text
        codes = [httpx.post(server.url + url, json=_body(), headers=_auth(second_key.secret),
                            timeout=60).status_code for _ in range(10)]
        assert codes == [200] * 10
        _wait_for_window(slipway_home / "slipway.db", second_key.id, 10)  # the writer's next round
    finally:
        server.process.send_signal(signal.SIGKILL)  # no shutdown at all
        server.process.wait(timeout=30)
    server = start_server(slipway_home)  # the dead server's lock went with it
    try:
        killed = httpx.post(server.url + url, json=_body(), headers=_auth(second_key.secret), timeout=60)
        assert killed.status_code == 429, killed.text
        assert httpx.get(f"{server.url}/v1/deployments/{cls['id']}/health").json()["healthy"] is True
    finally:
        assert server.stop() == 0


def _wait_for_window(database: Path, key_id: str, hits: int) -> None:
    deadline = time.monotonic() + 10
    while True:
        with sqlite3.connect(database) as con:
            row = con.execute("SELECT json_array_length(hits) FROM rate_windows WHERE api_key_id = ?",
                              (key_id,)).fetchone()
        if row is not None and row[0] == hits:
            return
        assert time.monotonic() < deadline, f"the window of key {key_id} was not written: {row}"
        time.sleep(0.1)
