"""How job facts read in the tables and the detail pane (pure functions, no Qt)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def display_path(path: str | Path | None) -> str:
    """A path as people read it: under the home folder it starts with ~."""
    if not path:
        return ""
    full = Path(path)
    try:
        return "~/" + full.relative_to(Path.home()).as_posix()
    except ValueError:
        return str(full)


def parity_label(parity: dict[str, Any] | None) -> str:
    """The parity column: passed, failed, or why it could not run (never 'passed')."""
    parity = parity or {}
    if parity.get("status") == "not_run":
        return "not run (needs macOS)" if "macOS" in str(parity.get("reason")) else "not run"
    if not parity:
        return ""
    return "passed" if parity.get("passed") else "failed"


def validation_label(metrics: dict[str, Any] | None) -> str:
    """The judged metric and its drop, e.g. 'mAP50-95 0.912 (-0.4 pts)'."""
    if not metrics:
        return ""
    metric = metrics.get("metric") or metrics.get("judged_metric")
    exported = metrics.get("exported")
    drop = metrics.get("drop", metrics.get("accuracy_drop"))
    if isinstance(exported, dict) and metric in exported:
        exported = exported[metric]
    parts = [str(metric)] if metric else []
    if isinstance(exported, int | float):
        parts.append(f"{exported:.3f}")
    if isinstance(drop, int | float):
        parts.append(f"(-{drop * 100:.1f} pts)")
    if "passed" in metrics:
        parts.append("passed" if metrics["passed"] else "failed")
    return " ".join(parts) or "measured"


def size_label(size_bytes: int | None) -> str:
    if not size_bytes:
        return ""
    if size_bytes >= 1_000_000:
        return f"{size_bytes / 1e6:.1f} MB"
    return f"{size_bytes / 1e3:.0f} kB"


def duration_label(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"


def export_label(model: str | None, version: int, export_format: str) -> str:
    """An export for people, naming its model: “Shapes detector” v3 (onnx)."""
    return f"“{model or 'a removed model'}” v{version} ({export_format})"


def ran_on(job: dict[str, Any]) -> str:
    """Where the export ran: this machine, or the Ray cluster's node (once Ray has placed it)."""
    if not job.get("cluster_address"):
        return "this machine"
    node = job.get("executed_on") or "a node not known yet"
    return f"{node} of the Ray cluster at {job['cluster_address']}"
