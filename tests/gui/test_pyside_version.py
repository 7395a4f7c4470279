"""PySide6 6.12.0's emit() dropped a reference to True per call and aborted the app after a few
hundred signals; pyproject excludes that release. This keeps a bad build from coming back."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

EMIT_MANY = """
from PySide6.QtCore import QCoreApplication, QObject, Signal
app = QCoreApplication([])
class Source(QObject):
    sig_tick = Signal(int)
source = Source()
seen = []
source.sig_tick.connect(seen.append)
for i in range(3000):
    source.sig_tick.emit(i)
assert len(seen) == 3000
print("ok", flush=True)
"""


def test_thousands_of_signals_leave_the_interpreter_healthy() -> None:
    run = subprocess.run([sys.executable, "-c", EMIT_MANY], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0 and "ok" in run.stdout, run.stderr[-2000:]
