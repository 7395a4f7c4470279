"""`slipway serve` against an in-process loop calling the same wrapper, side by side in one run.

The sample detector (YOLO11n, 320) is exported and deployed in a scratch
SLIPWAY_HOME; the server runs with 2 ONNX Runtime threads and --no-limits (usage
still counted). Load comes from Debian's `hey` (or a Python client without it) on
loopback, one JPEG in the seed's JSON body (base64).

Targets: throughput >= 95% of the in-process loop (issue 15; each round's ratio is printed
too, as a busy machine's drift between rounds cancels within one); p50 overhead at concurrency 1
<= 3 ms; a soak at concurrency 8 with zero errors and server RSS growth <= 5%.
The in-process loop decodes the same JPEG bytes and calls predict(): the server
does that work plus HTTP, JSON, base64, auth, rate limiting and usage counting.
Dynamic batching is measured on the same detector exported with a dynamic batch
axis, with and without --max-batch 8.

    python benchmarks/bench_endpoint.py [--seconds 15] [--rounds 5] [--soak 60] [--package DIR]
                                        [--dynamic-package DIR]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.samples import sample  # noqa: E402

THREADS = 2
SLIPWAY = [sys.executable, "-m", "gui.launcher"]


def cli(*args: str, env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [*SLIPWAY, *args, "--json"], check=True, capture_output=True, text=True, cwd=ROOT, env=env
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def in_process(wrapper: Any, jpeg: bytes, seconds: float) -> dict[str, Any]:
    """Decode + predict in a loop, the work the server does for each request minus HTTP."""
    from core.serve.images import decode_image

    latencies: list[float] = []
    cpu = time.process_time()  # this process, every thread (ONNX Runtime's too)
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        wrapper.predict(decode_image(jpeg))
        latencies.append((time.perf_counter() - t0) * 1000)
    return {
        "tool": "in-process",
        "latencies": latencies,
        "elapsed": time.perf_counter() - start,
        "errors": 0,
        "cpu_s": time.process_time() - cpu,
    }


def load(url: str, key: str, body: Path, concurrency: int, seconds: float) -> dict[str, Any]:
    """Latencies (ms), elapsed time and errors at a concurrency, with hey or a Python client."""
    if shutil.which("hey"):
        out = subprocess.run(
            [
                "hey",
                "-z",
                f"{seconds}s",
                "-c",
                str(concurrency),
                "-m",
                "POST",
                "-T",
                "application/json",
                "-H",
                f"Authorization: Bearer {key}",
                "-D",
                str(body),
                "-o",
                "csv",
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        rows = [line.split(",") for line in out.stdout.splitlines()[1:] if line]
        # hey's csv: response-time, DNS+dialup, DNS, request-write, response-delay, response-read,
        # status-code, offset (seconds)
        elapsed = max(float(r[7]) + float(r[0]) for r in rows) if rows else seconds
        return {
            "tool": "hey",
            "latencies": [float(r[0]) * 1000 for r in rows],
            "elapsed": elapsed,
            "errors": sum(1 for r in rows if r[6] != "200"),
        }
    return _python_load(url, key, body.read_bytes(), concurrency, seconds)


def _python_load(url: str, key: str, payload: bytes, concurrency: int, seconds: float) -> dict[str, Any]:
    import httpx

    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def worker() -> None:
        headers = {"Authorization": f"Bearer {key}", "content-type": "application/json"}
        with httpx.Client(headers=headers, timeout=60) as client:
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                status = client.post(url, content=payload).status_code
                with lock:
                    latencies.append((time.perf_counter() - t0) * 1000)
                    errors[0] += status != 200

    start = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {
        "tool": "python-httpx",
        "latencies": latencies,
        "elapsed": time.perf_counter() - start,
        "errors": errors[0],
    }


def merged(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Runs of one kind from every round, as one: requests/s, p50, p95, errors."""
    latencies = sorted(x for run in runs for x in run["latencies"])
    return {
        "tool": runs[0]["tool"],
        "requests": len(latencies),
        "errors": sum(r["errors"] for r in runs),
        "rps": len(latencies) / sum(r["elapsed"] for r in runs),
        "p50_ms": statistics.median(latencies) if latencies else float("nan"),
        "p95_ms": latencies[int(len(latencies) * 0.95)] if latencies else float("nan"),
    }


def round_ratios(local: list[dict[str, Any]], server: list[dict[str, Any]]) -> list[float]:
    """Each round's server throughput over the in-process loop's of the same round (drift cancels)."""
    return [
        (len(s["latencies"]) / s["elapsed"]) / (len(x["latencies"]) / x["elapsed"])
        for x, s in zip(local, server, strict=True)
        if x["latencies"] and s["elapsed"] > 0
    ]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def record(package: Path, home: Path) -> str:
    """An export row in the scratch database for a package made earlier (--package)."""
    from core.db import Database
    from core.jobs import JobService
    from core.spec import ExportSpec

    meta = json.loads((package / "metadata.json").read_text(encoding="utf-8"))
    jobs = JobService(Database(home / "slipway.db"))
    job = jobs.create_job(ExportSpec.model_validate(meta["export"]), out_dir=package)
    jobs.finish(job.id, 0, json.loads((package / "result.json").read_text(encoding="utf-8")))
    return job.id


def copy_home(home: Path, to: Path) -> dict[str, str]:
    """A second data directory with the same deployments (one server per data directory)."""
    import sqlite3

    to.mkdir(parents=True)
    source, target = sqlite3.connect(home / "slipway.db"), sqlite3.connect(to / "slipway.db")
    with target:
        source.backup(target)
    source.close()
    target.close()
    return {**os.environ, "SLIPWAY_HOME": str(to)}


def start_server(env: dict[str, str], *extra: str) -> tuple[subprocess.Popen[str], str]:
    command = [*SLIPWAY, "serve", "--port", "0", "--threads", str(THREADS), "--no-limits", *extra]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    assert server.stdout is not None
    return server, server.stdout.readline().strip().removeprefix("listening on ")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=15.0, help="measured time per side, all rounds")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds of the sides")
    parser.add_argument("--soak", type=float, default=60.0, help="length of the concurrency-8 soak")
    parser.add_argument("--package", type=Path, help="an exported det-onnx package (default: export one)")
    parser.add_argument("--dynamic-package", type=Path, help="the same exported with --dynamic (batching)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="slipway-bench-endpoint-"))
    home = tmp / "home"
    env = {**os.environ, "SLIPWAY_HOME": str(home)}
    os.environ["SLIPWAY_HOME"] = str(home)
    det = sample("shapes-yolo11n")
    exports = {}
    for name, given, flags in (
        ("static", args.package, []),
        ("dynamic", args.dynamic_package, ["--dynamic"]),
    ):
        if given:
            exports[name] = (given.resolve(), record(given.resolve(), home))
        else:
            out = tmp / f"pkg-{name}"
            result = cli(
                "export", str(det.checkpoint), "--format", "onnx", *flags, "--out", str(out), env=env
            )
            exports[name] = (out, result["export_id"])
    deployments = {
        name: cli("deploy", export_id, "--type", "platform_endpoint", "--tier", "enterprise", env=env)
        for name, (_, export_id) in exports.items()
    }
    jpeg = det.image_files()[0].read_bytes()
    body = tmp / "body.json"
    body.write_text(json.dumps({"image": base64.b64encode(jpeg).decode()}), encoding="utf-8")
    junk = tmp / "junk.json"  # same size, refused (415) after parsing, auth, limits and usage
    junk.write_text(json.dumps({"image": base64.b64encode(b"GIF8" + os.urandom(len(jpeg))).decode()}))

    from core.inference import open_package

    wrapper = open_package(exports["static"][0], threads=THREADS)
    server, base = start_server(env)
    batching, batching_base = start_server(
        copy_home(home, tmp / "home-batching"), "--max-batch", "8", "--batch-window-ms", "2"
    )
    key = deployments["static"]["api_key"]
    url = f"{base}/v1/infer/{deployments['static']['id']}"
    dyn_key = deployments["dynamic"]["api_key"]
    dyn_paths = f"/v1/infer/{deployments['dynamic']['id']}"
    runs: dict[str, list[dict[str, Any]]] = {"local": [], "c1": [], "c8": [], "dyn": [], "batched": []}
    try:
        for warm in (url, base + dyn_paths, batching_base + dyn_paths):  # models loaded, connections open
            load(warm, key if warm == url else dyn_key, body, 2, 2.0)
        in_process(wrapper, jpeg, 2.0)
        share = args.seconds / args.rounds
        for _ in range(args.rounds):  # interleaved, so a busy machine's drift hits every side alike
            runs["local"].append(in_process(wrapper, jpeg, share))
            before = cpu_seconds(server.pid)
            runs["c1"].append(load(url, key, body, 1, share) | {"cpu_s": 0.0})
            runs["c1"][-1]["cpu_s"] = cpu_seconds(server.pid) - before
            runs["c8"].append(load(url, key, body, 8, share))
            runs["dyn"].append(load(base + dyn_paths, dyn_key, body, 8, share))
            runs["batched"].append(load(batching_base + dyn_paths, dyn_key, body, 8, share))
        before = cpu_seconds(server.pid)
        fixed = merged([load(url, key, junk, 1, 3.0)])
        fixed_cpu_ms = (cpu_seconds(server.pid) - before) * 1000 / max(fixed["requests"], 1)
        rss_before = rss_kb(server.pid)
        soak = merged([load(url, key, body, 8, args.soak)])
        rss_after = rss_kb(server.pid)
    finally:
        for process in (server, batching):
            process.terminate()
            process.wait(timeout=30)
    local, c1, c8 = merged(runs["local"]), merged(runs["c1"]), merged(runs["c8"])
    dyn, batched = merged(runs["dyn"]), merged(runs["batched"])
    print(
        f"sample detector yolo11n@320, ONNX Runtime {THREADS} threads, load tool {c1['tool']}, "
        f"{os.cpu_count()} CPUs, {args.rounds} interleaved rounds"
    )
    for name, run in (
        ("in-process decode+predict", local),
        ("server concurrency 1", c1),
        ("server concurrency 8", c8),
        ("dynamic-batch export, c8", dyn),
        ("  same, --max-batch 8", batched),
    ):
        print(
            f"{name:<27} {run['rps']:8.1f} req/s   p50 {run['p50_ms']:7.2f} ms   "
            f"p95 {run['p95_ms']:7.2f} ms   errors {run['errors']}"
        )
    local_cpu = sum(r["cpu_s"] for r in runs["local"]) * 1000 / local["requests"]
    server_cpu = sum(r["cpu_s"] for r in runs["c1"]) * 1000 / c1["requests"]
    print(
        f"CPU per request: in-process {local_cpu:.2f} ms, server at c1 {server_cpu:.2f} ms "
        f"({server_cpu - local_cpu:+.2f} ms: includes ONNX Runtime threads spinning; "
        "noisy on a shared machine)"
    )
    print(
        f"fixed cost of a request (HTTP, JSON, base64, auth, limits, usage; refused before decoding): "
        f"p50 {fixed['p50_ms']:.2f} ms, {fixed_cpu_ms:.2f} ms CPU, {fixed['rps']:.0f} req/s at c1"
    )
    for side, run in (("c1", c1), ("c8", c8)):
        paired = round_ratios(runs["local"], runs[side])
        print(
            f"throughput ratio {side}: {run['rps'] / local['rps']:6.1%}   (target >= 95%); per round "
            f"median {statistics.median(paired):.1%}, {min(paired):.1%}–{max(paired):.1%}"
        )
    print(f"p50 overhead c1:     {c1['p50_ms'] - local['p50_ms']:+6.2f} ms (target <= 3 ms)")
    print(
        f"dynamic batching at c8: {batched['rps'] / dyn['rps']:6.1%} of the unbatched throughput "
        "(same dynamic-batch export)"
    )
    growth = (rss_after - rss_before) / rss_before if rss_before else float("nan")
    print(
        f"soak {args.soak:.0f} s at c8: {soak['requests']} requests, {soak['errors']} errors, "
        f"{soak['rps']:.1f} req/s; server RSS {rss_before / 1024:.1f} -> {rss_after / 1024:.1f} MiB "
        f"({growth:+.1%}, target <= 5%)"
    )
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
