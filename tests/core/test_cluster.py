"""Exports on a real Ray cluster on loopback: a head and a second node with its own resource.

One cluster per module (about 15 s to start); every process it started is killed at the
end, also when a test fails. The exports are the bundled timm sample to ONNX (the
quickest real export).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from core.samples import sample
from tests.helpers import SLIPWAY, recorded_jobs, slipway
from tests.raycluster import NODE_IPS, RayCluster, free_port

pytest.importorskip("ray.job_submission", reason="the 'cluster' extra (Ray) is not installed")

TIMM = [str(sample("digits-timm").checkpoint), "--model-name", "mobilenetv3_small_050"]
# `make test` runs a slice (the refusals and an export on node b: about 2 min with the
# cluster's start on a loaded 2-core machine); `make test-cluster` adds the cancel, the dead
# node, S3 and the benchmark fan-out.
full = pytest.mark.skipif(not os.environ.get("SLIPWAY_CLUSTER_FULL"),
                          reason="the longer cluster tests run under `make test-cluster`")




def _wait_for(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.3)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def test_the_address_and_needs_are_read_as_documented(monkeypatch: pytest.MonkeyPatch) -> None:
    from core.cli import _cluster_resources
    from core.cluster import needs_of, resolve_address
    from core.errors import BadInput

    monkeypatch.delenv("SLIPWAY_CLUSTER", raising=False)
    assert resolve_address(None) is None
    assert resolve_address("head.example:8265") == "http://head.example:8265"
    monkeypatch.setenv("SLIPWAY_CLUSTER", "http://10.0.0.5:8265/")
    assert resolve_address(None) == "http://10.0.0.5:8265"
    assert resolve_address("local") is None  # the flag overrides the environment
    with pytest.raises(BadInput, match="Jobs API address"):
        resolve_address("ftp://x")
    assert needs_of("tensorrt").wanted() == {"CPU": 1.0, "GPU": 1.0}
    assert needs_of("onnx", {"big": 2}).wanted() == {"CPU": 1.0, "big": 2.0}
    assert _cluster_resources(["a=2", "b"]) == {"a": 2.0, "b": 1.0}
    with pytest.raises(BadInput, match="NAME=AMOUNT"):
        _cluster_resources(["a=lots"])


def test_an_unreachable_cluster_is_refused_before_any_job_exists(slipway_home: Path) -> None:
    address = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    run = slipway("export", *TIMM, "--format", "onnx", "--cluster", address, "--json", home=slipway_home)
    assert run.code == 2, run.stderr
    assert address in run.stderr and "cannot be reached" in run.stderr
    assert run.result["status"] == "refused" and run.result["export_id"] is None
    assert recorded_jobs(slipway_home) == []
    # the environment variable chooses the same way
    env_run = subprocess.run([*SLIPWAY, "export", *TIMM, "--format", "onnx"], capture_output=True,
                             text=True, env={**os.environ, "SLIPWAY_HOME": str(slipway_home),
                                             "SLIPWAY_CLUSTER": address}, timeout=120)
    assert env_run.returncode == 2 and address in env_run.stderr
    assert recorded_jobs(slipway_home) == []


def test_tensorrt_on_a_cluster_without_a_gpu_is_refused_naming_the_gpu(
    ray_cluster: RayCluster, slipway_home: Path,
) -> None:
    run = slipway("export", *TIMM, "--format", "tensorrt", "--cluster", ray_cluster.address,
                  home=slipway_home)
    assert run.code == 3, run.stderr
    assert "1 GPU" in run.stderr and ray_cluster.address in run.stderr and "tensorrt" in run.stderr
    assert recorded_jobs(slipway_home) == []
    # a custom resource no node has is refused the same way, by name
    run = slipway("export", *TIMM, "--format", "onnx", "--cluster", ray_cluster.address,
                  "--cluster-resource", "big_memory=1", home=slipway_home)
    assert run.code == 3 and "big_memory" in run.stderr
    assert recorded_jobs(slipway_home) == []


def test_an_export_runs_on_the_second_node_with_its_package_and_history(
    ray_cluster: RayCluster, slipway_home: Path, tmp_path: Path,
) -> None:
    out = tmp_path / "package"
    run = slipway("export", *TIMM, "--format", "onnx", "--cluster", ray_cluster.address,
                  "--cluster-resource", "slipway_node_b=1", "--out", str(out), "--json",
                  home=slipway_home)
    assert run.code == 0, run.stderr[-3000:]
    result = run.result
    assert result["status"] == "completed" and result["type"] == "result"
    assert result["parity"]["passed"] is True  # gated on the node, as locally
    assert result["executed_on"].startswith(f"{NODE_IPS[0]} ")  # node b, not the head
    assert (out / "model.onnx").is_file() and (out / "metadata.json").is_file()
    assert not (out / ".staging").exists()
    [job] = recorded_jobs(slipway_home)
    assert job.status == "completed" and job.progress_percent == 100.0
    assert job.cluster_address == ray_cluster.address and job.executed_on == result["executed_on"]
    shown = json.loads(slipway("jobs", "show", job.id, home=slipway_home).stdout)
    assert shown["executed_on"] == result["executed_on"] and shown["status"] == "completed"
    # the worker's free text (its stderr) is in the job's log, as for a local run
    assert Path(str(job.log_path)).read_text().strip()


@full
def test_cancel_stops_the_remote_job(ray_cluster: RayCluster, slipway_home: Path, tmp_path: Path) -> None:
    from ray.job_submission import JobSubmissionClient

    out = tmp_path / "package"
    cli = subprocess.Popen(
        [*SLIPWAY, "export", *TIMM, "--format", "onnx", "--cluster", ray_cluster.address,
         "--cluster-resource", "slipway_node_b=1", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "SLIPWAY_HOME": str(slipway_home)},
    )
    try:
        _wait_for(lambda: any(j.status == "running" and j.executed_on for j in recorded_jobs(slipway_home)),
                  90, "the remote export to run")
        [job] = recorded_jobs(slipway_home)
        cancel = slipway("jobs", "cancel", job.id, home=slipway_home)
        assert cancel.code == 0, cancel.stderr
        assert cli.wait(timeout=60) == 130
    finally:
        if cli.poll() is None:
            cli.kill()
    [job] = recorded_jobs(slipway_home)
    assert job.status == "cancelled"
    status = JobSubmissionClient(ray_cluster.address).get_job_status(f"slipway-{job.id}")
    assert status.value == "STOPPED"
    assert not (out / "model.onnx").exists() and not (out / ".staging").exists()


@full
def test_a_node_that_dies_mid_export_ends_the_job_failed_with_the_reason(
    ray_cluster: RayCluster, slipway_home: Path, tmp_path: Path,
) -> None:
    doomed = ray_cluster.add_node("node-doomed", "127.0.0.19", "slipway_doomed")
    cli = subprocess.Popen(
        [*SLIPWAY, "export", *TIMM, "--format", "onnx", "--cluster", ray_cluster.address,
         "--cluster-resource", "slipway_doomed=1", "--out", str(tmp_path / "package")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "SLIPWAY_HOME": str(slipway_home)},
    )
    try:
        _wait_for(lambda: any(j.status == "running" and j.executed_on for j in recorded_jobs(slipway_home)),
                  90, "the remote export to run on the doomed node")
        [job] = recorded_jobs(slipway_home)
        assert job.executed_on is not None and job.executed_on.startswith("127.0.0.19 ")
        doomed.kill()
        code = cli.wait(timeout=120)
    finally:
        if cli.poll() is None:
            cli.kill()
        doomed.kill()
    [job] = recorded_jobs(slipway_home)
    assert code == 1, cli.stderr.read() if cli.stderr else ""
    print(f"dead node: {job.error_message}")  # shown with -rP: Ray's own reason
    assert job.status == "failed" and job.error_code == "internal"
    assert f"slipway-{job.id}" in str(job.error_message) and ray_cluster.address in str(job.error_message)
    assert "node has died" in str(job.error_message)  # Ray's reason, cut to its lines that say why
    assert not (tmp_path / "package" / ".staging").exists()


@full
def test_a_benchmark_fans_its_variants_out_over_both_nodes(
    ray_cluster: RayCluster, slipway_home: Path, tmp_path: Path,
) -> None:
    out = tmp_path / "bench"
    run = slipway("benchmark", *TIMM, "--formats", "onnx", "torchscript", "--precisions", "fp32",
                  "--out", str(out), "--cluster", ray_cluster.address, "--json", home=slipway_home)
    assert run.code == 0, run.stderr[-3000:]
    rows = json.loads(run.stdout.strip().splitlines()[-1])["rows"]
    assert [r["status"] for r in rows] == ["passed", "passed"], rows
    nodes = {str(r["executed_on"]).split()[0] for r in rows}
    assert len(nodes) == 2, rows  # one CPU per node: the two exports ran at once, one on each
    assert all(r["latency_ms_p50"] for r in rows)  # measured side by side here afterwards
    assert {j.executed_on for j in recorded_jobs(slipway_home)} == {r["executed_on"] for r in rows}


@full
def test_a_cluster_export_uploads_to_s3_and_no_credential_lands_anywhere(
    ray_cluster: RayCluster, slipway_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ray.job_submission import JobSubmissionClient

    from tests.s3server import BUCKET, SECRET_KEY, s3_environment

    environment = s3_environment(tmp_path, monkeypatch)
    next(environment)
    try:
        out = tmp_path / "package"
        run = slipway("export", *TIMM, "--format", "onnx", "--cluster", ray_cluster.address,
                      "--cluster-resource", "slipway_node_b=1", "--out", str(out),
                      "--upload", f"s3://{BUCKET}/team", "--json", home=slipway_home)
        assert run.code == 0, run.stderr[-3000:]
        upload = run.result["upload"]
        assert upload["storage_url"] == f"s3://{BUCKET}/team/exports/{run.result['export_id']}/export-package.zip"
        import httpx

        assert httpx.get(upload["download_url"]).content == (out / "export-package.zip").read_bytes()
    finally:
        with contextlib.suppress(StopIteration):
            next(environment)
    [job] = recorded_jobs(slipway_home)
    info = JobSubmissionClient(ray_cluster.address).get_job_info(f"slipway-{job.id}")
    places = {"the Ray job": json.dumps([info.entrypoint, info.runtime_env, info.metadata]),
              "the spec": (slipway_home / "jobs" / job.id / "spec.json").read_text(),
              "the log": Path(str(job.log_path)).read_text(),
              "the database": (slipway_home / "slipway.db").read_bytes().decode("latin-1")}
    for where, text in places.items():
        assert SECRET_KEY not in text, f"the S3 secret is in {where}"
