"""The zoo: random-weight checkpoints shaped like the popular public ones.

Each family is built from its library's own configuration and preprocessing
objects (a Hugging Face config and image processor, a timm architecture and its
default pretrained config, an Ultralytics model yaml), with random weights, and
exported through the real CLI. ``tests/zoo/run.py`` runs the whole zoo over every
format and writes the coverage table (``make test-zoo``); the families marked
``in_slice`` also run in ``make test`` (``tests/zoo/test_zoo_slice.py``).

A library's module (``hf.py``, ``timm_zoo.py``, ``ultralytics_zoo.py``) lists its
families in ``FAMILIES``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# The framework's own pipeline on an RGB uint8 image, at a confidence threshold:
# predictions in the package wrapper's shape (class_id, confidence, bbox, mask, ...).
FrameworkPredict = Callable[[Path, np.ndarray, float], list[dict[str, Any]]]


@dataclass(frozen=True)
class Family:
    name: str  # "huggingface/convnext", "timm/resnet", "ultralytics/yolo11-obb"
    library: str  # huggingface | timm | ultralytics
    task: str  # classify | detect | segment | pose | obb | semantic
    # writes a random-weight checkpoint (file or Hugging Face folder) into the folder
    # given and returns what `slipway export` takes
    build: Callable[[Path], Path]
    export_args: tuple[str, ...] = ()  # more `slipway export` flags, e.g. ("--model-name", "resnet18")
    framework_predict: FrameworkPredict | None = None
    # formats this family is refused for on purpose, with the words the refusal must contain
    refused: dict[str, str] = field(default_factory=dict)
    in_slice: bool = False  # also runs in `make test`
    note: str = ""  # what was shrunk or chosen, shown in the coverage table


def all_families() -> list[Family]:
    from tests.zoo import hf, timm_zoo, ultralytics_zoo

    return [*hf.FAMILIES, *timm_zoo.FAMILIES, *ultralytics_zoo.FAMILIES]
