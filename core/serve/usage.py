"""Usage counted and answered in memory; the database is written behind, in batches.

The server is the only writer of usage (one server per data directory, see
``server_lock.py``), so the truth it serves is the database's counts when it
started (read once, before it listens) plus everything it counted since. The
``/usage`` route and the monthly quota read these in-memory totals and never
touch the database; what is not yet written waits in ``pending`` for the
background writer (``writer.py``), which puts it back here when a write fails
(a database write-locked by another process), so nothing admitted goes uncounted.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import datetime

from core.db.models import utcnow
from core.deployments import month_of

RowKey = tuple[str, str | None, str]  # deployment id, key id (None: no key), month "YYYY-MM"


@dataclass
class Counts:
    requests: int = 0
    errors: int = 0
    inference_ms: float = 0.0
    last_at: datetime | None = None

    def add(self, other: Counts) -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.inference_ms += other.inference_ms
        if other.last_at is not None and (self.last_at is None or other.last_at > self.last_at):
            self.last_at = other.last_at


@dataclass(frozen=True)
class UsageReport:
    """A deployment's totals and its rows per key and month (copies: safe to read anywhere)."""

    totals: Counts
    rows: list[tuple[str | None, str, Counts]]


class UsageLedger:
    def __init__(self) -> None:
        self._deployments: dict[str, Counts] = {}
        self._rows: dict[RowKey, Counts] = {}
        self._pending: dict[RowKey, Counts] = {}
        self._lock = threading.Lock()

    def load(self, deployments: dict[str, Counts], rows: dict[RowKey, Counts]) -> None:
        """Start from the database's counts (before any request is counted)."""
        with self._lock:
            self._deployments = {k: replace(v) for k, v in deployments.items()}
            self._rows = {k: replace(v) for k, v in rows.items()}

    def add(self, deployment_id: str, key_id: str | None, *, error: bool = False,
            inference_ms: float = 0.0) -> None:
        one = Counts(1, int(error), inference_ms, utcnow())
        assert one.last_at is not None
        row = (deployment_id, key_id, month_of(one.last_at))
        with self._lock:
            self._deployments.setdefault(deployment_id, Counts()).add(one)
            self._rows.setdefault(row, Counts()).add(one)
            self._pending.setdefault(row, Counts()).add(one)

    def monthly(self, deployment_id: str, key_id: str, month: str) -> int:
        with self._lock:
            row = self._rows.get((deployment_id, key_id, month))
            return row.requests if row else 0

    def report(self, deployment_id: str) -> UsageReport:
        with self._lock:
            totals = replace(self._deployments.get(deployment_id) or Counts())
            rows = [(key, month, replace(counts)) for (dep, key, month), counts in self._rows.items()
                    if dep == deployment_id]
        return UsageReport(totals, sorted(rows, key=lambda r: (r[1], r[0] or "")))

    def take_pending(self) -> dict[RowKey, Counts]:
        """What is not written yet; the caller writes it or gives it back with :meth:`restore`."""
        with self._lock:
            pending, self._pending = self._pending, {}
        return pending

    def restore(self, pending: dict[RowKey, Counts]) -> None:
        with self._lock:
            for row, counts in pending.items():
                self._pending.setdefault(row, Counts()).add(counts)

    def pending_requests(self) -> int:
        with self._lock:
            return sum(c.requests for c in self._pending.values())
