"""Bearer keys, tiers and the limits they set.

Keys are checked through :meth:`DeploymentService.authenticate` (hash lookup,
constant-time compare) and the answer is kept for ``ttl`` seconds, so a key
revoked from the CLI stops working within that time. Rate limits are exact and
in memory (a sliding 60-second window per key, kept across restarts by the
background writer); monthly quotas start from the usage ledger's count for the
month when a key is first seen and count on in memory. Neither reads the database.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime

from core.deployments import DeploymentService, hash_key, month_of
from core.serve.problems import ApiError
from core.serve.usage import UsageLedger
from core.tiers import tier_limits

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
    def __init__(self, service: DeploymentService, ttl: float = 0.5) -> None:  # revoked within a second
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
    """Per-key sliding-window rate limit and monthly quota, by the key's tier.

    Every keyed call takes a place in its key's 60-second window (inference and the
    side endpoints alike); inference calls also count toward the monthly quota, which
    starts from the ledger's count (the database's at start, plus this process's).
    ``windows`` are the last server's windows (epoch seconds), so a restart does not
    hand a key a fresh minute; :meth:`windows` gives them back to the writer.
    """

    def __init__(self, ledger: UsageLedger, enforce: bool = True,
                 windows: dict[str, list[float]] | None = None) -> None:
        self.ledger = ledger
        self.enforce = enforce  # off only for load tests on one's own machine (serve --no-limits)
        self._hits: dict[str, deque[float]] = {}
        self._monthly: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        self._changed = False
        wall, mono = time.time(), time.monotonic()
        for key_id, stamps in (windows or {}).items():
            ages = sorted((wall - min(t, wall) for t in stamps), reverse=True)
            self._hits[key_id] = deque(mono - age for age in ages if age < WINDOW_S)

    def admit(self, deployment_id: str, caller: Caller, *, inference: bool = True) -> None:
        """Count one call for the key, or raise 429 with Retry-After."""
        per_minute, per_month = tier_limits(caller.tier)
        now = time.monotonic()
        month = month_of(datetime.now(UTC))
        with self._lock:
            hits = self._hits.setdefault(caller.key_id, deque())
            while hits and now - hits[0] >= WINDOW_S:
                hits.popleft()
            if self.enforce and per_minute is not None and len(hits) >= per_minute:
                retry = max(1, math.ceil(WINDOW_S - (now - hits[0])))
                raise ApiError(429, f"rate limit of the {caller.tier} tier reached "
                                    f"({per_minute} requests per minute); retry in {retry} s",
                               {"Retry-After": str(retry)})
            if inference:
                month_key = (caller.key_id, month)
                if month_key not in self._monthly:
                    self._monthly[month_key] = self.ledger.monthly(deployment_id, caller.key_id, month)
                used = self._monthly[month_key]
                if self.enforce and per_month is not None and used >= per_month:
                    raise ApiError(429, f"monthly quota of the {caller.tier} tier used up "
                                        f"({per_month} requests)",
                                   {"Retry-After": str(_seconds_to_next_month())})
                self._monthly[month_key] = used + 1
            hits.append(now)
            self._changed = True

    def windows(self) -> dict[str, list[float]] | None:
        """The keys' current windows in epoch seconds, or None when nothing changed since the last call."""
        with self._lock:
            if not self._changed:
                return None
            self._changed = False
            wall, now = time.time(), time.monotonic()
            out: dict[str, list[float]] = {}
            for key_id, hits in list(self._hits.items()):
                while hits and now - hits[0] >= WINDOW_S:
                    hits.popleft()
                if hits:
                    out[key_id] = [round(wall - (now - t), 3) for t in hits]
                else:
                    del self._hits[key_id]  # a key gone quiet costs nothing
            return out

    def unsaved(self) -> None:
        """The windows returned last were not stored: offer them again."""
        with self._lock:
            self._changed = True


def _seconds_to_next_month() -> int:
    now = datetime.now(UTC)
    first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = first.replace(year=first.year + 1, month=1) if first.month == 12 else first.replace(
        month=first.month + 1)
    return max(1, math.ceil((following - now).total_seconds()))
