"""The desktop app's entry: opens the main window over the library, samples included.

It imports core only — never torch, TensorFlow or any exporter (the worker does that).
"""

from __future__ import annotations

import logging
import os
import sys

import shiboken6
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from core import probes
from core.jobs import JobService
from core.samples import samples
from gui.log import configure as configure_log
from gui.main_window import MainWindow  # the whole GUI's import graph (test_architecture checks it)
from gui.models.formatting import parity_label
from gui.preferences import Preferences
from gui.theme import apply_theme
from gui.thread_task import run_in_thread, wait_for_tasks

__all__ = ["MainWindow", "ensure_samples", "main", "parity_label"]
PROBE_DELAY_MS = 3000


def ensure_samples(service: JobService) -> None:
    """The library starts with the bundled sample models (not those the user removed)."""
    removed = set(Preferences.load().removed_samples)
    # those already in the library, as they would be imported: not inspected (unzipped) again at every start
    present = {(c.path, c.sample): c.model_name for c in service.checkpoints()}
    for sample in samples():
        key = (str(sample.checkpoint.expanduser().resolve()), sample.name)
        if key in present and sample.model_name in (None, present[key]):
            continue
        if sample.checkpoint.exists() and sample.name not in removed:
            service.import_checkpoint(sample.checkpoint, name=sample.title,
                                      model_name=sample.model_name, sample=sample.name)


def main(argv: list[str] | None = None) -> int:
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv)
    assert isinstance(app, QApplication)
    app.setApplicationName("Slipway")
    apply_theme(app, Preferences.load().theme)
    configure_log()
    app.aboutToQuit.connect(lambda: wait_for_tasks(5000))  # let background work answer before exit
    service = JobService()  # reconciles jobs a previous run left running
    ensure_samples(service)
    window = MainWindow(service)
    window.show()
    # what only torch can tell (XNNPACK for mobile TorchScript) is asked once, in a child
    # process and off the UI thread, so the wizard's option checks never wait for it; once the
    # window is up (importing torch would take the CPU the first paint needs)
    QTimer.singleShot(PROBE_DELAY_MS, lambda: run_in_thread(
        probes.torch_has_xnnpack, what="Probing this machine's torch", notify=False))
    code = int(app.exec())
    if window.quit_guard.released:
        # "Keep running and quit": Qt would kill the released workers while destroying their
        # QProcess objects at interpreter exit. Everything else the window runs (the endpoint
        # server, prediction children) stops as usual with the window; then leave at once.
        shiboken6.delete(window)
        logging.shutdown()
        os._exit(code)
    return code
