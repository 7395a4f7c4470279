"""The seed's /v1 API on a real `slipway serve` process, with deployments of real sample exports."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.inference import open_package
from core.samples import sample
from tests.core.serve.conftest import Server, service, start_server
from tests.helpers import slipway

pytestmark = pytest.mark.slow  # needs the session's real exports


def _image(name: str) -> Path:
    return sample(name).image_files()[0]


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_infer_answers_what_the_wrapper_predicts_for_json_and_upload(
    deploy: Callable[..., dict[str, Any]], server: Server, exported: Callable[[str], Any]
) -> None:
    det = deploy("det-onnx", tier="pro")
    image = _image("shapes-yolo11n")
    wrapper = open_package(Path(exported("det-onnx").result["package_dir"]), threads=2)
    expected = wrapper.predict(image, conf=0.3, iou=0.5)
    assert expected, "the sample image should hold shapes"
    url = f"{server.url}/v1/infer/{det['id']}"
    body = {
        "image": base64.b64encode(image.read_bytes()).decode(),
        "confidence_threshold": 0.3,
        "iou_threshold": 0.5,
    }
    answer = httpx.post(url, json=body, headers=_auth(det["api_key"]), timeout=60)
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert data["model_version"] == "v1" and data["latency_ms"] > 0
    assert [(p["class"], p["class_id"]) for p in data["predictions"]] == [
        (p["class_name"], p["class_id"]) for p in expected
    ]
    for got, want in zip(data["predictions"], expected, strict=True):
        assert got["confidence"] == pytest.approx(want["confidence"], abs=1e-5)
        assert got["bbox"] == pytest.approx(want["bbox"], abs=1e-3)
    with image.open("rb") as fh:
        upload = httpx.post(
            url,
            files={"image": (image.name, fh, "application/octet-stream")},
            data={"confidence_threshold": "0.3", "iou_threshold": "0.5", "max_detections": "1"},
            headers=_auth(det["api_key"]),
            timeout=60,
        )
    assert upload.status_code == 200, upload.text
    assert upload.json()["predictions"] == data["predictions"][:1]

    cls = deploy("timm-onnx", tier="pro")
    digit = _image("digits-timm")
    top = open_package(Path(exported("timm-onnx").result["package_dir"]), threads=2).predict(digit)
    answer = httpx.post(
        f"{server.url}/v1/infer/{cls['id']}",
        headers=_auth(cls["api_key"]),
        timeout=60,
        json={"image": base64.b64encode(digit.read_bytes()).decode()},
    )
    assert answer.status_code == 200, answer.text
    got = answer.json()["predictions"]
    assert [p["class_id"] for p in got] == [p["class_id"] for p in top] and len(got) == len(top) > 1
    assert "bbox" not in got[0]

    cleared = httpx.post(
        f"{server.url}/v1/deployments/{cls['id']}/cache/clear", headers=_auth(cls["api_key"])
    )
    assert cleared.json()["cleared"] is True
    health = httpx.get(f"{server.url}/v1/deployments/{cls['id']}/health").json()
    # health checks the model can answer: it loads the package again after the clear
    assert health["healthy"] is True and health["model_loaded"] is True and health["reason"] is None


def test_keys_are_required_checked_and_revocable(
    deploy: Callable[..., dict[str, Any]], server: Server, slipway_home: Path
) -> None:
    det = deploy("det-onnx", tier="pro")
    url = f"{server.url}/v1/infer/{det['id']}"
    body = {"image": base64.b64encode(_image("shapes-yolo11n").read_bytes()).decode()}
    assert httpx.post(url, json=body).status_code == 401
    wrong = httpx.post(url, json=body, headers=_auth(det["api_key"] + "x"))
    assert wrong.status_code == 401 and "invalid" in wrong.json()["error"]
    other = deploy("timm-onnx")  # a valid key, but of another deployment
    assert httpx.post(url, json=body, headers=_auth(other["api_key"])).status_code == 401
    second = service(slipway_home).create_key(det["id"], tier="pro")
    assert httpx.post(url, json=body, headers=_auth(det["api_key"]), timeout=60).status_code == 200
    service(slipway_home).revoke_key(det["api_key_id"])
    assert _eventually(lambda: httpx.post(url, json=body, headers=_auth(det["api_key"])).status_code == 401)
    assert httpx.post(url, json=body, headers=_auth(second.secret), timeout=60).status_code == 200


def test_free_tier_allows_ten_a_minute_then_429_with_retry_after(
    deploy: Callable[..., dict[str, Any]], server: Server
) -> None:
    cls = deploy("timm-onnx", tier="free")
    body = {"image": base64.b64encode(_image("digits-timm").read_bytes()).decode()}
    url = f"{server.url}/v1/infer/{cls['id']}"
    codes = [
        httpx.post(url, json=body, headers=_auth(cls["api_key"]), timeout=60).status_code for _ in range(10)
    ]
    assert codes == [200] * 10
    limited = httpx.post(url, json=body, headers=_auth(cls["api_key"]))
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert "10 requests per minute" in limited.json()["error"]


def test_usage_is_persisted_and_survives_a_restart(
    deploy: Callable[..., dict[str, Any]], server: Server, slipway_home: Path
) -> None:
    cls = deploy("timm-onnx", tier="pro")
    body = {"image": base64.b64encode(_image("digits-timm").read_bytes()).decode()}
    url = f"{server.url}/v1/infer/{cls['id']}"
    for _ in range(3):
        assert httpx.post(url, json=body, headers=_auth(cls["api_key"]), timeout=60).status_code == 200
    bad = httpx.post(url, json={"image": "not base64!"}, headers=_auth(cls["api_key"]))
    assert bad.status_code == 422
    assert server.stop() == 0  # SIGTERM: graceful, flushes the buffered usage
    stored = service(slipway_home).get(cls["id"])
    assert (stored.request_count, stored.error_count) == (4, 1)
    assert stored.total_inference_time_ms > 0 and stored.last_request_at is not None
    again = start_server(slipway_home)
    try:
        assert (
            httpx.post(
                f"{again.url}/v1/infer/{cls['id']}", json=body, headers=_auth(cls["api_key"]), timeout=60
            ).status_code
            == 200
        )
        usage = httpx.get(
            f"{again.url}/v1/deployments/{cls['id']}/usage", headers=_auth(cls["api_key"])
        ).json()
        assert (usage["request_count"], usage["error_count"]) == (5, 1)
        [row] = usage["keys"]
        assert row["key_id"] == cls["api_key_id"] and row["request_count"] == 5
    finally:
        again.stop()


def test_status_changes_from_the_cli_apply_without_restart(
    deploy: Callable[..., dict[str, Any]], server: Server, slipway_home: Path
) -> None:
    cls = deploy("timm-onnx", tier="pro")
    body = {"image": base64.b64encode(_image("digits-timm").read_bytes()).decode()}
    url = f"{server.url}/v1/infer/{cls['id']}"

    def status() -> int:
        return httpx.post(url, json=body, headers=_auth(cls["api_key"]), timeout=60).status_code

    assert status() == 200
    assert slipway("deployments", "deactivate", cls["id"], home=slipway_home).code == 0
    assert _eventually(lambda: status() == 409)
    inactive = httpx.post(url, json=body, headers=_auth(cls["api_key"]))
    assert "inactive" in inactive.json()["error"] and "activate" in inactive.json()["error"]
    assert slipway("deployments", "activate", cls["id"], home=slipway_home).code == 0
    assert _eventually(lambda: status() == 200)
    assert slipway("deployments", "delete", cls["id"], home=slipway_home).code == 0
    assert _eventually(lambda: status() == 404)


def _eventually(check: Callable[[], bool], within: float = 5.0) -> bool:
    """True once check() holds (the server caches status and keys for one second)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return check()
