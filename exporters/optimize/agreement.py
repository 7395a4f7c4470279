"""How closely a candidate model file agrees with the float export, on calibration images.

Used to choose between quantization settings before the parity gate and the
validation judge the final file: the same task-level agreement as the gate
(top-1 for classifiers; confident boxes matched at IoU >= 0.75 for detectors).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from core.parity import compare
from exporters.parity import predict

BOX_IOU = 0.75


def same_runtime(wrapper: Any, path: Path) -> Any:
    """Another model file of the same format, run the way the package's wrapper runs it."""
    return type(wrapper.runtime)(str(path), 2, wrapper.metadata)


class AgreementProbe:
    def __init__(self, wrapper: Any, images: list[Path], task: str, limit: int = 32) -> None:
        self.wrapper, self.task = wrapper, task
        self.samples: list[tuple[np.ndarray, dict[str, float], tuple[int, int]]] = []
        for path in images[:limit]:
            rgb = wrapper.load_image(str(path))
            tensor, transform = wrapper.preprocess(rgb)
            self.samples.append((tensor, transform, rgb.shape[:2]))
        post = wrapper.postprocess
        self.reference = [predict(post, task, wrapper.forward(t), tr, s) for t, tr, s in self.samples]

    def __call__(self, path: Path) -> float:
        run = same_runtime(self.wrapper, path)
        agreed = total = 0
        half_conf = self.wrapper.postprocess.conf / 2
        for (tensor, transform, shape), reference in zip(self.samples, self.reference, strict=True):
            outputs = self.wrapper.forward(tensor, run)
            found = predict(self.wrapper.postprocess, self.task, outputs, transform, shape, half_conf)
            matched, compared, _ = compare(self.task, reference, found, BOX_IOU)
            agreed, total = agreed + matched, total + compared
        return agreed / total if total else 1.0
