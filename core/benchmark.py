"""``slipway benchmark``: one checkpoint exported to formats × precisions, each measured
on the same machine in one run, written as report.json and report.png.

The exports are ordinary jobs (each in its own worker, each through the parity gate
and, with data, validation), so they also appear in the library. Latency is then
measured in one separate process (``python -m exporters.report``), every package in
turn on the same photo, so the numbers compare.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import formats, offers
from core.errors import BadInput, Unsupported
from core.packaging.download import ZIP_NAME
from core.spec import ExportSpec, parse_spec

PRECISIONS = ("fp32", "fp16", "int8", "int8-dynamic")
REPORT_FILE = "report.json"


def benchmarks_dir() -> Path:
    """Where the app keeps its benchmark runs, one folder each."""
    from core.paths import data_dir

    return data_dir() / "benchmarks"


@dataclass(frozen=True)
class Variant:
    export_format: str
    precision: str

    @property
    def name(self) -> str:
        return f"{self.export_format}-{self.precision}"


def variant_spec(base: dict[str, Any], variant: Variant, calib: Path | None, *,
                 here: bool = True) -> ExportSpec | str:
    """The spec of one variant, or why there is none (a row that says so, not an error).
    ``here=False``: the route's needs are asked of the cluster instead of this machine."""
    request = formats.get(variant.export_format).precision_request(
        variant.precision, str(calib) if calib is not None else None)
    if isinstance(request, str):
        return request
    if variant.precision != "fp32":  # the report times every row itself: a slower one is a finding
        optimization = {**request.get("optimization_config", {}), "goal": "size"}
        request = {**request, "optimization_config": optimization}
    spec = parse_spec({**base, "export_format": variant.export_format, **request})
    try:
        offers.check_spec(spec, here=here)
    except (BadInput, Unsupported) as err:
        return err.message
    return spec


def run_benchmark(checkpoint: Path, formats: list[str], precisions: list[str], out: Path, *,
                  model_name: str | None = None, calib: Path | None = None,
                  validate: Path | None = None, max_drop: float | None = None,
                  progress: Any = None, cluster: str | None = None,
                  cluster_resources: dict[str, float] | None = None) -> dict[str, Any]:
    """Export every variant (one after another here; all at once across a Ray cluster's nodes
    with ``cluster``), then measure the passed packages side by side on this machine."""
    from core.cluster import connect, resolve_address
    from core.jobs import JobService

    unknown = sorted(set(precisions) - set(PRECISIONS))
    if unknown:
        raise BadInput(f"--precisions: unknown {', '.join(unknown)}; choose from {', '.join(PRECISIONS)}")
    if out.exists() and any(out.iterdir()):
        raise BadInput(f"--out {out} is not empty; choose a new folder")
    address = resolve_address(cluster)
    remote = connect(address) if address is not None else None  # unreachable: refused, nothing made
    base: dict[str, Any] = {"checkpoint": str(checkpoint)}
    if model_name:
        base["model_name"] = model_name
    if validate:
        base["validation_config"] = {"enabled": True, "data": str(validate),
                                     **({"fail_threshold": {"accuracy_drop_max": max_drop}}
                                        if max_drop is not None else {})}
    service = JobService()
    rows: list[dict[str, Any]] = []
    pending: list[tuple[dict[str, Any], ExportSpec]] = []
    for fmt in formats:
        for precision in precisions:
            variant = Variant(fmt, precision)
            row: dict[str, Any] = {"variant": variant.name, "format": fmt, "precision": precision}
            rows.append(row)
            spec = variant_spec(base, variant, calib, here=remote is None)
            if isinstance(spec, str):
                row.update(status="unsupported", reason=spec)
                continue
            if remote is not None:
                pending.append((row, spec))
                continue
            if progress:
                progress(f"exporting {variant.name}")
            job = service.run(service.create_job(spec, out_dir=out / variant.name).id)
            row.update(_job_row(job))
            if job.status == "cancelled":  # Ctrl-C (or the app's Cancel) stopped this export: stop the run
                raise KeyboardInterrupt
    if remote is not None:
        _run_on_cluster(service, remote, pending, out, cluster_resources or {}, progress)
    report = {"checkpoint": str(checkpoint), "rows": rows}
    measured = [r for r in rows if r.get("status") == "passed"]
    if measured:
        if progress:
            progress(f"measuring {len(measured)} package(s)")
        report = _measure(report, out)
    (out / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    for row in measured:
        _add_report_to_package(Path(row["package_dir"]), out)
    return report


def _run_on_cluster(service: Any, cluster: Any, pending: list[tuple[dict[str, Any], ExportSpec]],
                    out: Path, resources: dict[str, float], progress: Any) -> None:
    """Every variant submitted at once; Ray spreads them over the nodes that fit their needs."""
    from concurrent.futures import ThreadPoolExecutor

    from core.cluster import needs_of

    def run_one(row: dict[str, Any], spec: ExportSpec) -> None:
        needs = needs_of(spec.export_format, resources)
        try:
            cluster.check_placement(needs)
        except Unsupported as err:
            row.update(status="unsupported", reason=err.message)
            return
        job = service.create_job(spec, out_dir=out / row["variant"], cluster_address=cluster.address)
        if progress:
            progress(f"exporting {row['variant']} on {cluster.address}")
        job = service.run_on_cluster(job.id, cluster, needs)
        row.update(_job_row(job), executed_on=job.executed_on)

    with ThreadPoolExecutor(max_workers=max(1, len(pending))) as pool:
        for future in [pool.submit(run_one, row, spec) for row, spec in pending]:
            future.result()


def _add_report_to_package(package: Path, out: Path) -> None:
    """Each measured package carries the whole report, in its folder and in its zip."""
    archive = package / ZIP_NAME
    names = set(zipfile.ZipFile(archive).namelist()) if archive.is_file() else set()
    for name in ("report.json", "report.png"):
        source = out / name
        if not source.is_file():
            continue
        shutil.copyfile(source, package / name)
        if archive.is_file() and name not in names:
            with zipfile.ZipFile(archive, "a", compression=zipfile.ZIP_DEFLATED) as zf:
                zf.write(source, name)


def _job_row(job: Any) -> dict[str, Any]:
    stats = job.optimization_stats or {}
    validation = job.validation_metrics or {}
    completed = job.status == "completed"  # a StrEnum, or the plain string SQLite gives back
    row: dict[str, Any] = {
        "status": "passed" if completed else "unsupported" if job.error_code == "unsupported" else "failed",
        "export_id": job.id,
        "package_dir": job.package_dir,
        "size_mb": stats.get("exported_size_mb"),
        "metric": validation.get("metric"),
        "metric_value": validation.get("exported"),
        "original_metric": validation.get("original"),
        "accuracy_drop": validation.get("accuracy_drop"),
    }
    if not completed:
        row["reason"] = job.error_message
    return row


def _measure(report: dict[str, Any], out: Path) -> dict[str, Any]:
    """Latency of every passed package, and the chart, from a worker-side process."""
    out.mkdir(parents=True, exist_ok=True)
    draft = out / "report.json"
    draft.write_text(json.dumps(report, indent=2, default=str) + "\n")
    proc = subprocess.run([sys.executable, "-m", "exporters.report", str(draft)], capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        raise BadInput(f"measuring the packages failed: {proc.stderr.strip().splitlines()[-1:]}")
    measured: dict[str, Any] = json.loads(draft.read_text())
    return measured
