"""Hostile JSON, overflowing shapes, NaN outputs and broken packages: 4xx or 503, never a 500.

Every request here is admitted (a valid key), so each must also be counted in
usage, errors included; and the server must still serve a normal request after.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from core.db import Database
from core.samples import sample
from tests.core.serve.conftest import record_export, start_server
from tests.helpers import CliRun, slipway

pytestmark = pytest.mark.slow  # needs the session's real exports
SHAPE = [1, 3, 320, 320]


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _broken_copy(exported: Callable[[str], CliRun], home: Path, folder: Path,
                 damage: Callable[[Path], None]) -> dict[str, Any]:
    """A deployment of a copy of the det-onnx package, damaged after it was recorded."""
    run = exported("det-onnx")
    shutil.copytree(run.result["package_dir"], folder)
    result = {**run.result, "package_dir": str(folder), "model_path": str(folder / "model.onnx")}
    export_id = record_export(Database(home / "slipway.db"), CliRun(0, json.dumps(result), ""))
    damage(folder)
    deployed = slipway("deploy", export_id, "--tier", "enterprise", "--json", home=home)
    assert deployed.code == 0, deployed.stderr
    return deployed.result


def _v2(shape: list[int], data: str = "[]") -> bytes:
    body = {"inputs": [{"name": "images", "shape": shape, "datatype": "FP32", "data": "DATA"}]}
    return json.dumps(body).replace('"DATA"', data).encode()


def _truncate_model(folder: Path) -> None:
    model = folder / "model.onnx"
    model.write_bytes(model.read_bytes()[:5000])


def _empty_metadata(folder: Path) -> None:
    (folder / "metadata.json").write_text("{}")


def test_hostile_json_and_shapes_get_4xx_and_are_counted(
    deploy: Callable[..., dict[str, Any]], slipway_home: Path
) -> None:
    det = deploy("det-onnx", tier="enterprise")
    server = start_server(slipway_home)
    v1 = f"{server.url}/v1/infer/{det['id']}"
    v2 = f"{server.url}/v2/models/{det['id']}/infer"
    auth = _auth(det["api_key"])
    jpeg = base64.b64encode(sample("shapes-yolo11n").image_files()[0].read_bytes()).decode()
    deep = ("[" * 100_000 + "]" * 100_000).encode()
    long_number = "9" * 5000
    nan_input = np.full(SHAPE, np.nan, np.float32).tobytes()
    nan_header = json.dumps({"inputs": [{"name": "images", "shape": SHAPE, "datatype": "FP32",
                                         "parameters": {"binary_data_size": len(nan_input)}}]}).encode()
    cases: list[tuple[str, str, bytes, dict[str, str], int]] = [
        ("v1 5000-digit number", v1, f'{{"image": "{jpeg}", "max_detections": {long_number}}}'.encode(),
         {}, 422),
        ("v1 nested 100k deep", v1, deep, {}, 422),
        ("v1 NaN literal", v1, f'{{"image": "{jpeg}", "confidence_threshold": NaN}}'.encode(), {}, 422),
        ("v2 5000-digit number", v2, _v2([1], f"[{long_number}]"), {}, 400),
        ("v2 nested 100k deep", v2, deep, {}, 400),
        ("v2 shape overflows 64 bits", v2, _v2([2**32, 2**32, 0]), {}, 400),
        ("v2 shape product wraps to zero", v2, _v2([2**31 - 1, 2**31 - 1, 4]), {}, 400),
        ("v2 one dimension past int64", v2, _v2([2**63]), {}, 400),
        ("v2 NaN output as JSON", v2, nan_header + nan_input,
         {"Inference-Header-Content-Length": str(len(nan_header))}, 422),
    ]
    try:
        for name, url, body, headers, expected in cases:
            answer = httpx.post(url, content=body, timeout=60,
                                headers={**auth, "content-type": "application/json", **headers})
            assert answer.status_code == expected, f"{name}: {answer.status_code} {answer.text[:300]}"
            assert answer.json()["error"], name
        binary = json.dumps({"inputs": json.loads(nan_header)["inputs"],
                             "parameters": {"binary_data_output": True}}).encode()
        raw = httpx.post(v2, content=binary + nan_input, timeout=60,
                         headers={**auth, "Inference-Header-Content-Length": str(len(binary))})
        assert raw.status_code == 200, "NaN travels as raw bytes when asked for in binary"
        assert httpx.post(v1, json={"image": jpeg}, headers=auth, timeout=60).status_code == 200
        usage = httpx.get(f"{server.url}/v1/deployments/{det['id']}/usage", headers=auth).json()
        assert (usage["request_count"], usage["error_count"]) == (len(cases) + 2, len(cases))
    finally:
        assert server.stop() == 0


def test_broken_packages_give_503_without_paths_and_unhealthy(
    deploy: Callable[..., dict[str, Any]], exported: Callable[[str], CliRun], slipway_home: Path,
    tmp_path: Path,
) -> None:
    good = deploy("det-onnx", tier="enterprise")
    broken = {name: _broken_copy(exported, slipway_home, tmp_path / name.split()[0], damage)
              for name, damage in (("truncated model", _truncate_model), ("metadata {}", _empty_metadata))}
    server = start_server(slipway_home)
    jpeg = base64.b64encode(sample("shapes-yolo11n").image_files()[0].read_bytes()).decode()
    try:
        for name, dep in broken.items():
            auth = _auth(dep["api_key"])
            answers = {
                "v1 infer": httpx.post(f"{server.url}/v1/infer/{dep['id']}", json={"image": jpeg},
                                       headers=auth, timeout=60),
                "v2 metadata": httpx.get(f"{server.url}/v2/models/{dep['id']}", headers=auth, timeout=60),
                "v2 ready": httpx.get(f"{server.url}/v2/models/{dep['id']}/ready", headers=auth, timeout=60),
            }
            if name == "truncated model":  # its metadata is fine: only loading the model fails
                del answers["v2 metadata"]
            for what, answer in answers.items():
                assert answer.status_code == 503, f"{name}, {what}: {answer.status_code} {answer.text[:300]}"
                message = answer.json()["error"]
                assert str(tmp_path) not in message and not re.search(r"/\w+/", message), message
            health = httpx.get(f"{server.url}/v1/deployments/{dep['id']}/health", timeout=60).json()
            assert health["healthy"] is False and health["reason"], (name, health)
            assert str(tmp_path) not in health["reason"]
            usage = httpx.get(f"{server.url}/v1/deployments/{dep['id']}/usage", headers=auth).json()
            assert usage["error_count"] == 1 == usage["request_count"], (name, usage)  # the infer
        auth = _auth(good["api_key"])
        assert httpx.post(f"{server.url}/v1/infer/{good['id']}", json={"image": jpeg}, headers=auth,
                          timeout=60).status_code == 200
        health = httpx.get(f"{server.url}/v1/deployments/{good['id']}/health").json()
        assert health["healthy"] is True and health["reason"] is None
    finally:
        assert server.stop() == 0
