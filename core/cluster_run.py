"""Following an export on a Ray cluster: the CLI's ``--cluster`` path and the app's conductor.

:func:`submit_and_record` is ``slipway export --cluster``. ``python -m core.cluster_run
JOB_ID`` (:func:`conduct`) runs a job created with a ``cluster_address``
(the app creates it after :func:`core.cluster.preflight`) through
:meth:`JobService.run_on_cluster`, the same code ``slipway export --cluster`` runs
in-process: it submits the worker command to Ray, records progress, the node and the
end in the job store, and echoes every protocol event on stdout, so the app follows it
exactly like a local worker (a QProcess reading JSON lines). SIGTERM (the app's cancel)
stops the Ray job and records the export cancelled. Exit status as the CLI's.
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType
from typing import TYPE_CHECKING, Any

from core import launch, protocol
from core.errors import EXIT_CODES, SlipwayError

if TYPE_CHECKING:
    from pathlib import Path

    from core.cluster import Cluster, Needs
    from core.db import ExportJob
    from core.jobs import EventCallback
    from core.launch import JobFiles
    from core.spec import ExportSpec


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _echo(event: dict[str, Any]) -> None:
    sys.stdout.write(protocol.encode(event) + "\n")
    sys.stdout.flush()


def submit_and_record(spec: ExportSpec, files: JobFiles, out_dir: Path | None, cluster: Cluster, needs: Needs,
                      on_event: EventCallback | None = None) -> ExportJob:
    """``slipway export --cluster``: as locally, the worker is started first (submitted to Ray,
    which places and starts it while this process records the job), then followed to its end.
    Refused (no job, no files left) when the cluster refuses it or the job cannot be recorded."""
    from core.jobs import JobService

    try:
        sid = cluster.submit(files.job_id, launch.write_spec(files, spec), launch.package_dir(files, out_dir),
                             needs)
    except BaseException:
        launch.discard_files(files, out_dir)
        raise
    try:
        service = JobService()
        job = service.create_job(spec, out_dir=out_dir, job_id=files.job_id, cluster_address=cluster.address)
    except BaseException:
        cluster.stop(sid)
        launch.discard_files(files, out_dir)  # no job was recorded: no folder is left behind
        raise
    return service.run_on_cluster(job.id, cluster, needs, on_event=on_event, submitted=sid)


def conduct(job_id: str) -> int:
    """Run the recorded cluster job to its end; its exit status (0, 130 cancelled, the error's)."""
    from core.cluster import connect, needs_of, submission_id
    from core.jobs import JobService

    service = JobService()
    job = service.get(job_id)
    if not job.cluster_address:
        raise SystemExit(f"export {job_id} is not a cluster export")
    cluster: Cluster | None = None
    try:
        try:
            cluster = connect(job.cluster_address)
        except SlipwayError as err:  # reachable a moment ago (the app's check): a failed job now
            _echo(err.to_event())
            service.finish(job_id, err.exit_code, err.to_event())
            return err.exit_code
        job = service.run_on_cluster(job_id, cluster, needs_of(job.export_format), on_event=_echo)
    except KeyboardInterrupt:  # stopped before it was followed: submitted a moment ago, perhaps
        if cluster is not None:
            cluster.stop(submission_id(job_id))
        service.mark_started(job_id, os.getpid())
        service.cancel(job_id, stop_remote=False)
        job = service.finish(job_id, 130, None)
    if job.status == "completed":
        return 0
    if job.status == "cancelled":
        return 130
    return EXIT_CODES.get(job.error_code or "internal", 1)


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.stderr.write("usage: python -m core.cluster_run JOB_ID\n")
        return 2
    return conduct(args[0])


if __name__ == "__main__":
    sys.exit(main())
