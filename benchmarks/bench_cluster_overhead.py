"""Remote-tier overhead: the same `slipway export` on this machine and on a Ray cluster on loopback.

A head and a second node are started here (as the tests do, every process stopped at the
end); the timm sample is exported to ONNX alternately locally and on the second node
(``--cluster-resource slipway_node_b=1``), each in a fresh CLI process. The per-job
overhead is the remote wall time less the local one (medians), and also each run's wall
time less the worker's own stage timings, so a slower or faster export on a loaded machine
does not count as overhead. Goal: ≤ 3 s added per job.

``--before REV`` also runs the remote export with the CLI of an earlier commit (``git
archive REV``, the same cluster, interleaved), so a change to the remote path is measured
before and after side by side in one run.

    python benchmarks/bench_cluster_overhead.py [--runs 3] [--before REV]
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

from core.samples import sample  # noqa: E402
from tests.raycluster import start_cluster  # noqa: E402


def export(home: Path, out: Path, cluster: str | None, code: Path = ROOT) -> tuple[float, float]:
    """(wall seconds, wall less the worker's stage timings) of one CLI export (the CLI of ``code``)."""
    timm = sample("digits-timm")
    command = [sys.executable, "-m", "gui.launcher", "export", str(timm.checkpoint), "--model-name",
               "mobilenetv3_small_050", "--format", "onnx", "--out", str(out), "--json"]
    if cluster:
        command += ["--cluster", cluster, "--cluster-resource", "slipway_node_b=1"]
    env = {**os.environ, "SLIPWAY_HOME": str(home)}
    env.pop("SLIPWAY_CLUSTER", None)
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=code)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"export failed ({'cluster' if cluster else 'local'}):\n{proc.stderr[-2000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return wall, wall - sum(float(v) for v in (result.get("timings") or {}).values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--before", metavar="REV", help="also time the remote path of this commit")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="slipway-bench-ray-") as tmp:
        work = Path(tmp)
        (work / "ray").mkdir()
        before_code = work / "before"
        if args.before:
            before_code.mkdir()
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.before], capture_output=True,
                                     check=True).stdout
            subprocess.run(["tar", "-x", "-C", str(before_code)], input=archive, check=True)
        started = time.perf_counter()
        cluster = start_cluster(work / "ray")
        print(f"loopback cluster (head + 1 node) up in {time.perf_counter() - started:.1f} s: "
              f"{cluster.address}")
        local: list[tuple[float, float]] = []
        remote: list[tuple[float, float]] = []
        before: list[tuple[float, float]] = []
        try:
            export(work / "home", work / "warm", None)  # first-run caches (timm names, imports)
            for run in range(args.runs):
                local.append(export(work / "home", work / f"local-{run}", None))
                if args.before:
                    before.append(export(work / "home", work / f"before-{run}", cluster.address, before_code))
                remote.append(export(work / "home", work / f"remote-{run}", cluster.address))
                print(f"run {run + 1}: local {local[-1][0]:.2f} s, cluster {remote[-1][0]:.2f} s"
                      + (f", cluster with {args.before} {before[-1][0]:.2f} s" if before else ""))
        finally:
            cluster.stop()
    med = statistics.median
    local_wall, remote_wall = med(w for w, _ in local), med(w for w, _ in remote)
    local_host, remote_host = med(h for _, h in local), med(h for _, h in remote)
    print(f"{'':<34}{'local':>10}{'cluster':>10}{'added':>10}{'ratio':>8}")
    print(f"{'wall time (median, s)':<34}{local_wall:>10.2f}{remote_wall:>10.2f}"
          f"{remote_wall - local_wall:>10.2f}{remote_wall / local_wall:>8.2f}")
    print(f"{'wall less worker stages (s)':<34}{local_host:>10.2f}{remote_host:>10.2f}"
          f"{remote_host - local_host:>10.2f}{remote_host / local_host:>8.2f}")
    if before:
        before_wall, before_host = med(w for w, _ in before), med(h for _, h in before)
        print(f"{'with ' + args.before + ': wall time (s)':<34}{local_wall:>10.2f}{before_wall:>10.2f}"
              f"{before_wall - local_wall:>10.2f}{before_wall / local_wall:>8.2f}")
        print(f"{'with ' + args.before + ': less stages (s)':<34}{local_host:>10.2f}{before_host:>10.2f}"
              f"{before_host - local_host:>10.2f}{before_host / local_host:>8.2f}")
        print(f"per-job overhead, {args.before} vs this checkout: {before_host - local_host:.2f} s vs "
              f"{remote_host - local_host:.2f} s")
    added = remote_host - local_host
    print(f"per-job overhead of the remote tier: {added:.2f} s (goal <= 3 s): "
          f"{'met' if added <= 3.0 else 'NOT met'}")


if __name__ == "__main__":
    main()
