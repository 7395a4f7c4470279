"""Running one image through the original model and every export of it, off the UI thread.

The exports run one after another through ``InferenceRunner`` (the packages' own
wrappers: ONNX in this process, the other runtimes in the prediction child); a package
seen for the first time runs twice and only the second run is shown, so its latency is
not its warm-up (a TorchScript module's first calls profile and optimize it). The
original runs in a long-lived child of its own (``python -m exporters.original_process``,
torch stays out of the GUI process), once per export: on the tensor that export's
metadata.json describes, so the raw outputs can be compared value by value. Results
arrive as ``InferenceResult``s; the original's decodes with the package's own
post-processing, before any NMS the export runs in its graph (as the parity gate does).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from core.launch import original_command
from gui.child_process import ChildProcess, serving_child
from gui.inference_worker import InferenceResult, InferenceRunner, postprocessor, read_metadata

if TYPE_CHECKING:  # numpy loads when an image does, not at start-up
    import numpy as np


@dataclass(frozen=True)
class CompareTarget:
    """One completed export of the checkpoint being compared."""

    export_id: str
    label: str
    export_format: str
    package_dir: Path
    spec_path: Path
    size_bytes: int | None


def reference_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """The package's metadata as the original's outputs decode: before any in-graph NMS."""
    post = metadata["postprocessing"]
    return {**metadata, "postprocessing": {**post, "type": post.get("decoded_type", post["type"])}}


def outputs_comparable(metadata: dict[str, Any]) -> bool:
    post = metadata["postprocessing"]
    return bool(post["type"] == post.get("decoded_type", post["type"]))


class CompareRunner(QObject):
    """One image at a time; a new image replaces the runs still pending for the old one."""

    sig_original = Signal(str, object)
    """(export id, InferenceResult): the original model on that export's input tensor."""
    sig_exported = Signal(str, object)
    """(export id, InferenceResult): the export's own wrapper on the image."""
    sig_failed = Signal(str, str, str)
    """(export id, "original" or "export", message)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.exports = InferenceRunner(self)
        self.exports.sig_finished.connect(self._export_done)
        self.exports.sig_failed.connect(self._export_failed)
        self._child: ChildProcess | None = None
        self._scratch = tempfile.TemporaryDirectory(prefix="slipway-compare-")
        self._generation = 0
        self._queue: list[tuple[CompareTarget, bool]] = []  # (export, whether this run is the measured one)
        self._current: tuple[CompareTarget, bool] | None = None
        self._warm: set[Path] = set()  # packages run once already (TorchScript's first run profiles)
        self._image: np.ndarray | None = None
        self._original_pending: dict[str, CompareTarget] = {}
        self._metadata: dict[str, dict[str, Any]] = {}

    @property
    def busy(self) -> bool:
        return self._current is not None or bool(self._original_pending)

    def run(self, rgb: np.ndarray, targets: list[CompareTarget]) -> None:
        import numpy as np

        self._generation += 1
        self._image = rgb
        self._queue = [(t, measured) for t in targets
                       for measured in ((True,) if t.package_dir in self._warm else (False, True))]
        self._original_pending = {}
        image = Path(self._scratch.name) / f"image-{self._generation}.npy"
        np.save(image, rgb)
        child = self._ensure_child() if targets else None
        for index, target in enumerate(targets):
            try:
                self._metadata[target.export_id] = read_metadata(target.package_dir)
            except Exception as err:  # a broken package is shown in the view, not raised into Qt
                self.sig_failed.emit(target.export_id, "original", f"cannot read the package: {err}")
                continue
            request_id = f"{self._generation}:{index}"
            self._original_pending[request_id] = target
            out = Path(self._scratch.name) / f"original-{self._generation}-{index}.npz"
            assert child is not None
            child.write({"id": request_id, "spec": str(target.spec_path), "package": str(target.package_dir),
                         "image": str(image), "out": str(out)})
        self._next_export()

    # --- the exports, one after another ----------------------------------------------------

    def _next_export(self) -> None:
        self._current = self._queue.pop(0) if self._queue else None
        if self._current is None or self._image is None:
            return
        try:
            self.exports.run(self._current[0].package_dir, self._image)
        except Exception as err:  # metadata.json unreadable: shown in the view, not raised into Qt
            self._export_failed(f"cannot open the package: {err}")

    def _export_done(self, result: InferenceResult) -> None:
        if self._current is None:
            return
        target, measured = self._current
        self._warm.add(target.package_dir)
        if measured:  # a package's first run only warms it up: its latency would mislead
            self.sig_exported.emit(target.export_id, result)
        self._next_export()

    def _export_failed(self, message: str) -> None:
        if self._current is None:
            return
        target = self._current[0]
        self._queue = [(t, m) for t, m in self._queue if t.export_id != target.export_id]
        self.sig_failed.emit(target.export_id, "export", message)
        self._next_export()

    # --- the original, in its own child -------------------------------------------------------

    def _ensure_child(self) -> ChildProcess:
        self._child = serving_child(
            self._child, original_command(), self, self._original_answer,
            self._child_finished)
        return self._child

    def _original_answer(self, answer: dict[str, Any]) -> None:
        import numpy as np

        target = self._original_pending.pop(str(answer.get("id")), None)
        if target is None:
            return  # an answer for an image that was replaced
        if not answer.get("ok"):
            message = str(answer.get("error", "the original model failed"))
            self.sig_failed.emit(target.export_id, "original", message)
            return
        index = str(answer["id"]).split(":")[1]
        out = Path(self._scratch.name) / f"original-{self._generation}-{index}.npz"
        with np.load(out) as data:
            outputs = [data[f"arr_{i}"] for i in range(len(data.files))]
        metadata = reference_metadata(self._metadata[target.export_id])
        assert self._image is not None
        shape = (int(self._image.shape[0]), int(self._image.shape[1]))
        result = InferenceResult(target.package_dir, metadata, outputs, answer["transform"], shape,
                                 float(answer["latency_ms"]), postprocessor(metadata))
        self.sig_original.emit(target.export_id, result)

    def _child_finished(self, code: int, _stopped: bool, reason: str = "") -> None:
        tail = reason or (self._child.last_error_line() if self._child is not None else "")
        pending, self._original_pending = self._original_pending, {}
        for target in pending.values():
            self.sig_failed.emit(target.export_id, "original",
                                 f"the original model's process exited (code {code})"
                                 + (f": {tail}" if tail else ""))

    def shutdown(self) -> None:
        """Stop the children and wait for the thread pool; call when the view closes."""
        self._queue, self._current, self._original_pending = [], None, {}
        if self._child is not None and self._child.running:
            self._child.close_input()
            self._child.stop()
        self.exports.shutdown()
        self._scratch.cleanup()
