"""Decompression bombs against a real server: refused with 4xx before the pixels are allocated.

The server's memory is read from /proc (VmHWM, its peak, reset before each
bomb through clear_refs), so the bound holds for the whole request, not just
the moment after it.
"""

from __future__ import annotations

import base64
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.samples import sample
from tests.core.serve import bombs
from tests.core.serve.conftest import start_server

pytestmark = [pytest.mark.slow,  # needs the session's real exports
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")]
GROWTH_LIMIT_MB = 300


def _mb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) // 1024
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def _reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS


def test_bombs_get_4xx_and_the_server_stays_small(
    deploy: Callable[..., dict[str, Any]], slipway_home: Path
) -> None:
    det = deploy("det-onnx", tier="enterprise")
    server = start_server(slipway_home)
    pid = server.process.pid
    url = f"{server.url}/v1/infer/{det['id']}"
    auth = {"Authorization": f"Bearer {det['api_key']}"}
    normal = {"image": base64.b64encode(sample("shapes-yolo11n").image_files()[0].read_bytes()).decode()}

    def post(data: bytes) -> httpx.Response:
        return httpx.post(url, json={"image": base64.b64encode(data).decode()}, headers=auth, timeout=120)

    try:
        assert httpx.post(url, json=normal, headers=auth, timeout=120).status_code == 200  # model loaded
        payloads = {name: make(20_000) if name == "png" else make() for name, make in bombs.BOMBS.items()}
        for name, data in payloads.items():
            before = _mb(pid, "VmRSS")
            _reset_peak(pid)
            answer = post(data)
            growth = _mb(pid, "VmHWM") - before
            assert answer.status_code in (415, 422), f"{name}: {answer.status_code} {answer.text[:200]}"
            assert answer.json()["error"], name
            assert growth < GROWTH_LIMIT_MB, f"{name}: the server grew by {growth} MB"
        before = _mb(pid, "VmRSS")
        _reset_peak(pid)
        with ThreadPoolExecutor(4) as pool:  # several at once, as the probe did
            answers = list(pool.map(post, [payloads["jpeg-fill-byte"], payloads["webp-lossless"]] * 2))
        assert all(a.status_code == 422 for a in answers)
        assert _mb(pid, "VmHWM") - before < GROWTH_LIMIT_MB
        # just under the pixel cap they are served, one at a time within the decode budget
        before = _mb(pid, "VmRSS")
        _reset_peak(pid)
        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(post, [bombs.jpeg_with_fill_byte(6000), bombs.png(6000)]))
        assert [a.status_code for a in answers] == [200, 200], [a.text[:200] for a in answers]
        assert _mb(pid, "VmHWM") - before < GROWTH_LIMIT_MB
        assert httpx.post(url, json=normal, headers=auth, timeout=120).status_code == 200
    finally:
        assert server.stop() == 0
