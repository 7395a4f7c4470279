"""What the server needs to know about a deployment, read from the database with a short TTL.

The CLI (another process) activates, deactivates and deletes deployments; the
server sees it within ``ttl`` seconds without a restart. One lookup is a single
indexed SELECT on SQLite in WAL mode (0.5 ms measured on a busy 2-core machine,
against 0.5 µs for a cache hit); the TTL keeps it off the hot path.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from core.db import Database, DeploymentStatus, DeploymentTarget, DeploymentType, ExportJob
from core.serve.problems import ApiError

DEFAULT_TTL = 1.0


@dataclass(frozen=True)
class DeploymentInfo:
    id: str
    status: str
    tier: str | None
    package_dir: Path
    model_version: str


class Catalog:
    def __init__(self, db: Database, ttl: float = DEFAULT_TTL) -> None:
        self.db = db
        self.ttl = ttl
        self._cache: dict[str, tuple[float, DeploymentInfo | None]] = {}
        self._lock = threading.Lock()

    def lookup(self, deployment_id: str) -> DeploymentInfo | None:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(deployment_id)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        info = self._read(deployment_id)
        with self._lock:
            if len(self._cache) > 10_000:  # unknown ids from a scanner must not grow memory
                self._cache.clear()
            self._cache[deployment_id] = (now, info)
        return info

    def _read(self, deployment_id: str) -> DeploymentInfo | None:
        if not deployment_id or len(deployment_id) > 64:
            return None
        with self.db.session() as s:
            row = s.execute(
                select(DeploymentTarget.id, DeploymentTarget.status, DeploymentTarget.tier,
                       DeploymentTarget.deployment_type, ExportJob.package_dir, ExportJob.version)
                .join(ExportJob, ExportJob.id == DeploymentTarget.export_job_id)
                .where(DeploymentTarget.id == deployment_id)).first()
        if row is None or row.deployment_type != DeploymentType.PLATFORM_ENDPOINT:
            return None
        return DeploymentInfo(id=row.id, status=row.status, tier=row.tier,
                              package_dir=Path(row.package_dir), model_version=f"v{row.version}")

    def require(self, deployment_id: str) -> DeploymentInfo:
        """The deployment if it exists and is an endpoint (404 otherwise, with the reason)."""
        info = self.lookup(deployment_id)
        if info is None:
            raise ApiError(404, f"no platform_endpoint deployment {deployment_id!r}")
        if info.status == DeploymentStatus.DELETED:
            raise ApiError(404, f"deployment {deployment_id} was deleted")
        return info

    @staticmethod
    def require_active(info: DeploymentInfo) -> None:
        if info.status != DeploymentStatus.ACTIVE:
            raise ApiError(409, f"deployment {info.id} is {info.status}; activate it with "
                                f"`slipway deployments activate {info.id}`")
