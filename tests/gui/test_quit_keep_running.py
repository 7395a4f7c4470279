""""Keep running and quit" through the app's real entry point: the app process ends, the export
worker goes on alone, and the next start records its real result."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from core.jobs import JobService
from core.launch import process_alive

ROOT = Path(__file__).resolve().parents[2]
DRIVER = textwrap.dedent("""
    import sys
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication
    app = QApplication(sys.argv)
    from core.samples import sample
    from core.spec import ExportSpec
    from gui import app as gui_app
    from gui.closing import KEEP_AND_QUIT

    def drive():
        [window] = [w for w in app.topLevelWidgets() if isinstance(w, gui_app.MainWindow)]
        job = window.runner.start(ExportSpec(checkpoint=sample("shapes-yolo11n").checkpoint,
                                             export_format="onnx"))
        print(job.id, flush=True)

        def close():
            if window.service.get(job.id).process_id is None:
                QTimer.singleShot(100, close)
                return
            window.close()  # asks
            window.quit_guard.button(KEEP_AND_QUIT).click()

        QTimer.singleShot(200, close)

    QTimer.singleShot(0, drive)
    sys.exit(gui_app.main([]))
""")


@pytest.mark.slow
def test_the_worker_outlives_the_app_process_and_the_next_start_records_its_result() -> None:
    started = time.monotonic()
    app = subprocess.run([sys.executable, "-c", DRIVER], cwd=ROOT, env=dict(os.environ),
                         capture_output=True, text=True, timeout=120)
    assert app.returncode == 0, app.stderr[-3000:]
    job_id = app.stdout.strip().splitlines()[-1]
    job = JobService().get(job_id)  # a start while the worker runs: it stays running
    assert job.status == "running" and process_alive(job.process_id), (job.status, job.error_message)
    pid = job.process_id
    while process_alive(pid) and time.monotonic() - started < 300:
        time.sleep(0.2)
    assert not process_alive(pid)
    done = JobService().get(job_id)  # the next start settles it from the worker's result.json
    assert done.status == "completed", done.error_message
    assert (Path(done.package_dir) / "model.onnx").is_file()
