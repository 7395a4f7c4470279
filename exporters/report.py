"""Measure a benchmark's packages and draw its chart: ``python -m exporters.report REPORT.json``.

Every package runs in turn on the same photo (blocks of runs, so one runtime's idle
spinning threads do not land in the next one's timing), batch 1, 2 threads. The
report gains latency p50/p95 and speed relative to the first row measured, and
report.png (size, latency, metric) is written beside it.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROUNDS, BLOCK, THREADS, WARMUP = 5, 10, 2, 5


def measure(rows: list[dict[str, Any]]) -> None:
    from core.inference import open_package
    from exporters.images import probe_photo

    photo = probe_photo()
    runners = {}
    for row in rows:
        wrapper = open_package(Path(row["package_dir"]), threads=THREADS)
        tensor, _ = wrapper.preprocess(photo)
        runners[row["variant"]] = (wrapper, tensor)
    for wrapper, tensor in runners.values():  # TorchScript optimizes over its first runs
        for _ in range(WARMUP):
            wrapper.forward(tensor)
    times: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(ROUNDS):
        for name, (wrapper, tensor) in runners.items():
            wrapper.forward(tensor)
            for _ in range(BLOCK):
                start = time.perf_counter()
                wrapper.forward(tensor)
                times[name].append(time.perf_counter() - start)
    base = None
    for row in rows:
        values = np.asarray(times[row["variant"]]) * 1000
        row["latency_ms_p50"] = round(float(np.percentile(values, 50)), 3)
        row["latency_ms_p95"] = round(float(np.percentile(values, 95)), 3)
        base = base or row["latency_ms_p50"]
        row["speed_vs_first"] = round(base / row["latency_ms_p50"], 3)


def chart(report: dict[str, Any], target: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["rows"]
    names = [r["variant"] for r in rows]
    colors = ["#2e7d32" if r.get("status") == "passed" else "#c62828" if r.get("status") == "failed"
              else "#9e9e9e" for r in rows]
    metric = next((r["metric"] for r in rows if r.get("metric")), None)
    panels = [("size (MB)", "size_mb"), ("latency p50 (ms)", "latency_ms_p50"),
              (metric or "metric (give --validate DATA)", "metric_value")]
    fig, axes = plt.subplots(1, 3, figsize=(13, 0.45 * len(rows) + 1.8), sharey=True)
    for ax, (title, key) in zip(axes, panels, strict=True):
        values = [float(r.get(key) or 0.0) for r in rows]
        ax.barh(names, values, color=colors)
        ax.set_title(title)
        for y, (value, row) in enumerate(zip(values, rows, strict=True)):
            label = f"{value:.3g}" if row.get(key) is not None else row.get("status", "")
            ax.text(value, y, f" {label}", va="center", fontsize=8)
    axes[0].invert_yaxis()
    fig.suptitle(f"{Path(report['checkpoint']).name}: green passed, red failed, grey unsupported")
    fig.tight_layout()
    fig.savefig(target, dpi=110)
    plt.close(fig)


def main() -> None:
    from core.paths import cache_dir
    from exporters.offline import configure_offline

    configure_offline(cache_dir())
    path = Path(sys.argv[1])
    report = json.loads(path.read_text())
    measure([r for r in report["rows"] if r.get("status") == "passed"])
    report["measured"] = {"batch": 1, "threads": THREADS, "runs": ROUNDS * BLOCK,
                          "image": "scikit-image coffee photo"}
    path.write_text(json.dumps(report, indent=2) + "\n")
    chart(report, path.with_name("report.png"))


if __name__ == "__main__":
    main()
