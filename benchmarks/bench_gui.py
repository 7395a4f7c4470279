"""GUI responsiveness: cold start to a window, event-loop stalls in an export and an evaluation, memory.

    python benchmarks/bench_gui.py [--runs 3] [--skip-export] [--skip-x11]

1. Cold start, two ways:
   a. As a user starts it: the ``slipway`` entry point on a real X server (Xvfb,
      Qt's xcb platform), until the X server holds a viewable top-level window
      titled "Slipway…" (polled with ``xwininfo`` every 10 ms, outside the app).
      A bare PySide6 QMainWindow is measured the same way. Then the same start
      is broken down by phase (interpreter, imports, QApplication and its
      platform plugin, theme, database and library, window, first expose).
   b. Offscreen: a fresh process starts ``gui.app.main`` with the offscreen
      platform and prints the wall time at which a visible top-level window
      titled "Slipway…" exists (no X server, no fonts from fontconfig'd X).
   The first app start uses a new data directory (migrations, sample import);
   later starts reuse it.
2. Stall: a QTimer ticks every 10 ms in the GUI process while a real ONNX export
   of the sample detector runs through the GUI's QProcess adapter
   (``gui.export_runner.ExportRunner``); the largest gap beyond the tick is the
   worst stall the user would feel. The inference and deployments views are shown
   meanwhile, as in the app.
3. Idle memory: the app process's RSS (VmRSS) a second after its window appears.

Goals (issues 7 and 17): start ≤ 1.5 s on Xvfb/xcb, stall ≤ 50 ms. The figures depend on the load
of the machine: other processes on the same cores lengthen both.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

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


CHILD_BARE_X11 = """
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication(["bare"])
window = QMainWindow()
window.setWindowTitle("Slipway bare")
window.resize(1100, 680)
window.show()
app.exec()
"""

# The app's start, phase by phase, in the order gui.app.main runs it (wall time since the parent's start)
CHILD_PHASES = """
import sys, time
stamps = [("interpreter", time.time())]
import gui.app
from PySide6.QtWidgets import QApplication
stamps.append(("imports (gui.app)", time.time()))
app = QApplication(["slipway"])
stamps.append(("QApplication (platform plugin)", time.time()))
from gui.preferences import Preferences
from gui.theme import apply_theme
app.setApplicationName("Slipway")
apply_theme(app, Preferences.load().theme)
stamps.append(("theme", time.time()))
from core.jobs import JobService
service = JobService()
gui.app.ensure_samples(service)
stamps.append(("database + library", time.time()))
window = gui.app.MainWindow(service)
stamps.append(("main window built", time.time()))
window.show()
while not window.windowHandle() or not window.windowHandle().isExposed():
    app.processEvents()
stamps.append(("shown, first expose", time.time()))
app.processEvents()
stamps.append(("first events (paint)", time.time()))
for name, t in stamps:
    print("PHASE", t, name, flush=True)
"""


def slipway_command() -> list[str]:
    """The ``slipway`` console script installed next to this interpreter, or its module."""
    script = Path(sys.executable).with_name("slipway")
    return [str(script)] if script.exists() else [sys.executable, "-m", "gui.launcher"]


class Xvfb:
    """A private X server on a free display number (``-displayfd``)."""

    def __init__(self) -> None:
        read, write = os.pipe()
        self.process = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write), "-screen", "0", "1920x1080x24", "-nolisten", "tcp",
             "-noreset"],
            pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(write)
        with os.fdopen(read) as pipe:
            self.display = ":" + pipe.readline().strip()

    def viewable_window(self, prefix: str) -> bool:
        """Whether a viewable window whose title starts with ``prefix`` exists."""
        tree = subprocess.run(["xwininfo", "-display", self.display, "-root", "-tree"],
                              capture_output=True, text=True).stdout
        for line in tree.splitlines():
            parts = line.split('"')
            if len(parts) > 2 and parts[1].startswith(prefix):
                info = subprocess.run(["xwininfo", "-display", self.display, "-id", line.split()[0]],
                                      capture_output=True, text=True).stdout
                if "IsViewable" in info:
                    return True
        return False

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def x11_start_time(command: list[str], home: Path, server: Xvfb,
                   title: str = "Slipway") -> tuple[float, float]:
    """Seconds from spawning ``command`` until a viewable window titled ``title…`` is on the X server,
    and the CPU seconds the process used until then (what a busy machine's other work does not change)."""
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb", "DISPLAY": server.display, "SLIPWAY_HOME": str(home),
           "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while not server.viewable_window(title):
            if process.poll() is not None or time.monotonic() - started > 60:
                stderr = process.stderr.read().decode() if process.stderr else ""
                raise RuntimeError(f"no window titled {title!r} appeared:\n{stderr[-2000:]}")
            time.sleep(0.01)
        return time.monotonic() - started, cpu_s(process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def x11_phases(home: Path, server: Xvfb) -> list[tuple[str, float]]:
    """Each phase of the app's start on xcb: (name, seconds it took)."""
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb", "DISPLAY": server.display, "SLIPWAY_HOME": str(home),
           "PYTHONPATH": str(ROOT)}
    started = time.time()
    run = subprocess.run([sys.executable, "-c", CHILD_PHASES], capture_output=True, text=True, env=env,
                         timeout=120, cwd=ROOT)
    stamps = [line.split(maxsplit=2)[1:] for line in run.stdout.splitlines() if line.startswith("PHASE ")]
    if not stamps:
        raise RuntimeError(f"the phase run failed:\n{run.stderr[-2000:]}")
    out, last = [], started
    for t, name in stamps:
        out.append((name, float(t) - last))
        last = float(t)
    return out


def measure_x11(runs: int) -> dict[str, float] | None:
    if not (shutil.which("Xvfb") and shutil.which("xwininfo")):
        print("Xvfb or xwininfo not found (make sysdeps): no X11 measurement")
        return None
    home = Path(tempfile.mkdtemp(prefix="slipway-bench-x11-"))
    server = Xvfb()
    try:
        first = x11_start_time(slipway_command(), home, server)
        app = [x11_start_time(slipway_command(), home, server) for _ in range(runs)]
        bare = [x11_start_time([sys.executable, "-c", CHILD_BARE_X11], home, server) for _ in range(runs)]
        phases = [x11_phases(home, server) for _ in range(runs)]
    finally:
        server.close()
        shutil.rmtree(home, ignore_errors=True)
    figures = {"x11_app_first_start_s": first[0], "x11_app_start_s": statistics.median(t for t, _ in app),
               "x11_app_start_min_s": min(t for t, _ in app), "x11_app_start_max_s": max(t for t, _ in app),
               "x11_app_start_cpu_s": statistics.median(c for _, c in app),
               "x11_bare_qt_start_s": statistics.median(t for t, _ in bare),
               "x11_bare_qt_start_cpu_s": statistics.median(c for _, c in bare)}
    for i, (name, _) in enumerate(phases[0]):
        figures[f"x11_phase {name}"] = statistics.median(p[i][1] for p in phases)
    return figures


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
    """The event loop's worst gap while a real export runs, then while its package is evaluated
    on the sample's labelled val split (the Evaluate view: a child process, progress per image,
    then the report, confusion matrix and thumbnails drawn)."""
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
    from gui.views.evaluate import EvaluateView
    from gui.views.inference import InferenceView

    app = QApplication.instance() or QApplication(["bench"])
    jobs = JobService()
    views = [InferenceView(jobs), DeploymentsView(jobs, DeploymentService())]
    for view in views:
        view.show()
    clock = QElapsedTimer()
    clock.start()

    def stalls_while(start: Any) -> tuple[list[float], float]:
        """10 ms ticks' lateness (ms) from ``start()`` until the app quits; the seconds it took."""
        gaps: list[float] = []
        last = [clock.elapsed()]

        def tick() -> None:
            now = clock.elapsed()
            gaps.append(now - last[0])
            last[0] = now

        timer = QTimer()
        timer.setInterval(10)
        timer.timeout.connect(tick)
        began = time.monotonic()
        timer.start()
        start()
        app.exec()
        timer.stop()
        return [g - 10 for g in gaps], time.monotonic() - began

    runner = ExportRunner(jobs)
    finished: list[Any] = []
    runner.sig_finished.connect(lambda _id, job: (finished.append(job), app.quit()))
    spec = ExportSpec(checkpoint=sample("shapes-yolo11n").checkpoint, export_format="onnx")
    export_stalls, export_s = stalls_while(lambda: runner.start(spec))
    status = getattr(finished[0], "status", "?") if finished else "not finished"
    figures: dict[str, float | str] = {"export_s": export_s, "export_status": str(status)}
    figures |= _worst("", export_stalls)
    if status == "completed":
        evaluate = EvaluateView(jobs)
        evaluate.show()
        evaluate.set_export(finished[0].id)
        evaluate.folder.setText(str(sample("shapes-yolo11n").dataset))
        ended: list[str] = []
        # the loop runs on a little after the end, so drawing the report counts as a stall if slow
        evaluate.runner.sig_report.connect(lambda _report: (ended.append("report"),
                                                           QTimer.singleShot(300, app.quit)))
        evaluate.runner.sig_failed.connect(lambda message: (ended.append(message),
                                                            QTimer.singleShot(300, app.quit)))
        evaluation_stalls, evaluation_s = stalls_while(evaluate.evaluate)
        figures |= {"evaluation_s": evaluation_s, "evaluation_status": ended[0] if ended else "not finished"}
        figures |= _worst("evaluation_", evaluation_stalls)
        evaluate.close()
    for view in views:
        view.close()
    return figures


def _worst(prefix: str, stalls: list[float]) -> dict[str, float | str]:
    return {f"{prefix}ticks": len(stalls), f"{prefix}max_stall_ms": max(stalls, default=0.0),
            f"{prefix}p99_stall_ms": sorted(stalls)[int(len(stalls) * 0.99)] if stalls else 0.0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-export", action="store_true")
    parser.add_argument("--skip-x11", action="store_true", help="no Xvfb/xcb start measurement")
    args = parser.parse_args()
    figures: dict[str, float | str] = {}
    x11 = None if args.skip_x11 else measure_x11(args.runs)
    if x11 is not None:
        figures |= x11
        print(f"cold start of `slipway` on Xvfb (xcb) to a viewable window: {x11['x11_app_start_s']:.2f} s "
              f"median of {args.runs} ({x11['x11_app_start_min_s']:.2f}–{x11['x11_app_start_max_s']:.2f}; "
              f"first start with a new data directory {x11['x11_app_first_start_s']:.2f} s); "
              f"bare QMainWindow {x11['x11_bare_qt_start_s']:.2f} s (goal ≤ 1.5 s)")
        print(f"  CPU until then: app {x11['x11_app_start_cpu_s']:.2f} s, bare QMainWindow "
              f"{x11['x11_bare_qt_start_cpu_s']:.2f} s (steadier than wall time on a busy machine)")
        for key, value in x11.items():
            if key.startswith("x11_phase "):
                print(f"  {key.removeprefix('x11_phase '):<32} {value * 1000:6.0f} ms")
    figures |= measure_start(args.runs)
    print(f"offscreen cold start to a visible main window: {figures['app_start_s']:.2f} s "
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
        if "evaluation_s" in stall:
            print(f"UI stall while the Evaluate view scores it on the val split "
                  f"({stall['evaluation_s']:.1f} s, "
                  f"{stall['evaluation_status']}, {stall['evaluation_ticks']} ticks): max "
                  f"{stall['evaluation_max_stall_ms']:.0f} ms, p99 {stall['evaluation_p99_stall_ms']:.0f} ms "
                  "(goal ≤ 50 ms)")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
