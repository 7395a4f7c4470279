"""GUI responsiveness: cold start to a visible main window, event-loop stalls during an export, idle memory.

    python benchmarks/bench_gui.py [--runs 3] [--skip-export]

1. Cold start: a fresh process starts the app offscreen (``gui.app.main``) and
   prints the wall time at which a visible top-level window titled "Slipway…"
   exists; the same is measured for a bare PySide6 QMainWindow, and the ratio is
   printed. The first app start uses a new data directory (migrations, sample
   import); later starts reuse it.
2. Stall: a QTimer ticks every 10 ms in the GUI process while a real ONNX export
   of the sample detector runs through the GUI's QProcess adapter
   (``gui.export_runner.ExportRunner``); the largest gap beyond the tick is the
   worst stall the user would feel. The inference and deployments views are shown
   meanwhile, as in the app.
3. Idle memory: the app process's RSS (VmRSS) a second after its window appears.

Goals (issue 7): start ≤ 1.5 s, stall ≤ 50 ms. The figures depend on the load
of the machine: other processes on the same cores lengthen both.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHILD_APP = """
import sys, time
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
app = QApplication(["slipway"])
def shown():
    windows = [w for w in app.topLevelWidgets() if w.isVisible() and w.windowTitle().startswith("Slipway")]
    if not windows:
        QTimer.singleShot(2, shown)
        return
    print("SHOWN", time.time(), flush=True)
    QTimer.singleShot(1000, idle)
def idle():
    rss = [l for l in open("/proc/self/status") if l.startswith("VmRSS")][0].split()[1]
    print("RSS_KB", rss, flush=True)
    app.quit()
QTimer.singleShot(0, shown)
import gui.app
gui.app.main(["slipway"])
"""

CHILD_BARE = """
import sys, time
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication(["bare"])
window = QMainWindow()
window.setWindowTitle("Slipway bare")
window.resize(1100, 680)
window.show()
def shown():
    print("SHOWN", time.time(), flush=True)
    rss = [l for l in open("/proc/self/status") if l.startswith("VmRSS")][0].split()[1]
    print("RSS_KB", rss, flush=True)
    app.quit()
QTimer.singleShot(0, shown)
app.exec()
"""


def start_time(code: str, home: Path) -> tuple[float, int]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "SLIPWAY_HOME": str(home),
           "PYTHONPATH": str(ROOT)}
    started = time.time()
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                         cwd=ROOT)
    values = dict(line.split(maxsplit=1) for line in run.stdout.splitlines() if " " in line)
    if "SHOWN" not in values:
        raise RuntimeError(f"the app did not show a window:\n{run.stderr[-2000:]}")
    return float(values["SHOWN"]) - started, int(values.get("RSS_KB", "0"))


def measure_start(runs: int) -> dict[str, float]:
    home = Path(tempfile.mkdtemp(prefix="slipway-bench-gui-"))
    first, _ = start_time(CHILD_APP, home)
    app = [start_time(CHILD_APP, home) for _ in range(runs)]
    bare = [start_time(CHILD_BARE, home) for _ in range(runs)]
    app_s = statistics.median(t for t, _ in app)
    bare_s = statistics.median(t for t, _ in bare)
    return {"app_first_start_s": first, "app_start_s": app_s, "bare_qt_start_s": bare_s,
            "start_ratio": app_s / bare_s, "app_idle_rss_mb": statistics.median(r for _, r in app) / 1024,
            "bare_idle_rss_mb": statistics.median(r for _, r in bare) / 1024}


def measure_stall() -> dict[str, float | str]:
    os.environ["SLIPWAY_HOME"] = tempfile.mkdtemp(prefix="slipway-bench-stall-")
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QElapsedTimer, QTimer
    from PySide6.QtWidgets import QApplication

    from core.deployments import DeploymentService
    from core.jobs import JobService
    from core.samples import sample
    from core.spec import ExportSpec
    from gui.export_runner import ExportRunner
    from gui.views.deployments import DeploymentsView
    from gui.views.inference import InferenceView

    app = QApplication.instance() or QApplication(["bench"])
    jobs = JobService()
    views = [InferenceView(jobs), DeploymentsView(jobs, DeploymentService())]
    for view in views:
        view.show()
    gaps: list[float] = []
    clock = QElapsedTimer()
    clock.start()
    last = [clock.elapsed()]

    def tick() -> None:
        now = clock.elapsed()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(tick)
    runner = ExportRunner(jobs)
    finished: list[object] = []
    runner.sig_finished.connect(lambda _id, job: (finished.append(job), app.quit()))
    spec = ExportSpec(checkpoint=sample("shapes-yolo11n").checkpoint, export_format="onnx")
    started = time.monotonic()
    timer.start()
    runner.start(spec)
    app.exec()
    timer.stop()
    status = getattr(finished[0], "status", "?") if finished else "not finished"
    for view in views:
        view.close()
    stalls = [g - 10 for g in gaps]
    return {"export_s": time.monotonic() - started, "export_status": str(status), "ticks": len(gaps),
            "max_stall_ms": max(stalls, default=0.0),
            "p99_stall_ms": sorted(stalls)[int(len(stalls) * 0.99)] if stalls else 0.0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-export", action="store_true")
    args = parser.parse_args()
    figures: dict[str, float | str] = dict(measure_start(args.runs))
    print(f"cold start to a visible main window: {figures['app_start_s']:.2f} s "
          f"(first start with a new data directory {figures['app_first_start_s']:.2f} s); "
          f"bare QMainWindow {figures['bare_qt_start_s']:.2f} s; ratio {figures['start_ratio']:.2f}x "
          f"(goal ≤ 1.5 s)")
    print(f"idle memory (RSS): app {figures['app_idle_rss_mb']:.0f} MB, "
          f"bare QMainWindow {figures['bare_idle_rss_mb']:.0f} MB")
    if not args.skip_export:
        stall = measure_stall()
        figures |= stall
        print(f"UI stall during a real ONNX export ({stall['export_s']:.1f} s, {stall['export_status']}, "
              f"{stall['ticks']} ticks of 10 ms): max {stall['max_stall_ms']:.0f} ms, "
              f"p99 {stall['p99_stall_ms']:.0f} ms (goal ≤ 50 ms)")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
