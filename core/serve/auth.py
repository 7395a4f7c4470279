"""Bearer keys, tiers and the limits they set.

Keys are checked through :meth:`DeploymentService.authenticate` (hash lookup,
constant-time compare) and the answer is kept for ``ttl`` seconds, so a key
revoked from the CLI stops working within that time. Rate limits are exact and
in memory (a sliding 60-second window per key); monthly quotas start from the
database's count for the month when a key is first seen and count on in memory.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime

from core.deployments import TIERS, DeploymentService, hash_key, month_of
from core.serve.problems import ApiError

WINDOW_S = 60.0


@dataclass(frozen=True)
class Caller:
    key_id: str
    tier: str


def bearer_secret(authorization: str | None) -> str:
    if not authorization:
        raise ApiError(401, "missing API key: send `Authorization: Bearer <key>`",
                       {"WWW-Authenticate": "Bearer"})
    scheme, _, secret = authorization.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise ApiError(401, "the Authorization header must be `Bearer <key>`", {"WWW-Authenticate": "Bearer"})
    return secret.strip()


class KeyChecker:
    def __init__(self, service: DeploymentService, ttl: float = 1.0) -> None:
        self.service = service
        self.ttl = ttl
        self._cache: dict[tuple[str, str], tuple[float, Caller | None]] = {}
        self._lock = threading.Lock()

    def check(self, deployment_id: str, authorization: str | None) -> Caller:
        """The caller whose key this is, or 401."""
        digest = hash_key(bearer_secret(authorization))  # the cache holds hashes, never secrets
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get((deployment_id, digest))
        if hit is None or now - hit[0] >= self.ttl:
            key = self.service.authenticate(deployment_id, bearer_secret(authorization))
            caller = Caller(key.id, key.tier) if key is not None else None
            with self._lock:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[(deployment_id, digest)] = (now, caller)
        else:
            caller = hit[1]
        if caller is None:
            raise ApiError(401, "invalid or revoked API key for this deployment",
                           {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return caller


class Limiter:
    """Per-key sliding-window rate limit and monthly quota, by the key's tier."""

    def __init__(self, service: DeploymentService, enforce: bool = True) -> None:
        self.service = service
        self.enforce = enforce  # off only for load tests on one's own machine (serve --no-limits)
        self._hits: dict[str, deque[float]] = {}
        self._monthly: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def admit(self, deployment_id: str, caller: Caller) -> None:
        """Count one request for the key, or raise 429 with Retry-After."""
        limits = TIERS.get(caller.tier, TIERS["free"])
        per_minute, per_month = limits["rate_limit_per_minute"], limits["requests_per_month"]
        now = time.monotonic()
        month = month_of(datetime.now(UTC))
        if per_month is not None and (caller.key_id, month) not in self._monthly:
            used = self.service.monthly_requests(deployment_id, caller.key_id, month)
            with self._lock:
                self._monthly.setdefault((caller.key_id, month), used)
        with self._lock:
            hits = self._hits.setdefault(caller.key_id, deque())
            while hits and now - hits[0] >= WINDOW_S:
                hits.popleft()
            if self.enforce and per_minute is not None and len(hits) >= per_minute:
                retry = max(1, math.ceil(WINDOW_S - (now - hits[0])))
                raise ApiError(429, f"rate limit of the {caller.tier} tier reached "
                                    f"({per_minute} requests per minute); retry in {retry} s",
                               {"Retry-After": str(retry)})
            used = self._monthly.get((caller.key_id, month), 0)
            if self.enforce and per_month is not None and used >= per_month:
                retry = _seconds_to_next_month()
                raise ApiError(429, f"monthly quota of the {caller.tier} tier used up "
                                    f"({per_month} requests)", {"Retry-After": str(retry)})
            hits.append(now)
            self._monthly[(caller.key_id, month)] = used + 1


def _seconds_to_next_month() -> int:
    now = datetime.now(UTC)
    first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = first.replace(year=first.year + 1, month=1) if first.month == 12 else first.replace(
        month=first.month + 1)
    return max(1, math.ceil((following - now).total_seconds()))
