"""Running an export's model off the UI thread, once per image; filtering stays in the GUI.

The model runs once and its raw outputs are kept (``InferenceResult``); the
package's own ``Postprocessor`` (the wrapper's code, loaded without a model)
then turns them into predictions for any confidence/IoU. That is exactly what
``ModelWrapper.predict(image, conf, iou)`` computes, so slider positions give
the wrapper's answer without re-running the model.

Where it runs:
- ONNX packages: in this process, through ``run_in_thread`` on a one-thread pool
  (ONNX Runtime is light and releases the GIL while it computes);
- every other format: a long-lived child (``python -m core.predict_process``),
  because their runtimes import torch, OpenVINO or LiteRT, which the GUI
  process never loads. It is a ``ChildProcess``: no blocking waits on the UI thread.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QThreadPool, Signal

from core import formats
from core.inference import open_package, wrapper_module
from core.launch import predict_command
from core.metadata import read_metadata as metadata_file
from gui.child_process import ChildProcess, serving_child
from gui.thread_task import run_in_thread

if TYPE_CHECKING:  # numpy loads when an image does, not at start-up
    import numpy as np



@dataclass
class InferenceResult:
    """One model run: raw outputs and what is needed to post-process them again."""

    package_dir: Path
    metadata: dict[str, Any]
    outputs: list[np.ndarray]
    transform: dict[str, float]
    shape: tuple[int, int]
    latency_ms: float
    postprocess: Any = field(repr=False)

    @property
    def task(self) -> str:
        return str(self.metadata["model_info"]["task"])

    @property
    def class_names(self) -> list[str]:
        return list(self.postprocess.names)

    @property
    def default_conf(self) -> float:
        return float(self.postprocess.conf)

    @property
    def default_iou(self) -> float:
        return float(self.postprocess.iou)

    def predictions(self, conf: float, iou: float) -> list[dict[str, Any]]:
        """What ``ModelWrapper.predict(image, conf, iou, masks=True)`` returns for this image:
        with the masks of segmentation models, which the view draws."""
        masks = self.task in ("segment", "semantic")
        return list(self.postprocess.decode(self.outputs, self.transform, self.shape, conf, iou, masks))


def read_metadata(package_dir: Path) -> dict[str, Any]:
    """The package's metadata.json, checked against the schema (BadInput names what is wrong)."""
    return metadata_file(Path(package_dir) / "metadata.json").to_json()


def postprocessor(metadata: dict[str, Any]) -> Any:
    return wrapper_module().Postprocessor(metadata["postprocessing"], metadata["classes"])


def runs_in_process(metadata: dict[str, Any]) -> bool:
    """Whether the format's runtime is light enough for the app's own process (the format registry says)."""
    return formats.get(str(metadata["model_info"]["export_format"])).gui_in_process


def _timed_run(wrapper: Any, rgb: np.ndarray) -> tuple[list[np.ndarray], dict[str, float], float]:
    started = time.perf_counter()
    outputs, transform = wrapper.run(rgb)
    return outputs, transform, (time.perf_counter() - started) * 1000.0


class InferenceRunner(QObject):
    """Runs one image through one package; the newest request wins."""

    sig_finished = Signal(object)
    """An InferenceResult for the latest request."""
    sig_failed = Signal(str)
    """A message naming what went wrong."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)  # one model run at a time; a newer request waits its turn
        self._wrappers: dict[str, Any] = {}
        self._request = 0
        self._pending: dict[str, Any] = {}
        self._child: ChildProcess | None = None
        self._scratch = tempfile.TemporaryDirectory(prefix="slipway-infer-")

    @property
    def busy(self) -> bool:
        return bool(self._pending)

    def run(self, package_dir: Path, rgb: np.ndarray) -> None:
        self._request += 1
        metadata = read_metadata(package_dir)
        self._pending = {"request": self._request, "package_dir": Path(package_dir), "metadata": metadata,
                         "shape": (int(rgb.shape[0]), int(rgb.shape[1]))}
        if runs_in_process(metadata):
            key = str(package_dir)
            try:
                if key not in self._wrappers:
                    self._wrappers[key] = open_package(Path(package_dir))
            except Exception as err:  # a broken package is shown in the view, not raised into Qt
                self._failed(f"cannot open the package: {err}", self._request)
                return
            request, wrapper = self._request, self._wrappers[key]
            run_in_thread(lambda: _timed_run(wrapper, rgb), what="Running the model", owner=self,
                          pool=self._pool, notify=False,  # the view shows the failure itself
                          on_result=lambda payload: self._in_process_done(request, *payload),
                          on_error=lambda message, _err: self._failed(message, request))
        else:
            self._run_in_child(package_dir, rgb)

    def _result(self, outputs: list[np.ndarray], transform: dict[str, float], latency: float
                ) -> InferenceResult:
        p = self._pending
        return InferenceResult(p["package_dir"], p["metadata"], outputs, transform, p["shape"], latency,
                               postprocessor(p["metadata"]))

    def _in_process_done(self, request: int, outputs: list[np.ndarray], transform: dict[str, float],
                         latency: float) -> None:
        if request != self._pending.get("request"):
            return  # a newer image or export replaced this one
        result = self._result(outputs, transform, latency)
        self._pending = {}
        self.sig_finished.emit(result)

    def _failed(self, message: str, request: int) -> None:
        if request == self._pending.get("request"):
            self._pending = {}
            self.sig_failed.emit(message)

    # --- the child process for runtimes that may not load in the GUI ----------------------

    def _ensure_child(self) -> ChildProcess:
        self._child = serving_child(
            self._child, predict_command(), self, self._child_answer,
            self._child_finished)
        return self._child

    def _run_in_child(self, package_dir: Path, rgb: np.ndarray) -> None:

        import numpy as np

        request = self._request
        scratch = Path(self._scratch.name)
        image, out = scratch / f"image-{request}.npy", scratch / f"outputs-{request}.npz"
        np.save(image, rgb)
        self._pending |= {"out": out}
        self._ensure_child().write({"package": str(package_dir), "image": str(image), "out": str(out)})

    def _child_answer(self, answer: dict[str, Any]) -> None:

        import numpy as np

        if not self._pending or "out" not in self._pending:
            return
        request = self._pending["request"]
        if not answer.get("ok"):
            self._failed(str(answer.get("error", "the prediction process failed")), request)
            return
        with np.load(self._pending["out"]) as data:
            outputs = [data[f"arr_{i}"] for i in range(len(data.files))]
        result = self._result(outputs, answer["transform"], float(answer["latency_ms"]))
        self._pending = {}
        self.sig_finished.emit(result)

    def _child_finished(self, code: int, _stopped: bool, reason: str = "") -> None:
        if self._pending and "out" in self._pending:
            tail = reason or (self._child.last_error_line() if self._child is not None else "")
            self._failed(f"the prediction process exited (code {code})" + (f": {tail}" if tail else ""),
                         self._pending["request"])

    def shutdown(self) -> None:
        """Stop the child (if any) and wait for the thread pool; call when the view closes."""
        if self._child is not None and self._child.running:
            self._child.close_input()  # the child's loop ends at end of input
            self._child.stop()
        self._pool.waitForDone(2000)
        self._scratch.cleanup()
