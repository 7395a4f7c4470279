"""The deployment records: every state change leaves a history event; keys are hashed."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.db import Database, DeploymentStatus
from core.deployments import TIERS, DeploymentService, hash_key
from core.errors import BadInput
from core.jobs import JobService


def test_lifecycle_writes_one_history_event_per_change(completed_export: tuple[Database, str]) -> None:
    db, export_id = completed_export
    service = DeploymentService(db)
    target = service.create(export_id[:8], "platform_endpoint", tier="pro")
    assert target.status == DeploymentStatus.ACTIVE
    service.deactivate(target.id)
    service.deactivate(target.id)  # no change, no event
    service.activate(target.id[:6])
    service.update_config(target.id, {"port": 8000})
    service.delete(target.id)
    events = [(e.event_type, e.status_before, e.status_after) for e in service.history(target.id)]
    assert events == [("created", None, "active"), ("deactivated", "active", "inactive"),
                      ("activated", "inactive", "active"), ("updated", "active", "active"),
                      ("deleted", "active", "deleted")]
    assert service.list_deployments() == []
    assert [t.id for t in service.list_deployments(include_deleted=True)] == [target.id]
    with pytest.raises(BadInput, match="was deleted"):
        service.activate(target.id)


def test_keys_are_stored_hashed_checked_per_deployment_and_revocable(
        completed_export: tuple[Database, str]) -> None:
    db, export_id = completed_export
    service = DeploymentService(db)
    one = service.create(export_id, "platform_endpoint", tier="free")
    other = service.create(export_id, "platform_endpoint")
    key = service.create_key(one.id)
    assert key.tier == "free"
    stored = service.keys(one.id)
    assert [k.key_hash for k in stored] == [hash_key(key.secret)]
    assert key.secret not in repr([vars(k) for k in stored])
    assert service.authenticate(one.id, key.secret) is not None
    assert service.authenticate(other.id, key.secret) is None
    assert service.authenticate(one.id, key.secret + "x") is None
    service.revoke_key(key.id)
    assert service.authenticate(one.id, key.secret) is None
    second = service.create_key(one.id, tier="enterprise")
    service.delete(one.id)
    assert service.authenticate(one.id, second.secret) is None


def test_usage_is_counted_per_key_and_month(completed_export: tuple[Database, str]) -> None:
    db, export_id = completed_export
    service = DeploymentService(db)
    target = service.create(export_id, "platform_endpoint")
    key = service.create_key(target.id)
    service.record_usage(target.id, key.id, inference_ms=12.5)
    service.record_usage(target.id, key.id, errors=1, inference_ms=1.0)
    again = DeploymentService(Database(db.path))  # survives a restart
    row = again.get(target.id)
    assert (row.request_count, row.error_count, row.total_inference_time_ms) == (2, 1, 13.5)
    [usage] = again.usage(target.id)
    assert usage.api_key_id == key.id and usage.request_count == 2
    assert again.monthly_requests(target.id, key.id, usage.month) == 2


def test_bad_input_names_the_problem(completed_export: tuple[Database, str], tmp_path: Path) -> None:
    db, export_id = completed_export
    service = DeploymentService(db)
    with pytest.raises(BadInput, match="unknown deployment type 'kubernetes'"):
        service.create(export_id, "kubernetes")
    with pytest.raises(BadInput, match="unknown tier 'gold'"):
        service.create(export_id, "platform_endpoint", tier="gold")
    with pytest.raises(BadInput, match="not an export id"):
        service.create("../etc", "download")
    with pytest.raises(BadInput, match="no deployment"):
        service.get("abcdef")
    assert set(TIERS) == {"free", "pro", "enterprise", "unlimited"}


def test_an_export_with_a_live_deployment_cannot_be_deleted(completed_export: tuple[Database, str]) -> None:
    db, export_id = completed_export
    deployments = DeploymentService(db)
    target = deployments.create(export_id, "download")
    jobs = JobService(db)
    with pytest.raises(BadInput, match="still has deployments"):
        jobs.delete(export_id)
    deployments.delete(target.id)
    jobs.delete(export_id)
    assert deployments.list_deployments(include_deleted=True) == []
