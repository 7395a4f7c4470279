"""`slipway keys`: list, create, revoke and rotate one key, seen by a running server within a second."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.core.serve.conftest import start_server
from tests.helpers import slipway

pytestmark = pytest.mark.slow  # needs the session's real exports
REVOCATION_BOUND_S = 1.0  # the issue's: "within a second, as deactivation does"


def _refused_after(url: str, key: str, since: float) -> float:
    """Seconds from ``since`` until the server first answers 401 to the key (polled every 20 ms)."""
    while True:
        answer = httpx.get(url, headers={"Authorization": f"Bearer {key}"}, timeout=30)
        if answer.status_code == 401:
            return time.monotonic() - since
        # 429: the key still passed the check (keys are checked before the per-minute limit,
        # which readiness calls count toward like any keyed call)
        assert answer.status_code in (200, 429), answer.text
        assert time.monotonic() - since < 10, "the revoked key still works after 10 s"
        time.sleep(0.02)


def test_keys_cli_manages_single_keys_and_a_running_server_follows(
    deploy: Callable[..., dict[str, Any]], slipway_home: Path
) -> None:
    det = deploy("det-onnx", tier="pro")
    listed = slipway("keys", "list", det["id"], "--json", home=slipway_home)
    assert listed.code == 0 and [k["id"] for k in listed.result] == [det["api_key_id"]]
    assert listed.result[0]["prefix"] in det["api_key"] and "key_hash" not in listed.stdout
    created = slipway("keys", "create", det["id"][:8], "--tier", "free", "--name", "ci", "--json",
                      home=slipway_home).result
    assert created["key_tier"] == "free" and created["api_key"].startswith("sk_slipway_")
    server = start_server(slipway_home)
    ready = f"{server.url}/v2/models/{det['id']}/ready"
    try:
        for key in (det["api_key"], created["api_key"]):
            assert httpx.get(ready, headers={"Authorization": f"Bearer {key}"}, timeout=60).status_code == 200
        revoked = slipway("keys", "revoke", det["id"], created["api_key_id"][:8], home=slipway_home)
        assert revoked.code == 0 and "revoked" in revoked.stdout
        took = _refused_after(ready, created["api_key"], time.monotonic())
        print(f"revocation seen after {took:.3f} s")
        assert took <= REVOCATION_BOUND_S + 0.1, f"revocation took {took:.2f} s"
        assert httpx.get(ready, headers={"Authorization": f"Bearer {det['api_key']}"}).status_code == 200
        rotated = slipway("keys", "rotate", det["id"], det["api_key_id"], "--json", home=slipway_home).result
        assert rotated["revoked"]["id"] == det["api_key_id"] and rotated["key_tier"] == "pro"
        took = _refused_after(ready, det["api_key"], time.monotonic())
        assert took <= REVOCATION_BOUND_S + 0.1, f"revocation by rotation took {took:.2f} s"
        assert httpx.get(ready, headers={"Authorization": f"Bearer {rotated['api_key']}"}).status_code == 200
    finally:
        assert server.stop() == 0
    live = slipway("keys", "list", det["id"], "--json", home=slipway_home).result
    assert [k["id"] for k in live] == [rotated["api_key_id"]]
    everything = slipway("keys", "list", det["id"], "--all", "--json", home=slipway_home).result
    assert len(everything) == 3 and sum(k["revoked_at"] is not None for k in everything) == 2
    for args, words in ((["revoke", det["id"]], "needs the deployment and the KEY"),
                        (["revoke", det["id"], "nope"], "no key 'nope'"),
                        (["rotate", det["id"], det["api_key_id"]], "already revoked"),
                        (["list", "zzzz"], "not a deployment id")):
        refused = slipway("keys", *args, home=slipway_home)
        assert refused.code == 2 and words in refused.stderr, (args, refused.stderr)
