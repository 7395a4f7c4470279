"""A real Ray cluster on loopback, started and stopped by tests (and the overhead benchmark).

Every node has a loopback address of its own other than 127.0.0.1 (Ray resolves
127.0.0.1 to the machine's outward address on Linux, which a joining node then cannot
reach from loopback): the head 127.0.0.11, the others 127.0.0.12, …, each with its own
custom resource; the Jobs API (the dashboard) listens on 127.0.0.1. Every node is ``ray start --block`` in a
session of its own, so stopping it is killing that process group plus every process
it started (collected from /proc: Ray's workers start sessions of their own). Nothing
here kills by name.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

HEAD_IP = "127.0.0.11"  # not 127.0.0.1: Ray "resolves" that to the machine's outward address
NODE_IPS = ("127.0.0.12", "127.0.0.13", "127.0.0.14")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ray_environment(home: Path) -> dict[str, str]:
    """Ray's processes, kept on this machine: even with usage stats disabled, Ray's dashboard
    sends a "disabled" report to usage-stats.ray.io and asks cloud metadata servers which cloud
    it is on, unless ~/ray_bootstrap_config.yaml names the provider. Both are pointed home."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "ray_bootstrap_config.yaml").write_text("provider:\n  type: local\n")
    bin_dir = str(Path(sys.executable).parent)  # `python` in the job's entrypoint is this one
    return {
        **os.environ,
        "HOME": str(home),
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_USAGE_STATS_REPORT_URL": "http://127.0.0.1:9/",
        "RAY_DISABLE_DOCKER_CPU_WARNING": "1",
        # a killed node is declared dead within seconds, not half a minute
        "RAY_health_check_period_ms": "500",
        "RAY_health_check_timeout_ms": "500",
        "RAY_health_check_failure_threshold": "3",
        "RAY_health_check_initial_delay_ms": "0",
    }


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rpartition(")")[2].split()[1])
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def descendants(pid: int) -> list[int]:
    tree, found, todo = _children(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _by_temp_dir(temp_dir: Path) -> list[int]:
    """Processes whose command line names this cluster's own temp dir (Ray's workers do)."""
    found = []
    needle = str(temp_dir).encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if needle in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
    return found


@dataclass
class RayNode:
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    pids: set[int] = field(default_factory=set)

    def remember(self) -> None:
        self.pids.update(descendants(self.process.pid))

    def kill(self) -> None:
        """SIGKILL the node and everything it started, as a machine that died would go."""
        self.remember()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        for pid in self.pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)


@dataclass
class RayCluster:
    temp_dir: Path
    gcs_port: int
    dashboard_port: int
    nodes: list[RayNode] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    def _start(self, name: str, args: list[str], env: dict[str, str]) -> RayNode:
        log = self.temp_dir / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [str(Path(sys.executable).parent / "ray"), "start", "--block", "--disable-usage-stats",
                 *args],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                start_new_session=True, cwd=self.temp_dir,
            )
        node = RayNode(name, process, log)
        self.nodes.append(node)
        return node

    def start_head(self) -> None:
        self._start("head", [
            "--head", "--node-ip-address", HEAD_IP, "--port", str(self.gcs_port),
            "--num-cpus", "1", "--num-gpus", "0", "--include-dashboard", "true",
            "--dashboard-host", "127.0.0.1", "--dashboard-port", str(self.dashboard_port),
            "--dashboard-agent-listen-port", str(free_port()), "--temp-dir", str(self.temp_dir),
            "--resources", json.dumps({"slipway_head": 1}),
        ], ray_environment(self.temp_dir / "home"))
        self.wait_nodes(1)

    def add_node(self, name: str, ip: str, resource: str, timeout: float = 90.0) -> RayNode:
        before = len(self.alive_nodes())
        node = self._start(name, [
            "--address", f"{HEAD_IP}:{self.gcs_port}", "--node-ip-address", ip,
            "--num-cpus", "1", "--num-gpus", "0", "--resources", json.dumps({resource: 1}),
            "--dashboard-agent-listen-port", str(free_port()), "--temp-dir", str(self.temp_dir),
        ], ray_environment(self.temp_dir / "home"))
        self.wait_nodes(before + 1, timeout)
        node.remember()
        return node

    def alive_nodes(self) -> list[dict[str, object]]:
        try:
            url = f"{self.address}/api/v0/nodes?limit=100&detail=1"
            with urllib.request.urlopen(url, timeout=5) as response:
                data = json.loads(response.read())
        except (OSError, ValueError):
            return []
        nodes = data.get("data", {}).get("result", {}).get("result", [])
        return [n for n in nodes if n.get("state") == "ALIVE"]

    def wait_nodes(self, count: int, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.alive_nodes()) >= count:
                return
            for node in self.nodes:
                if node.process.poll() is not None:
                    raise RuntimeError(f"ray node {node.name} exited:\n{node.log.read_text()[-3000:]}")
            time.sleep(0.5)
        raise RuntimeError(f"the Ray cluster did not reach {count} node(s) in {timeout:.0f} s")

    def stop(self) -> None:
        for node in reversed(self.nodes):
            node.remember()
        for node in reversed(self.nodes):
            node.kill()
        for pid in _by_temp_dir(self.temp_dir):  # workers that outlived their raylet
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def start_cluster(temp_dir: Path, extra_nodes: int = 1) -> RayCluster:
    """A head (resource slipway_head) and nodes b, c, … at 127.0.0.12, … (slipway_node_b, …)."""
    cluster = RayCluster(temp_dir, free_port(), free_port())
    try:
        cluster.start_head()
        for i in range(extra_nodes):
            letter = "bcdefg"[i]
            cluster.add_node(f"node-{letter}", NODE_IPS[i], f"slipway_node_{letter}")
    except BaseException:
        cluster.stop()
        raise
    return cluster
