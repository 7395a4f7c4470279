"""What the endpoint server reads from the database when it starts and writes behind while it runs.

Reads happen once, before the server listens: every endpoint deployment's usage
counters and rows (the base of the in-memory ledger) and the keys' rate windows
(so a restart keeps the per-minute limit). Writes are one ``BEGIN IMMEDIATE``
transaction per batch, made by the background writer and never by a request.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy import delete, select

from core.db import Database, DeploymentTarget, DeploymentType, RateWindow, Usage
from core.db.models import utcnow
from core.deployments import add_usage
from core.serve.usage import Counts, RowKey

log = logging.getLogger("slipway.serve")


def load_usage(db: Database) -> tuple[dict[str, Counts], dict[RowKey, Counts]]:
    """Each endpoint deployment's counters, and its usage rows by (deployment, key, month)."""
    with db.session() as s:
        targets = s.execute(select(DeploymentTarget.id, DeploymentTarget.request_count,
                                   DeploymentTarget.error_count, DeploymentTarget.total_inference_time_ms,
                                   DeploymentTarget.last_request_at)
                            .where(DeploymentTarget.deployment_type == DeploymentType.PLATFORM_ENDPOINT))
        deployments = {t.id: Counts(t.request_count, t.error_count, t.total_inference_time_ms,
                                    t.last_request_at) for t in targets}
        rows = {(u.deployment_target_id, u.api_key_id, u.month): Counts(
                    u.request_count, u.error_count, u.total_inference_time_ms, u.last_request_at)
                for u in s.scalars(select(Usage).where(Usage.deployment_target_id.in_(deployments)))}
    return deployments, rows


def load_windows(db: Database) -> dict[str, list[float]]:
    """The keys' requests of the last minute (epoch seconds), as the last server left them."""
    since = time.time() - 60.0
    with db.session() as s:
        return {w.api_key_id: [t for t in w.hits if t > since] for w in s.scalars(select(RateWindow))}


def write_batch(db: Database, pending: dict[RowKey, Counts],
                windows: dict[str, list[float]] | None) -> int:
    """Add the pending counts and replace the rate windows (when given), in one transaction.

    Counts of a deployment that no longer exists (its export was deleted meanwhile)
    are dropped. Returns the number of requests written.
    """
    written = 0
    with db.write_session() as s:
        for (deployment_id, key_id, _month), counts in pending.items():
            target = s.get(DeploymentTarget, deployment_id)
            if target is None or counts.last_at is None:
                log.warning("usage of %d requests dropped: deployment %s is gone", counts.requests,
                            deployment_id)
                continue
            add_usage(s, target, key_id, requests=counts.requests, errors=counts.errors,
                      inference_ms=counts.inference_ms, at=counts.last_at)
            written += counts.requests
        if windows is not None:
            s.execute(delete(RateWindow))
            now = utcnow()
            s.add_all(RateWindow(api_key_id=key, hits=hits, updated_at=now) for key, hits in windows.items())
    return written
