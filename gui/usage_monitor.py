"""Live usage of the endpoint deployments: counters read off the UI thread, turned into a series.

The endpoint server keeps usage in memory and writes it to the database every
second (``core.serve.writer``); the server's own ``/usage`` route needs each
deployment's API key, which the app never keeps. So while the Deployments page
is on screen, a QTimer asks for the deployments' counters every ``interval_ms``;
the read runs on a pool thread (``run_in_thread``, one at a time), never on the
UI thread, and each answer adds one sample per deployment: requests, errors and
the mean latency of the interval. ``sig_updated`` then tells the cards.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

from PySide6.QtCore import QObject, QTimer, Signal

from core.db import DeploymentType
from core.deployments import DeploymentService
from gui.thread_task import ThreadTask, run_in_thread

INTERVAL_MS = 2000
KEEP = 60  # samples per deployment: two minutes at the default interval

Counters = tuple[int, int, float]  # requests, errors, total inference ms (cumulative)


@dataclass(frozen=True)
class UsageSample:
    at: float  # time.monotonic() of the read
    requests: int  # in the interval
    errors: int
    mean_ms: float | None  # of the interval's successful requests (None: none)
    totals: Counters


class UsageSeries:
    """Samples per deployment from cumulative counters (pure: no Qt, no database)."""

    def __init__(self, keep: int = KEEP) -> None:
        self.keep = keep
        self.samples: dict[str, deque[UsageSample]] = {}
        self._last: dict[str, Counters] = {}

    def add(self, counters: dict[str, Counters], at: float) -> None:
        for deployment_id, totals in counters.items():
            before = self._last.get(deployment_id)
            self._last[deployment_id] = totals
            if before is None:  # the first read is the baseline, not traffic
                self.samples.setdefault(deployment_id, deque(maxlen=self.keep))
                continue
            requests = max(0, totals[0] - before[0])
            errors = max(0, totals[1] - before[1])
            served = requests - errors
            mean = (totals[2] - before[2]) / served if served > 0 else None
            self.samples.setdefault(deployment_id, deque(maxlen=self.keep)).append(
                UsageSample(at, requests, errors, mean, totals))

    def of(self, deployment_id: str) -> list[UsageSample]:
        return list(self.samples.get(deployment_id, ()))

    def totals(self, deployment_id: str) -> Counters | None:
        return self._last.get(deployment_id)


def read_counters(service: DeploymentService) -> dict[str, Counters]:
    """Every endpoint deployment's cumulative counters (runs on a pool thread)."""
    return {t.id: (t.request_count, t.error_count, t.total_inference_time_ms)
            for t in service.list_deployments(deployment_type=DeploymentType.PLATFORM_ENDPOINT)}


class UsageMonitor(QObject):
    sig_updated = Signal()
    """New samples arrived (read ``series``)."""

    def __init__(self, service: DeploymentService, parent: QObject | None = None,
                 interval_ms: int = INTERVAL_MS) -> None:
        super().__init__(parent)
        self.service = service
        self.series = UsageSeries()
        self.reading: ThreadTask | None = None
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.poll)

    def start(self) -> None:
        if not self.timer.isActive():
            self.timer.start()
            self.poll()

    def stop(self) -> None:
        self.timer.stop()

    @property
    def active(self) -> bool:
        return self.timer.isActive()

    def poll(self) -> None:
        """Ask for the counters off the UI thread (skipped while the last read is still out)."""
        if self.reading is not None:
            return
        service = self.service
        self.reading = run_in_thread(lambda: read_counters(service), what="Reading endpoint usage",
                                     on_result=self._read, on_error=self._failed, owner=self,
                                     notify=False)

    def _read(self, counters: dict[str, Counters]) -> None:
        self.reading = None
        self.series.add(counters, time.monotonic())
        self.sig_updated.emit()

    def _failed(self, _message: str, _error: BaseException) -> None:
        self.reading = None  # a locked database now and then: the next tick reads again
