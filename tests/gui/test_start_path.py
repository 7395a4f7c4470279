"""The app's start path stays light: what the first window needs, and nothing else (issue 17).

A fresh process builds and shows the main window (offscreen, as gui.app.main does)
and lists the modules it loaded. Heavy libraries and the pages not shown first
(built when the user opens them) must not be among them; opening a page then
builds it in place.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# numerical and imaging libraries, the endpoint's server stack, HTTP clients: none is drawn at start-up
HEAVY_AT_START = (
    "numpy",
    "cv2",
    "PIL",
    "onnxruntime",
    "onnx",
    "torch",
    "fastapi",
    "uvicorn",
    "starlette",
    "httpx",
    "yaml",
    "jinja2",
)
LATER_PAGES = (
    "gui.views.history",
    "gui.views.inference",
    "gui.views.compare",
    "gui.views.deployments",
    "gui.views.capabilities",
    "gui.views.settings",
    "gui.wizard.export_wizard",
    "gui.views.evaluate",
    "gui.widgets.benchmark_panel",  # and core.benchmark behind it: built when first opened
)

START = """
import json, sys
from PySide6.QtWidgets import QApplication
app = QApplication(["slipway"])
import gui.app
from core.jobs import JobService
service = JobService()
gui.app.ensure_samples(service)
window = gui.app.MainWindow(service)
window.show()
app.processEvents()
at_start = sorted(sys.modules)
window.show_page("Compare")
app.processEvents()
print(json.dumps({"modules": at_start, "compare": type(window.stack.currentWidget()).__name__,
                  "same": window.stack.currentWidget() is window.compare}))
"""


def test_the_first_window_loads_no_heavy_module_and_no_page_it_does_not_show(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "SLIPWAY_HOME": str(tmp_path / "home"),
        "PYTHONPATH": str(ROOT),
    }
    run = subprocess.run(
        [sys.executable, "-c", START],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
        check=True,
    )
    found = json.loads(run.stdout.strip().splitlines()[-1])
    loaded = set(found["modules"])
    heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY_AT_START)
    assert heavy == [], f"imported while starting: {heavy}"
    assert "gui.views.models" in loaded  # the first page is there
    assert sorted(loaded & set(LATER_PAGES)) == []
    assert found == found | {"compare": "CompareView", "same": True}  # built when opened, in its place
