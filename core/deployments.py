"""Deployments of exports: the seed's DeploymentTarget and DeploymentHistory.

Every state change writes a history event in the same transaction, so the
timeline cannot disagree with the status. Endpoint API keys live here too: a
key is random, shown once by :meth:`DeploymentService.create_key`, and stored
only as its SHA-256 (a fast hash is right for 256-bit random secrets; slow
password hashes exist for guessable ones).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import (
    ApiKey,
    Database,
    DeploymentHistory,
    DeploymentStatus,
    DeploymentTarget,
    DeploymentType,
    ExportJob,
    JobStatus,
    Usage,
)
from core.db.models import utcnow
from core.errors import BadInput
from core.paths import database_path
from core.tiers import DEFAULT_TIER, TIERS

KEY_PREFIX = "sk_slipway_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def month_of(moment: datetime) -> str:
    return moment.strftime("%Y-%m")


@dataclass(frozen=True)
class NewKey:
    """A freshly made API key: ``secret`` is never stored and cannot be shown again."""

    id: str
    secret: str
    tier: str


class DeploymentService:
    def __init__(self, db: Database | None = None) -> None:
        self.db = db or Database(database_path())

    # --- deployments -------------------------------------------------------

    def create(self, export_id: str, deployment_type: str, *, name: str | None = None,
               config: dict[str, Any] | None = None, tier: str | None = None,
               status: str = DeploymentStatus.ACTIVE, description: str | None = None) -> DeploymentTarget:
        try:
            kind = DeploymentType(deployment_type)
        except ValueError:
            choices = ", ".join(t.value for t in DeploymentType)
            raise BadInput(f"unknown deployment type {deployment_type!r}; choose one of {choices}") from None
        if tier is not None and tier not in TIERS:
            raise BadInput(f"unknown tier {tier!r}; choose one of {', '.join(TIERS)}")
        with self.db.session() as s:
            job = _find_export(s, export_id)
            if job.status != JobStatus.COMPLETED:
                raise BadInput(f"export {job.id[:8]} is {job.status}; "
                               "only a completed export can be deployed")
            now = utcnow()
            target = DeploymentTarget(
                export_job_id=job.id, deployment_type=kind.value, tier=tier,
                name=name or f"{job.export_format} v{job.version} ({kind.value})",
                description=description, status=status, deployment_config=config or {},
                request_count=0, error_count=0, total_inference_time_ms=0.0,
                deployed_at=now if status == DeploymentStatus.ACTIVE else None,
            )
            s.add(target)
            s.flush()
            s.add(DeploymentHistory(deployment_target_id=target.id, event_type="created",
                                    event_data={"deployment_type": kind.value, "export_id": job.id,
                                                "config": config or {}},
                                    status_before=None, status_after=status))
        return target

    def get(self, deployment_id: str) -> DeploymentTarget:
        with self.db.session() as s:
            return _find_deployment(s, deployment_id)

    def list_deployments(self, export_id: str | None = None, deployment_type: str | None = None,
             status: str | None = None, include_deleted: bool = False) -> list[DeploymentTarget]:
        query = select(DeploymentTarget).order_by(DeploymentTarget.created_at)
        if not include_deleted and status != DeploymentStatus.DELETED:
            query = query.where(DeploymentTarget.status != DeploymentStatus.DELETED)
        if export_id:
            query = query.where(DeploymentTarget.export_job_id == export_id)
        if deployment_type:
            query = query.where(DeploymentTarget.deployment_type == deployment_type)
        if status:
            query = query.where(DeploymentTarget.status == status)
        with self.db.session() as s:
            return list(s.scalars(query))

    def activate(self, deployment_id: str) -> DeploymentTarget:
        return self._set_status(deployment_id, DeploymentStatus.ACTIVE, "activated")

    def deactivate(self, deployment_id: str) -> DeploymentTarget:
        return self._set_status(deployment_id, DeploymentStatus.INACTIVE, "deactivated")

    def mark_failed(self, deployment_id: str, reason: str) -> DeploymentTarget:
        return self._set_status(deployment_id, DeploymentStatus.FAILED, "failed", {"reason": reason})

    def update_config(self, deployment_id: str, changes: dict[str, Any]) -> DeploymentTarget:
        with self.db.session() as s:
            target = _find_deployment(s, deployment_id)
            target.deployment_config = {**(target.deployment_config or {}), **changes}
            s.add(DeploymentHistory(deployment_target_id=target.id, event_type="updated",
                                    event_data={"config_changes": changes},
                                    status_before=target.status, status_after=target.status))
        return self.get(deployment_id)

    def delete(self, deployment_id: str) -> DeploymentTarget:
        """Retire a deployment: status ``deleted``, keys revoked, the timeline kept.

        Deleted deployments drop out of :meth:`list_deployments` unless asked for; the rows go
        for good only when their export is deleted (:meth:`purge_export`).
        """
        with self.db.session() as s:
            target = _find_deployment(s, deployment_id)
            now = utcnow()
            for key in target.api_keys:
                if key.revoked_at is None:
                    key.revoked_at = now
        return self._set_status(deployment_id, DeploymentStatus.DELETED, "deleted")

    def purge_export(self, export_id: str) -> None:
        """Remove every deployment row of an export that is being deleted.

        Refuses while any of them is still live, so an export cannot vanish from
        under an endpoint or a shared package.
        """
        with self.db.session() as s:
            targets = list(s.scalars(select(DeploymentTarget)
                                     .where(DeploymentTarget.export_job_id == export_id)))
            live = [t for t in targets if t.status != DeploymentStatus.DELETED]
            if live:
                names = ", ".join(f"{t.id[:8]} ({t.deployment_type}, {t.status})" for t in live)
                raise BadInput(f"export {export_id[:8]} still has deployments: {names}; "
                               "delete them first (slipway deployments delete ID)")
            for target in targets:
                for row in s.scalars(select(Usage).where(Usage.deployment_target_id == target.id)):
                    s.delete(row)
                s.flush()
                s.delete(target)

    def history(self, deployment_id: str) -> list[DeploymentHistory]:
        with self.db.session() as s:
            target = _find_deployment(s, deployment_id)
            return list(s.scalars(select(DeploymentHistory)
                                  .where(DeploymentHistory.deployment_target_id == target.id)
                                  .order_by(DeploymentHistory.created_at)))

    def _set_status(self, deployment_id: str, status: str, event: str,
                    data: dict[str, Any] | None = None) -> DeploymentTarget:
        with self.db.session() as s:
            target = _find_deployment(s, deployment_id)
            before = target.status
            if before == status:
                return target
            if before == DeploymentStatus.DELETED:
                raise BadInput(f"deployment {target.id[:8]} was deleted; create a new one")
            target.status = status
            now = utcnow()
            if status == DeploymentStatus.ACTIVE:
                target.deployed_at = now
            elif status == DeploymentStatus.INACTIVE:
                target.deactivated_at = now
            s.add(DeploymentHistory(deployment_target_id=target.id, event_type=event, event_data=data,
                                    status_before=before, status_after=status))
        return self.get(deployment_id)

    # --- API keys ----------------------------------------------------------

    def create_key(self, deployment_id: str, *, tier: str | None = None,
                   name: str | None = None) -> NewKey:
        with self.db.session() as s:
            target = _find_deployment(s, deployment_id)
            if target.status == DeploymentStatus.DELETED:
                raise BadInput(f"deployment {target.id} was deleted; its keys stay revoked")
            if target.deployment_type != DeploymentType.PLATFORM_ENDPOINT:
                raise BadInput(f"deployment {target.id} is a {target.deployment_type} package; "
                               "only platform_endpoint deployments have API keys")
            tier = tier or target.tier or DEFAULT_TIER
            if tier not in TIERS:
                raise BadInput(f"unknown tier {tier!r}; choose one of {', '.join(TIERS)}")
            secret = KEY_PREFIX + secrets.token_urlsafe(32)
            key = ApiKey(deployment_target_id=target.id, key_hash=hash_key(secret),
                         prefix=secret[:len(KEY_PREFIX) + 4], name=name, tier=tier)
            s.add(key)
            s.flush()
            s.add(DeploymentHistory(deployment_target_id=target.id, event_type="key_created",
                                    event_data={"key_id": key.id, "prefix": key.prefix, "tier": tier},
                                    status_before=target.status, status_after=target.status))
            return NewKey(id=key.id, secret=secret, tier=tier)

    def revoke_key(self, key_id: str) -> None:
        with self.db.session() as s:
            key = s.get(ApiKey, key_id)
            if key is None:
                raise BadInput(f"no API key {key_id!r}")
            if key.revoked_at is None:
                key.revoked_at = utcnow()
                s.add(DeploymentHistory(deployment_target_id=key.deployment_target_id,
                                        event_type="key_revoked",
                                        event_data={"key_id": key.id, "prefix": key.prefix}))

    def find_key(self, deployment_id: str, ref: str) -> ApiKey:
        """One of the deployment's keys by its id, an id prefix, or the prefix `keys list` shows."""
        ref = ref.strip()
        keys = self.keys(deployment_id)
        matches = [k for k in keys if k.id == ref or k.prefix == ref] or [
            k for k in keys if len(ref) >= 4 and k.id.startswith(ref)]
        if len(matches) != 1:
            listing = f"`slipway keys list {deployment_id}`"
            raise BadInput(f"no key {ref!r} on deployment {deployment_id} (see {listing})" if not matches
                           else f"key {ref!r} is ambiguous; give its id from {listing}")
        return matches[0]

    def rotate_key(self, deployment_id: str, ref: str) -> tuple[NewKey, ApiKey]:
        """A new key with the old one's tier and name; the old one is revoked once the new one exists."""
        old = self.find_key(deployment_id, ref)
        if old.revoked_at is not None:
            raise BadInput(f"key {old.prefix} ({old.id[:8]}) is already revoked; "
                           f"make a new one with `slipway keys create {deployment_id}`")
        new = self.create_key(old.deployment_target_id, tier=old.tier, name=old.name)
        self.revoke_key(old.id)
        return new, old

    def keys(self, deployment_id: str) -> list[ApiKey]:
        with self.db.session() as s:
            target = _find_deployment(s, deployment_id)
            return list(s.scalars(select(ApiKey).where(ApiKey.deployment_target_id == target.id)
                                  .order_by(ApiKey.created_at)))

    def authenticate(self, deployment_id: str, secret: str) -> ApiKey | None:
        """The live key for this deployment that ``secret`` is, or None.

        The lookup goes by hash, and the stored hash is compared in constant time,
        so neither the index nor the comparison tells an attacker how close a guess was.
        """
        digest = hash_key(secret)
        with self.db.session() as s:
            key = s.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
            if key is None or not hmac.compare_digest(key.key_hash, digest):
                return None
            if key.revoked_at is not None or key.deployment_target_id != deployment_id:
                return None
            return key

    # --- usage -------------------------------------------------------------

    def record_usage(self, deployment_id: str, key_id: str | None, *, requests: int = 1,
                     errors: int = 0, inference_ms: float = 0.0,
                     at: datetime | None = None) -> None:
        """Add requests to the deployment's counters and its per-key monthly row."""
        with self.db.session() as s:
            add_usage(s, _find_deployment(s, deployment_id), key_id, requests=requests, errors=errors,
                      inference_ms=inference_ms, at=at or utcnow())

    def monthly_requests(self, deployment_id: str, key_id: str, month: str) -> int:
        with self.db.session() as s:
            row = s.scalar(select(Usage).where(Usage.deployment_target_id == deployment_id,
                                               Usage.api_key_id == key_id, Usage.month == month))
            return row.request_count if row else 0

    def usage(self, deployment_id: str) -> list[Usage]:
        with self.db.session() as s:
            target = _find_deployment(s, deployment_id)
            return list(s.scalars(select(Usage).where(Usage.deployment_target_id == target.id)
                                  .order_by(Usage.month)))


def add_usage(s: Session, target: DeploymentTarget, key_id: str | None, *, requests: int, errors: int,
              inference_ms: float, at: datetime) -> None:
    """Add to a deployment's counters, its (key, month) usage row and the key's last use, in ``s``."""
    target.request_count += requests
    target.error_count += errors
    target.total_inference_time_ms += inference_ms
    target.last_request_at = max(at, target.last_request_at or at)
    row = s.scalar(select(Usage).where(Usage.deployment_target_id == target.id,
                                       Usage.api_key_id == key_id, Usage.month == month_of(at)))
    if row is None:
        row = Usage(deployment_target_id=target.id, api_key_id=key_id, month=month_of(at),
                    request_count=0, error_count=0, total_inference_time_ms=0.0)
        s.add(row)
    row.request_count += requests
    row.error_count += errors
    row.total_inference_time_ms += inference_ms
    row.last_request_at = max(at, row.last_request_at or at)
    if key_id is not None:
        key = s.get(ApiKey, key_id)
        if key is not None:
            key.last_used_at = max(at, key.last_used_at or at)


def _check_id(value: str, what: str, listing: str) -> None:
    if not value or any(c not in "0123456789abcdef" for c in value):
        raise BadInput(f"{value!r} is not {what} id (hexadecimal, as `{listing}` shows)")


def _find_export(s: Any, export_id: str) -> ExportJob:
    _check_id(export_id, "an export", "slipway jobs list")
    job = s.get(ExportJob, export_id)
    if job is None:
        matches = list(s.scalars(select(ExportJob).where(ExportJob.id.startswith(export_id))))
        if len(matches) != 1:
            raise BadInput(f"no export {export_id!r}" if not matches
                           else f"export id {export_id!r} is ambiguous; give more characters")
        job = matches[0]
    return job


def _find_deployment(s: Any, deployment_id: str) -> DeploymentTarget:
    _check_id(deployment_id, "a deployment", "slipway deployments list")
    target = s.get(DeploymentTarget, deployment_id)
    if target is None:
        matches = list(s.scalars(select(DeploymentTarget)
                                 .where(DeploymentTarget.id.startswith(deployment_id))))
        if len(matches) != 1:
            raise BadInput(f"no deployment {deployment_id!r}" if not matches
                           else f"deployment id {deployment_id!r} is ambiguous; give more characters")
        target = matches[0]
    return target


def deployment_summary(target: DeploymentTarget) -> dict[str, Any]:
    """A deployment as JSON-able data (CLI --json, the GUI's cards)."""
    return {
        "id": target.id, "export_id": target.export_job_id, "type": target.deployment_type,
        "name": target.name, "status": target.status, "tier": target.tier,
        "config": target.deployment_config or {}, "request_count": target.request_count,
        "error_count": target.error_count, "total_inference_time_ms": target.total_inference_time_ms,
        "last_request_at": iso_or_none(target.last_request_at), "created_at": iso_or_none(target.created_at),
        "deployed_at": iso_or_none(target.deployed_at), "deactivated_at": iso_or_none(target.deactivated_at),
    }


def iso_or_none(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None
