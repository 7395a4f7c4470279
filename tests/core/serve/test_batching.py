"""Dynamic batching: concurrent requests to a dynamic-batch model share runs and get their own answers."""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.inference import open_package
from core.samples import sample
from tests.core.serve.conftest import start_server

pytestmark = pytest.mark.slow  # needs the session's real exports


def test_concurrent_requests_are_batched_and_each_gets_its_own_answer(
    deploy: Callable[..., dict[str, Any]], slipway_home: Path, exported: Callable[[str], Any]
) -> None:
    cls = deploy("timm-onnx-embedded", tier="enterprise")  # dynamic batch axis, uint8 NHWC input
    det = deploy("det-onnx", tier="enterprise")  # fixed batch of 1: served unbatched
    files = sample("digits-timm").image_files()  # sorted by class folder: take every few
    images = files[:: len(files) // 8][:8]
    wrapper = open_package(Path(exported("timm-onnx-embedded").result["package_dir"]), threads=2)
    expected = [wrapper.predict(p) for p in images]
    assert len({e[0]["class_id"] for e in expected}) > 1, "the images should not all look alike"
    server = start_server(slipway_home, "--max-batch", "8", "--batch-window-ms", "200")
    try:
        url = f"{server.url}/v1/infer/{cls['id']}"
        auth = {"Authorization": f"Bearer {cls['api_key']}"}
        assert (
            httpx.post(
                url,
                json={"image": base64.b64encode(images[0].read_bytes()).decode()},
                headers=auth,
                timeout=60,
            ).status_code
            == 200
        )  # model loaded before the burst
        answers: list[Any] = [None] * len(images)
        start = threading.Barrier(len(images))

        def ask(i: int) -> None:
            start.wait()
            body = {"image": base64.b64encode(images[i].read_bytes()).decode()}
            answers[i] = httpx.post(url, json=body, headers=auth, timeout=60)

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(images))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for answer, want in zip(answers, expected, strict=True):
            assert answer.status_code == 200, answer.text
            got = answer.json()["predictions"]
            assert [p["class_id"] for p in got] == [p["class_id"] for p in want]
            assert [p["confidence"] for p in got] == pytest.approx([p["confidence"] for p in want], abs=1e-4)
        stats = httpx.get(f"{server.url}/v1/deployments/{cls['id']}/health").json()["batching"]
        assert stats["enabled"] is True and stats["requests"] == len(images) + 1
        assert stats["batches"] < stats["requests"], "some requests should have shared a run"

        jpeg = sample("shapes-yolo11n").image_files()[0].read_bytes()
        fixed = httpx.post(
            f"{server.url}/v1/infer/{det['id']}",
            json={"image": base64.b64encode(jpeg).decode()},
            headers={"Authorization": f"Bearer {det['api_key']}"},
            timeout=60,
        )
        assert fixed.status_code == 200 and fixed.json()["predictions"]
        assert (
            httpx.get(f"{server.url}/v1/deployments/{det['id']}/health").json()["batching"]["enabled"]
            is False
        )
    finally:
        assert server.stop() == 0
