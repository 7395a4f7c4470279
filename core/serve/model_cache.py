"""The seed's model cache: one loaded wrapper per deployment, loaded on first use.

Loading happens off the event loop; concurrent first requests share one load.
``clear`` drops a deployment's model (``POST /v1/deployments/{id}/cache/clear``),
so the next request loads the package from disk again. A package that fails to
load (a corrupt or truncated model, a metadata.json that says nothing) is a 503
whose message names no server path; the failure is remembered for a few seconds
(health reports it, requests do not retry the load every time).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from core.errors import SlipwayError
from core.inference import open_package
from core.serve.problems import ApiError, without_paths

log = logging.getLogger("slipway.serve")
RETRY_AFTER_FAILURE_S = 5.0


class ModelCache:
    def __init__(self, threads: int) -> None:
        self.threads = threads
        self._models: dict[str, Any] = {}
        self._failures: dict[str, tuple[float, str]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, deployment_id: str, package_dir: Path) -> Any:
        """The deployment's wrapper, loading it if needed (blocking: call from a worker thread)."""
        model = self._models.get(deployment_id)
        if model is not None:
            return model
        with self._guard:
            lock = self._locks.setdefault(deployment_id, threading.Lock())
        with lock:
            model = self._models.get(deployment_id)
            if model is None:
                reason = self.failure(deployment_id)
                if reason is None:
                    try:
                        model = self._load(deployment_id, package_dir)
                    except _LoadFailed as failed:
                        reason = failed.reason
                        self._failures[deployment_id] = (time.monotonic(), reason)
                if model is None:
                    raise ApiError(503, f"the model of deployment {deployment_id} cannot be loaded: {reason}",
                                   {"Retry-After": str(int(RETRY_AFTER_FAILURE_S))})
                self._models[deployment_id] = model
        return model

    def _load(self, deployment_id: str, package_dir: Path) -> Any:
        try:
            return open_package(package_dir, threads=self.threads)
        except SlipwayError as exc:
            message = exc.message
        except Exception as exc:  # a runtime refusing a corrupt file, a wrapper missing a field
            log.warning("loading deployment %s from %s failed", deployment_id, package_dir, exc_info=exc)
            message = f"{type(exc).__name__}: {str(exc).strip()[:300]}"
        raise _LoadFailed(without_paths(message, {package_dir: "the package"}))

    def failure(self, deployment_id: str) -> str | None:
        """Why the last load failed, while that is recent enough to repeat without retrying."""
        failed = self._failures.get(deployment_id)
        if failed is None or time.monotonic() - failed[0] >= RETRY_AFTER_FAILURE_S:
            return None
        return failed[1]

    def loaded(self, deployment_id: str) -> bool:
        return deployment_id in self._models

    def clear(self, deployment_id: str) -> bool:
        """Forget the deployment's model (and its last failure); whether one was loaded."""
        self._failures.pop(deployment_id, None)
        return self._models.pop(deployment_id, None) is not None


class _LoadFailed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
