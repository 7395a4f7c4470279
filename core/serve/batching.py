"""Dynamic batching (like Triton's), off by default: concurrent requests to one model run as one batch.

Requests wait at most ``window_ms`` for company; a batch leaves as soon as it
holds ``max_batch`` images. Each image is preprocessed on its own (the
wrapper's own preprocessing), the tensors are stacked along the batch axis, the
model runs once, and each image's slice of the outputs is post-processed with
its own thresholds. Only models whose batch axis is dynamic can batch; the
others (the default exports have a fixed batch of 1) run one request at a time.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np

Prediction = list[dict[str, Any]]


def can_batch(model: Any) -> bool:
    """Whether the model's first input axis accepts any batch size."""
    first = model.metadata["input_spec"]["shape"][0]
    return not isinstance(first, int) or first <= 0


@dataclass
class _Item:
    rgb: np.ndarray
    conf: float | None
    iou: float | None
    done: asyncio.Future[tuple[Prediction, float]]


class Batcher:
    """One per deployment; ``predict`` is awaited by each request."""

    def __init__(self, model: Any, executor: Executor, max_batch: int, window_ms: float) -> None:
        self.model = model
        self.executor = executor
        self.max_batch = max_batch
        self.window_s = window_ms / 1000
        self._queue: list[_Item] = []
        self._timer: asyncio.TimerHandle | None = None
        self._running: set[asyncio.Future[None]] = set()
        self.batches = 0
        self.items = 0

    async def predict(self, rgb: np.ndarray, conf: float | None,
                      iou: float | None) -> tuple[Prediction, float]:
        loop = asyncio.get_running_loop()
        item = _Item(rgb, conf, iou, loop.create_future())
        self._queue.append(item)
        if len(self._queue) >= self.max_batch:
            self._launch()
        elif self._timer is None:
            self._timer = loop.call_later(self.window_s, self._launch)
        return await item.done

    def _launch(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
        if self._queue:  # more than one batch's worth arrived: the rest goes next
            self._timer = asyncio.get_running_loop().call_later(0, self._launch)
        if batch:
            task = asyncio.ensure_future(self._run(batch))
            self._running.add(task)  # held until done, so the loop cannot drop it
            task.add_done_callback(self._running.discard)

    async def _run(self, batch: list[_Item]) -> None:
        self.batches += 1
        self.items += len(batch)
        try:
            results = await asyncio.get_running_loop().run_in_executor(self.executor, self._infer, batch)
        except Exception as exc:  # every waiter hears of it
            for item in batch:
                if not item.done.done():
                    item.done.set_exception(exc)
            return
        for item, result in zip(batch, results, strict=True):
            if not item.done.done():
                item.done.set_result(result)

    def _infer(self, batch: list[_Item]) -> list[tuple[Prediction, float]]:
        model = self.model
        prepared = [model.preprocess(item.rgb) for item in batch]
        start = time.perf_counter()
        outputs = model.runtime(np.ascontiguousarray(np.concatenate([t for t, _ in prepared])))
        ms = (time.perf_counter() - start) * 1000
        results = []
        for i, (item, (_, transform)) in enumerate(zip(batch, prepared, strict=True)):
            mine = [o[i : i + 1] for o in outputs]
            found: Prediction = model.postprocess.decode(mine, transform, item.rgb.shape[:2],
                                                         item.conf, item.iou)
            results.append((found, ms))
        return results
