"""Running an export's model off the UI thread, once per image; filtering stays in the GUI.

The model runs once and its raw outputs are kept (``InferenceResult``); the
package's own ``Postprocessor`` (the wrapper's code, loaded without a model)
then turns them into predictions for any confidence/IoU. That is exactly what
``ModelWrapper.predict(image, conf, iou)`` computes, so slider positions give
the wrapper's answer without re-running the model.

Where it runs:
- ONNX packages: in this process, on a QThreadPool thread (ONNX Runtime is light
  and releases the GIL while it computes);
- every other format: a long-lived child (``python -m core.predict_process``),
  because their runtimes import torch, OpenVINO or LiteRT, which the GUI
  process never loads. It is a QProcess: no blocking waits on the UI thread.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QProcess, QRunnable, QThreadPool, Signal

from core.inference import open_package, wrapper_module
from core.launch import predict_command
from gui.worker_process import process_environment

if TYPE_CHECKING:  # numpy loads when an image does, not at start-up
    import numpy as np

IN_PROCESS_SUFFIXES = {".onnx"}


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
        """What ``ModelWrapper.predict(image, conf, iou)`` returns for this image."""
        if self.task == "classify":
            return list(self.postprocess.classify(self.outputs))
        return list(self.postprocess.detect(self.outputs, self.transform, self.shape, conf, iou))


def read_metadata(package_dir: Path) -> dict[str, Any]:
    return dict(json.loads((Path(package_dir) / "metadata.json").read_text(encoding="utf-8")))


def postprocessor(metadata: dict[str, Any]) -> Any:
    return wrapper_module().Postprocessor(metadata["postprocessing"], metadata["classes"])


def runs_in_process(metadata: dict[str, Any]) -> bool:
    return Path(metadata["model_info"]["model_file"]).suffix in IN_PROCESS_SUFFIXES


class _Signals(QObject):
    """Carries only the request number across threads; the payload waits in ``results``.

    (Passing Python objects through a queued connection crashed PySide6 at interpreter exit.)
    """

    done = Signal(int)
    failed = Signal(str, int)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.results: dict[int, tuple[list[np.ndarray], dict[str, float], float]] = {}


class _InProcessRun(QRunnable):
    def __init__(self, wrapper: Any, rgb: np.ndarray, request: int, signals: _Signals) -> None:
        super().__init__()
        self.wrapper, self.rgb, self.request, self.signals = wrapper, rgb, request, signals

    def run(self) -> None:
        try:
            started = time.perf_counter()
            outputs, transform = self.wrapper.run(self.rgb)
            latency = (time.perf_counter() - started) * 1000.0
            self.signals.results[self.request] = (outputs, transform, latency)
            self.signals.done.emit(self.request)
        except Exception as err:  # shown in the view; the thread must not die silently
            self.signals.failed.emit(f"{type(err).__name__}: {err}", self.request)


class InferenceRunner(QObject):
    """Runs one image through one package; the newest request wins."""

    sig_finished = Signal(object)
    """An InferenceResult for the latest request."""
    sig_failed = Signal(str)
    """A message naming what went wrong."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._signals = _Signals(self)
        self._signals.done.connect(self._in_process_done)
        self._signals.failed.connect(self._failed)
        self._wrappers: dict[str, Any] = {}
        self._request = 0
        self._pending: dict[str, Any] = {}
        self._child: QProcess | None = None
        self._child_buffer = b""
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
            except Exception as err:
                self._failed(f"cannot open the package: {err}", self._request)
                return
            self._pool.start(_InProcessRun(self._wrappers[key], rgb, self._request, self._signals))
        else:
            self._run_in_child(package_dir, rgb)

    def _result(self, outputs: list[np.ndarray], transform: dict[str, float], latency: float
                ) -> InferenceResult:
        p = self._pending
        return InferenceResult(p["package_dir"], p["metadata"], outputs, transform, p["shape"], latency,
                               postprocessor(p["metadata"]))

    def _in_process_done(self, request: int) -> None:
        payload = self._signals.results.pop(request, None)
        if payload is None or request != self._pending.get("request"):
            return  # a newer image or export replaced this one
        result = self._result(*payload)
        self._pending = {}
        self.sig_finished.emit(result)

    def _failed(self, message: str, request: int) -> None:
        if request == self._pending.get("request"):
            self._pending = {}
            self.sig_failed.emit(message)

    # --- the child process for runtimes that may not load in the GUI ----------------------

    def _ensure_child(self) -> QProcess:
        if self._child is None or self._child.state() == QProcess.ProcessState.NotRunning:
            child = QProcess(self)
            child.setProcessChannelMode(QProcess.ProcessChannelMode.SeparateChannels)
            child.readyReadStandardOutput.connect(self._child_output)
            child.finished.connect(self._child_finished)
            child.setProcessEnvironment(process_environment())
            program, *arguments = predict_command()
            child.start(program, arguments)
            self._child = child
        return self._child

    def _run_in_child(self, package_dir: Path, rgb: np.ndarray) -> None:

        import numpy as np

        request = self._request
        scratch = Path(self._scratch.name)
        image, out = scratch / f"image-{request}.npy", scratch / f"outputs-{request}.npz"
        np.save(image, rgb)
        self._pending |= {"out": out}
        line = json.dumps({"package": str(package_dir), "image": str(image), "out": str(out)}) + "\n"
        self._ensure_child().write(line.encode())

    def _child_output(self) -> None:
        assert self._child is not None
        self._child_buffer += bytes(self._child.readAllStandardOutput().data())
        while b"\n" in self._child_buffer:
            line, self._child_buffer = self._child_buffer.split(b"\n", 1)
            with contextlib.suppress(json.JSONDecodeError):
                self._child_answer(json.loads(line))

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

    def _child_finished(self, code: int, _status: QProcess.ExitStatus) -> None:
        if self._pending and "out" in self._pending:
            self._failed(f"the prediction process exited (code {code})", self._pending["request"])

    def shutdown(self) -> None:
        """Stop the child (if any) and wait for the thread pool; call when the view closes."""
        if self._child is not None and self._child.state() != QProcess.ProcessState.NotRunning:
            self._child.closeWriteChannel()  # the child's loop ends at end of input
            self._child.terminate()
        self._pool.waitForDone(2000)
        self._scratch.cleanup()
