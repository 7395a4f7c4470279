"""The seed's model cache: one loaded wrapper per deployment, loaded on first use.

Loading happens off the event loop; concurrent first requests share one load.
``clear`` drops a deployment's model (``POST /v1/deployments/{id}/cache/clear``),
so the next request loads the package from disk again.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from core.errors import SlipwayError
from core.inference import open_package
from core.serve.problems import ApiError


class ModelCache:
    def __init__(self, threads: int) -> None:
        self.threads = threads
        self._models: dict[str, Any] = {}
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
                try:
                    model = open_package(package_dir, threads=self.threads)
                except SlipwayError as exc:
                    raise ApiError(503, f"the model of deployment {deployment_id} cannot be loaded: "
                                        f"{exc.message}") from None
                except (ValueError, ImportError, RuntimeError) as exc:
                    raise ApiError(503, f"the model of deployment {deployment_id} cannot be loaded "
                                        f"on this machine: {exc}") from None
                self._models[deployment_id] = model
        return model

    def loaded(self, deployment_id: str) -> bool:
        return deployment_id in self._models

    def clear(self, deployment_id: str) -> bool:
        """Forget the deployment's model; whether one was loaded."""
        return self._models.pop(deployment_id, None) is not None

