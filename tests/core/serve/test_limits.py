"""Keys, tiers and quotas without a server: the limiter, usage ledger and key checker on a real database."""

from __future__ import annotations

import time

import pytest

from core.db import Database
from core.deployments import DeploymentService
from core.serve.auth import Caller, KeyChecker, Limiter
from core.serve.problems import ApiError
from core.serve.store import load_usage, load_windows, write_batch
from core.serve.usage import UsageLedger


@pytest.fixture()
def endpoint(completed_export: tuple[Database, str]) -> tuple[DeploymentService, str]:
    """A platform_endpoint deployment of a completed export row (no model needed here)."""
    db, export_id = completed_export
    service = DeploymentService(db)
    return service, service.create(export_id, "platform_endpoint").id


def test_free_tier_admits_ten_per_minute_then_429_with_retry_after(
    endpoint: tuple[DeploymentService, str],
) -> None:
    service, deployment = endpoint
    key = service.create_key(deployment, tier="free")
    limiter = Limiter(UsageLedger())
    caller = Caller(key.id, key.tier)
    for _ in range(10):
        limiter.admit(deployment, caller)
    with pytest.raises(ApiError) as caught:
        limiter.admit(deployment, caller)
    assert caught.value.status == 429 and 1 <= int(caught.value.headers["Retry-After"]) <= 60
    other = service.create_key(deployment, tier="free")  # limits are per key
    limiter.admit(deployment, Caller(other.id, other.tier))
    unlimited = Limiter(UsageLedger(), enforce=False)
    for _ in range(20):
        unlimited.admit(deployment, caller)


def test_monthly_quota_counts_from_the_database(endpoint: tuple[DeploymentService, str]) -> None:
    service, deployment = endpoint
    key = service.create_key(deployment, tier="free")
    service.record_usage(deployment, key.id, requests=999)
    ledger = UsageLedger()
    ledger.load(*load_usage(service.db))  # a server started after those requests
    limiter = Limiter(ledger)
    limiter.admit(deployment, Caller(key.id, "free"))
    with pytest.raises(ApiError) as caught:
        limiter.admit(deployment, Caller(key.id, "free"))
    assert caught.value.status == 429 and "monthly quota" in caught.value.message
    assert int(caught.value.headers["Retry-After"]) > 0


def test_key_checker_refuses_bad_keys_and_sees_revocation_within_its_ttl(
    endpoint: tuple[DeploymentService, str],
) -> None:
    service, deployment = endpoint
    key = service.create_key(deployment, tier="pro")
    checker = KeyChecker(service, ttl=0.2)
    assert checker.check(deployment, f"Bearer {key.secret}") == Caller(key.id, "pro")
    for header in (None, "", "Basic abc", "Bearer ", f"Bearer {key.secret}x"):
        with pytest.raises(ApiError) as caught:
            checker.check(deployment, header)
        assert caught.value.status == 401
    service.revoke_key(key.id)
    time.sleep(0.25)
    with pytest.raises(ApiError):
        checker.check(deployment, f"Bearer {key.secret}")


def test_side_calls_share_the_window_but_not_the_quota(endpoint: tuple[DeploymentService, str]) -> None:
    service, deployment = endpoint
    key = service.create_key(deployment, tier="free")
    service.record_usage(deployment, key.id, requests=999)
    ledger = UsageLedger()
    ledger.load(*load_usage(service.db))
    limiter, caller = Limiter(ledger), Caller(key.id, "free")
    for _ in range(5):
        limiter.admit(deployment, caller, inference=False)  # the quota has 1 left: side calls spare it
    limiter.admit(deployment, caller)
    for _ in range(4):
        with pytest.raises(ApiError, match="monthly quota"):
            limiter.admit(deployment, caller)
    for _ in range(4):
        limiter.admit(deployment, caller, inference=False)
    with pytest.raises(ApiError, match="10 requests per minute"):
        limiter.admit(deployment, caller, inference=False)


def test_windows_and_usage_survive_a_write_and_a_reload(endpoint: tuple[DeploymentService, str]) -> None:
    service, deployment = endpoint
    key = service.create_key(deployment, tier="free")
    ledger = UsageLedger()
    ledger.load(*load_usage(service.db))
    limiter, caller = Limiter(ledger), Caller(key.id, "free")
    for error in (False,) * 7 + (True,):
        limiter.admit(deployment, caller)
        ledger.add(deployment, key.id, error=error, inference_ms=2.0)
    assert write_batch(service.db, ledger.take_pending(), limiter.windows()) == 8
    assert limiter.windows() is None  # nothing changed since
    stored = service.get(deployment)
    assert (stored.request_count, stored.error_count, stored.total_inference_time_ms) == (8, 1, 16.0)
    again = UsageLedger()
    again.load(*load_usage(service.db))
    restarted = Limiter(again, windows=load_windows(service.db))
    restarted.admit(deployment, caller)
    restarted.admit(deployment, caller)
    with pytest.raises(ApiError) as caught:
        restarted.admit(deployment, caller)  # 8 before the restart + 2 after
    assert caught.value.status == 429 and 55 <= int(caught.value.headers["Retry-After"]) <= 60
    assert again.report(deployment).totals.requests == 8
