"""The endpoint's only database writer: a thread that writes usage and rate windows behind.

Every ``interval`` seconds it takes the ledger's pending counts and the limiter's
windows (when they changed) and writes them in one transaction. Requests never
wait for it: while another process holds the database's write lock the thread
waits (SQLite's busy timeout) and the batch goes back to the ledger to be
written next time, and requests go on being answered from memory. One batch a
second instead of one write a request also keeps a busy server's writes small.
On stop it writes what is left, retrying a locked database until its deadline.
"""

from __future__ import annotations

import logging
import threading
import time

from core.db import Database
from core.serve.auth import Limiter
from core.serve.store import write_batch
from core.serve.usage import UsageLedger

log = logging.getLogger("slipway.serve")
INTERVAL_S = 1.0
STOP_DEADLINE_S = 8.0  # within uvicorn's 10 s graceful shutdown


class BackgroundWriter:
    def __init__(self, db: Database, ledger: UsageLedger, limiter: Limiter,
                 interval: float = INTERVAL_S) -> None:
        self.db, self.ledger, self.limiter, self.interval = db, ledger, limiter, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="usage-writer", daemon=True)
        self._flush_lock = threading.Lock()

    def start(self) -> None:
        self._thread.start()

    def flush(self) -> int:
        """Write what is pending now; the number of requests written (raises when the write fails,
        after handing the batch back)."""
        with self._flush_lock:
            pending = self.ledger.take_pending()
            windows = self.limiter.windows()
            if not pending and windows is None:
                return 0
            try:
                return write_batch(self.db, pending, windows)
            except Exception:
                self.ledger.restore(pending)
                if windows is not None:
                    self.limiter.unsaved()
                raise

    def stop(self, deadline_s: float = STOP_DEADLINE_S) -> int:
        """Stop the thread and write what is left (retrying until the deadline); requests written."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        give_up = time.monotonic() + deadline_s
        written = 0
        while True:
            try:
                written += self.flush()
                return written
            except Exception as exc:
                if time.monotonic() >= give_up:
                    log.error("usage of %d requests not written at shutdown: %s",
                              self.ledger.pending_requests(), exc)
                    return written
                time.sleep(0.2)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.flush()
            except Exception as exc:  # a locked or busy database: the batch waits for the next round
                log.warning("usage write postponed: %s", exc)
