"""A Ray cluster reached through its Jobs API (``http://HOST:8265``).

What Slipway asks of a cluster:

- it can be reached (checked before any job row exists: ``BadInput``, exit 2,
  naming the address);
- a node offers what the export needs (:func:`needs_of`: one CPU; a GPU for
  formats that build on one, TensorRT; custom resources the user names), checked
  up front against the live nodes (``Unsupported``, exit 3, naming the resource);
- it runs the worker command on a node that shares this machine's file system:
  the spec file and the package folder are paths in Slipway's data directory (or
  ``--out``), read and written by the worker there, exactly as locally. A cluster
  without a shared file system is not supported yet (the package would have to
  travel through S3 from the node).

Ray is imported lazily; without the ``cluster`` extra the error names the install
command. Credentials: Ray's own (``RAY_JOB_HEADERS`` and friends, read by Ray's
client); Slipway passes none in the job and logs none.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from core import formats
from core.errors import BadInput, InternalError, Unsupported, missing_extra

CLUSTER_ENV = "SLIPWAY_CLUSTER"
REACH_TIMEOUT_S = 5.0
POLL_INTERVAL_S = 0.25
END_POLL_INTERVAL_S = 0.05  # once the worker has said its last word, its exit is moments away
_FINAL_EVENTS = ('{"type":"result"', '{"type":"error"')  # protocol.encode's first key
TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")
_INTERNAL = ("node:", "memory", "object_store", "accelerator_type:")


def resolve_address(address: str | None) -> str | None:
    """The cluster to use: the flag, else $SLIPWAY_CLUSTER, else none (this machine)."""
    chosen = (address or os.environ.get(CLUSTER_ENV) or "").strip()
    if not chosen or chosen.lower() == "local":
        return None
    if "://" not in chosen:
        chosen = f"http://{chosen}"
    parts = urlsplit(chosen)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadInput(f"{chosen!r} is not a Ray cluster's address: give its Jobs API address, "
                       "e.g. http://HOST:8265")
    return chosen.rstrip("/")


def submission_id(job_id: str) -> str:
    """The Ray submission id of a Slipway export (derived: any process can stop it)."""
    return f"slipway-{job_id}"


@dataclass(frozen=True)
class Needs:
    """What one export asks of the node that runs it (Ray's entrypoint resources)."""

    num_cpus: float = 1.0
    num_gpus: float = 0.0
    resources: dict[str, float] = field(default_factory=dict)
    why: str = ""

    def wanted(self) -> dict[str, float]:
        wanted = {"CPU": self.num_cpus, **self.resources}
        if self.num_gpus:
            wanted["GPU"] = self.num_gpus
        return {k: v for k, v in wanted.items() if v}


def needs_of(export_format: str, resources: dict[str, float] | None = None) -> Needs:
    """A route's needs: formats that build on a GPU ask for one; the user's own resources."""
    needs_gpu = formats.get(export_format).needs_gpu
    return Needs(num_gpus=1.0 if needs_gpu else 0.0, resources=dict(resources or {}),
                 why=f"{export_format} builds on an NVIDIA GPU" if needs_gpu else "")


@dataclass(frozen=True)
class Node:
    node_id: str
    ip: str
    resources: dict[str, float]

    @property
    def label(self) -> str:
        return f"{self.ip} (Ray node {self.node_id[:12]})"

    @property
    def offers(self) -> str:
        """Its resources for people: "CPU 1, GPU 0, slipway_head 1" (Ray's internals left out)."""
        shown = {k: v for k, v in self.resources.items() if not k.startswith(_INTERNAL)}
        shown.setdefault("GPU", 0.0)
        return ", ".join(f"{k} {v:g}" for k, v in sorted(shown.items()))


@dataclass(frozen=True)
class RemoteEnd:
    """How a cluster job ended: Ray's status, its message, the worker's exit code."""

    status: str
    message: str
    exit_code: int | None


def _import_ray_jobs() -> Any:
    try:
        from ray import job_submission
    except ImportError:
        raise missing_extra("ray", "cluster") from None
    return job_submission


class Cluster:
    """One Ray cluster's Jobs API; build it with :func:`connect`."""

    def __init__(self, address: str, client: Any) -> None:
        self.address = address
        self._client = client
        self._nodes: list[Node] | None = None  # the last listing (a node's label needs no new one)

    # --- what the cluster offers ------------------------------------------------

    def nodes(self) -> list[Node]:
        from ray.util.state import list_nodes

        try:
            states = list_nodes(address=self.address, detail=True, timeout=int(REACH_TIMEOUT_S) * 2)
        except Exception as err:  # Ray raises its own and requests' errors here
            raise BadInput(f"the Ray cluster at {self.address} did not list its nodes: {err}") from None
        self._nodes = [Node(s.node_id, s.node_ip, dict(s.resources_total or {}))
                       for s in states if str(s.state) in ("ALIVE", "NodeState.ALIVE")]
        return self._nodes

    def check_placement(self, needs: Needs) -> None:
        """Refuse an export no live node can run, naming what is missing."""
        wanted = needs.wanted()
        nodes = self.nodes()
        if any(all(n.resources.get(k, 0.0) >= v for k, v in wanted.items()) for n in nodes):
            return
        missing = sorted(k for k, v in wanted.items() if not any(n.resources.get(k, 0.0) >= v for n in nodes))
        if not missing:
            missing = sorted(wanted)  # each exists somewhere, never all on one node
        amounts = ", ".join(f"{wanted[k]:g} {k}" for k in missing)
        why = f" ({needs.why})" if needs.why and "GPU" in missing else ""
        raise Unsupported(f"no node of the Ray cluster at {self.address} offers {amounts}{why}; "
                          f"its {len(nodes)} node(s) offer "
                          + "; ".join(n.offers for n in nodes),
                          details={"missing_resources": missing, "needs": {k: wanted[k] for k in missing},
                                   "why": needs.why, "nodes": len(nodes)})

    def node_label(self, node_id: str | None) -> str | None:
        if not node_id:
            return None
        for listing in (self._nodes or [], None):  # the placement check's listing, else a new one
            with contextlib.suppress(BadInput):
                for node in self.nodes() if listing is None else listing:
                    if node.node_id == node_id:
                        return node.label
        return f"Ray node {node_id[:12]}"

    # --- one job ---------------------------------------------------------------

    def submit(self, job_id: str, spec_path: Path, out_dir: Path, needs: Needs) -> str:
        """Start the worker command on the cluster; the spec and package paths are shared."""
        entrypoint = shlex.join(["python", "-m", "exporters", "--spec", str(spec_path),
                                 "--out", str(out_dir)])
        try:
            return str(self._client.submit_job(
                entrypoint=entrypoint, submission_id=submission_id(job_id),
                runtime_env={"env_vars": {"PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8"}},
                metadata={"slipway_job": job_id},
                entrypoint_num_cpus=needs.num_cpus, entrypoint_num_gpus=needs.num_gpus or None,
                entrypoint_resources=needs.resources or None,
            ))
        except Exception as err:
            raise InternalError(f"the Ray cluster at {self.address} refused the job: {err}") from None

    def lines(self, sid: str) -> Iterator[str]:
        """The job's output, line by line as it arrives (stdout and stderr merged by Ray).

        The log is polled over HTTP (what it added since the last poll): Ray's websocket
        tail delivered the first line about 2 s late and closed about 3 s after the job had
        ended. The status is read before the log, so the last read after the job ended holds
        every line. A log that cannot be read (its node died) adds nothing; the status ends it.
        """
        seen, buffer, ending = 0, "", False
        while True:
            status = self.status(sid)
            try:
                text = str(self._client.get_job_logs(sid))
            except Exception:  # the node holding the log is gone, or the job has not started
                text = ""
            if len(text) > seen:
                buffer += text[seen:]
                seen = len(text)
                *complete, buffer = buffer.split("\n")
                ending = ending or any(line.startswith(_FINAL_EVENTS) for line in complete)
                yield from complete
            if status in TERMINAL:
                if buffer:
                    yield buffer
                return
            time.sleep(END_POLL_INTERVAL_S if ending else POLL_INTERVAL_S)

    def status(self, sid: str) -> str:
        return str(getattr(self._client.get_job_status(sid), "value", "UNKNOWN"))

    def driver_node(self, sid: str, timeout_s: float = 30.0) -> str | None:
        """The node the worker runs on, once Ray has placed it."""
        deadline = time.monotonic() + timeout_s
        while True:
            info = self._client.get_job_info(sid)
            if info.driver_node_id or str(info.status.value) in TERMINAL:
                return self.node_label(info.driver_node_id)
            if time.monotonic() >= deadline:
                return None
            time.sleep(POLL_INTERVAL_S)

    def wait(self, sid: str, on_poll: Callable[[], None] | None = None) -> RemoteEnd:
        """Block until the job is terminal (a dead node's job ends FAILED; Ray says why)."""
        while True:
            info = self._client.get_job_info(sid)
            status = str(info.status.value)
            if status in TERMINAL:
                return RemoteEnd(status, _reason(str(info.message or "")),
                                 getattr(info, "driver_exit_code", None))
            if on_poll is not None:
                on_poll()
            time.sleep(POLL_INTERVAL_S)

    def stop(self, sid: str) -> None:
        """Stop a job (Ray sends SIGTERM to the worker, then SIGKILL)."""
        with contextlib.suppress(Exception):  # already ended, or never started: nothing to stop
            self._client.stop_job(sid)


def _reason(message: str) -> str:
    """Ray's message cut to what a person needs: its first line and the line saying why
    (a dead node's job: "… actor died … The actor died because its node has died. …")."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    because = [line for line in lines[1:] if "because" in line or "Node Id" in line]
    return " ".join(lines[:1] + because[:1])[:1000]


def _probe(address: str) -> None:
    """A plain HTTP request to the Jobs API, so an unreachable address fails fast and clearly."""
    try:
        with urllib.request.urlopen(f"{address}/api/version", timeout=REACH_TIMEOUT_S) as response:
            response.read(4096)
    except urllib.error.HTTPError as err:
        if err.code in (401, 403):  # reachable; Ray's client will send its configured headers
            return
        raise BadInput(f"the Ray cluster at {address} answered HTTP {err.code}: is this the Jobs API "
                       "(the dashboard port, 8265 by default)?") from None
    except (OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        raise BadInput(f"the Ray cluster at {address} cannot be reached: {reason}") from None


def connect(address: str) -> Cluster:
    """Reach a cluster's Jobs API, or refuse naming the address (exit 2)."""
    jobs = _import_ray_jobs()
    _probe(address)
    try:
        client = jobs.JobSubmissionClient(address)
    except Exception as err:
        raise BadInput(f"the Ray cluster at {address} cannot be reached: {err}") from None
    return Cluster(address, client)


def preflight(address: str, export_format: str, resources: dict[str, float] | None = None
              ) -> tuple[Cluster, Needs]:
    """Reach the cluster and check a node can run this export: refused here (``BadInput``
    naming the address, ``Unsupported`` naming the missing resource) before any job row."""
    cluster = connect(address)
    needs = needs_of(export_format, resources)
    cluster.check_placement(needs)
    return cluster, needs


def describe(address: str) -> str:
    """What a cluster offers, for people: its live nodes and their resources (or ``BadInput``)."""
    nodes = connect(address).nodes()
    if not nodes:
        raise BadInput(f"the Ray cluster at {address} answered but has no live node")
    gpus = sum(n.resources.get("GPU", 0.0) for n in nodes)
    listing = "".join(f"\n{n.ip}: {n.offers}" for n in nodes)
    return f"{address}: {len(nodes)} node(s), {gpus:g} GPU(s) in all:{listing}"
