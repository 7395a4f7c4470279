"""Keys, tiers and quotas without a server: the limiter and key checker on a real database."""

from __future__ import annotations

import time

import pytest

from core.db import Database
from core.deployments import DeploymentService
from core.serve.auth import Caller, KeyChecker, Limiter
from core.serve.problems import ApiError


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
    limiter = Limiter(service)
    caller = Caller(key.id, key.tier)
    for _ in range(10):
        limiter.admit(deployment, caller)
    with pytest.raises(ApiError) as caught:
        limiter.admit(deployment, caller)
    assert caught.value.status == 429 and 1 <= int(caught.value.headers["Retry-After"]) <= 60
    other = service.create_key(deployment, tier="free")  # limits are per key
    limiter.admit(deployment, Caller(other.id, other.tier))
    unlimited = Limiter(service, enforce=False)
    for _ in range(20):
        unlimited.admit(deployment, caller)


def test_monthly_quota_counts_from_the_database(endpoint: tuple[DeploymentService, str]) -> None:
    service, deployment = endpoint
    key = service.create_key(deployment, tier="free")
    service.record_usage(deployment, key.id, requests=999)
    limiter = Limiter(service)  # a server started after those requests
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
