"""Starting and stopping export workers: light enough to run before the database opens.

The CLI starts the worker first and records the job while the worker is still
importing torch, so bookkeeping costs the user no wall time. Nothing here
imports SQLAlchemy or pydantic.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.paths import data_dir, exports_dir

if TYPE_CHECKING:
    from core.spec import ExportSpec

CANCEL_GRACE_S = 5.0


def new_job_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class JobFiles:
    """Where one job's files live in the data directory."""

    job_id: str

    @property
    def folder(self) -> Path:
        path = data_dir() / "jobs" / self.job_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def spec(self) -> Path:
        return self.folder / "spec.json"

    @property
    def log(self) -> Path:
        return self.folder / "worker.log"

    @property
    def default_package(self) -> Path:
        return exports_dir() / self.job_id


def package_dir(files: JobFiles, out_dir: Path | None) -> Path:
    return Path(out_dir).expanduser().resolve() if out_dir else files.default_package


def write_spec(files: JobFiles, spec: ExportSpec) -> Path:
    """The spec file the worker reads, with an absolute checkpoint path."""
    spec = spec.model_copy(update={"checkpoint": spec.checkpoint.expanduser().resolve()})
    files.spec.write_text(spec.to_json(), encoding="utf-8")
    return files.spec


def discard_files(files: JobFiles, out_dir: Path | None) -> None:
    """Remove what a job that was never recorded left: its folder, and its package folder when
    Slipway chose it (a folder the user named is removed only if the worker left it empty)."""
    import shutil

    shutil.rmtree(files.folder, ignore_errors=True)
    package = package_dir(files, out_dir)
    if out_dir is None:
        shutil.rmtree(package, ignore_errors=True)
    elif package.is_dir() and not any(package.iterdir()):
        package.rmdir()


def worker_command(spec_path: Path, out_dir: Path) -> list[str]:
    """The command line of the export worker (pure: tests assert on it)."""
    if getattr(sys, "frozen", False):  # the packaged app doubles as its own worker
        return [sys.executable, "--worker", "--spec", str(spec_path), "--out", str(out_dir)]
    return [sys.executable, "-m", "exporters", "--spec", str(spec_path), "--out", str(out_dir)]


def cluster_run_command(job_id: str) -> list[str]:
    """The conductor of a recorded cluster export (core.cluster_run): the app runs it where it
    runs a local worker; the packaged app runs it with ``--cluster-run``."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "--cluster-run", job_id]
    return [sys.executable, "-m", "core.cluster_run", job_id]


def cli_command(*args: str) -> list[str]:
    """``slipway ARGS`` as a child's command line (the packaged app is its own CLI)."""
    if getattr(sys, "frozen", False):
        return [sys.executable, *args]
    return [sys.executable, "-m", "gui.launcher", *args]


def predict_command() -> list[str]:
    """The long-lived prediction child (core.predict_process) the GUI starts for runtimes it
    must not load itself; the packaged app runs it with ``--predict``."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "--predict"]
    return [sys.executable, "-m", "core.predict_process"]


def original_command() -> list[str]:
    """The long-lived child that runs the original model for the Compare view
    (exporters.original_process); the packaged app runs it with ``--original``."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "--original"]
    return [sys.executable, "-m", "exporters.original_process"]


def evaluate_command(*args: str) -> list[str]:
    """The child that runs an export or its original over a folder (exporters.evaluate_process:
    the Evaluate view and ``slipway evaluate``); the packaged app runs it with ``--evaluate``."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "--evaluate", *args]
    return [sys.executable, "-m", "exporters.evaluate_process", *args]


def inspect_command(spec_path: Path, package: Path, images: int) -> list[str]:
    """The per-layer comparison child (exporters.inspect); the packaged app runs it with ``--inspect``."""
    args = ["--spec", str(spec_path), "--package", str(package), "--images", str(images)]
    if getattr(sys, "frozen", False):
        return [sys.executable, "--inspect", *args]
    return [sys.executable, "-m", "exporters.inspect", *args]


def facts_command(*, package: Path | None = None, checkpoint: Path | None = None, framework: str = "auto",
                  task: str | None = None, model_name: str | None = None) -> list[str]:
    """The child that describes a package's model or a checkpoint (exporters.facts); the
    packaged app runs it with ``--facts``."""
    if package is not None:
        args = ["--package", str(package)]
    else:
        args = ["--checkpoint", str(checkpoint), "--framework", framework or "auto", "--task", task or "auto"]
        args += ["--model-name", model_name] if model_name else []
    if getattr(sys, "frozen", False):
        return [sys.executable, "--facts", *args]
    return [sys.executable, "-m", "exporters.facts", *args]


def worker_environment() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8"})
    return env


def spawn(command: list[str], log_path: Path) -> subprocess.Popen[str]:
    """Start a worker: events on its stdout (a pipe), free text on stderr (the log file)."""
    with log_path.open("ab") as log:
        return subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL,
            env=worker_environment(), text=True, encoding="utf-8", errors="replace",
            start_new_session=True,  # its own process group: cancel stops its children too
        )


def process_alive(pid: int | None) -> bool:
    """Whether the process runs; a zombie (a worker whose parent died and whose new parent does
    not reap it) has ended."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # not Linux, or gone meanwhile
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def stop_process(process: subprocess.Popen[str]) -> None:
    stop_pid(process.pid)
    try:
        process.wait(timeout=CANCEL_GRACE_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def stop_pid(pid: int) -> None:
    """SIGTERM the worker's process group, then SIGKILL it if it lingers."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return

    def _kill_later() -> None:
        deadline = time.monotonic() + CANCEL_GRACE_S
        while time.monotonic() < deadline:
            if not process_alive(pid):
                return
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)

    threading.Thread(target=_kill_later, daemon=True).start()
