"""The job service: the only writer of the job store.

It imports checkpoints, creates export jobs from specs, starts the worker in a
child process, records its events, cancels it (terminate, then kill), and on
start reconciles jobs that a previous run left ``running``. The CLI drives a
worker with :meth:`JobService.run` (subprocess); the GUI drives the same worker
with a QProcess and feeds its lines to :meth:`record_event` and
:meth:`finish` — both go through the same bookkeeping.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import SQLAlchemyError

from core import launch, offers, protocol
from core.checkpoint import inspect_checkpoint
from core.db import Checkpoint, Database, ExportJob, JobStatus
from core.db.models import utcnow
from core.deployments import DeploymentService
from core.errors import EXIT_CODES, BadInput, InternalError, SlipwayError
from core.launch import JobFiles, package_dir, process_alive, stop_pid, stop_process, write_spec
from core.paths import database_path, size_of
from core.spec import ExportSpec

if TYPE_CHECKING:
    from core.cluster import Cluster, Needs
from core.timm_names import check_timm_name

EventCallback = Callable[[dict[str, Any]], None]
PROGRESS_WRITE_INTERVAL_S = 0.25
QUEUED_ORPHANED = ("cancelled before it started: the app that queued it closed (queued exports run "
                   "only while the app is open)")
GENERIC_STEMS = {"model", "best", "last", "weights", "checkpoint", "pytorch_model"}
TASK_NOUNS = {"detect": "detector", "classify": "classifier", "segment": "segmenter",
              "pose": "pose model", "obb": "rotated-box detector", "semantic": "semantic segmenter"}


def friendly_name(path: Path, task: str | None) -> str:
    """A display name for an added checkpoint, as the samples have: "runs/ships/best.pt" (a
    detector) → "Ships detector"; the file's own stem unless it is a generic one."""
    stem = path.name if path.is_dir() else path.stem
    if stem in GENERIC_STEMS:
        stem = path.parent.name
    words = " ".join(stem.replace("_", " ").replace("-", " ").split()) or "Model"
    noun = TASK_NOUNS.get(task or "")
    if noun and noun.split()[-1] not in words.lower():
        words = f"{words} {noun}"
    return words[:1].upper() + words[1:]


class JobService:
    def __init__(self, db: Database | None = None) -> None:
        self.db = db or Database(database_path())
        self._cancelled: set[str] = set()
        self.reconcile()

    # --- checkpoints -------------------------------------------------------

    def import_checkpoint(self, path: Path, *, name: str | None = None,
                          model_name: str | None = None, sample: str | None = None) -> Checkpoint:
        """Add a checkpoint to the library (or return the one already there)."""
        path = Path(path).expanduser().resolve()
        info = inspect_checkpoint(path)
        return self._add_checkpoint(path, info.framework, info.task, info.kind,
                                    name=name, model_name=model_name or info.model_type, sample=sample)

    def _add_checkpoint(self, path: Path, framework: str, task: str | None, kind: str, *,
                        name: str | None = None, model_name: str | None = None,
                        sample: str | None = None) -> Checkpoint:
        size = size_of(path)
        with self.db.write_session() as s:  # two processes importing one file at once add one row
            existing = s.scalar(select(Checkpoint).where(Checkpoint.path == str(path)))
            if existing is not None:
                if model_name and existing.model_name != model_name:
                    existing.model_name = model_name
                if sample and existing.sample is None:  # first seen from the CLI, now known
                    existing.sample, existing.name = sample, name or existing.name
                return existing
            checkpoint = Checkpoint(
                name=name or friendly_name(path, task),
                path=str(path), framework=framework, task=task, model_name=model_name, kind=kind,
                size_bytes=size, sample=sample,
            )
            s.add(checkpoint)
        return checkpoint

    def update_checkpoint(self, checkpoint_id: str, *, name: str | None = None,
                          framework: str | None = None, task: str | None = None,
                          model_name: str | None = None) -> Checkpoint:
        """Correct what detection guessed; the values are checked like a spec's."""
        from core.spec import FRAMEWORKS, TASKS

        if framework is not None and framework not in FRAMEWORKS:
            raise BadInput(f"framework {framework!r}: choose one of {', '.join(FRAMEWORKS)}")
        if task is not None and task not in TASKS:
            raise BadInput(f"task {task!r}: choose one of {', '.join(TASKS)}")
        if name is not None and not name.strip():
            raise BadInput("a model needs a name")
        with self.db.session() as s:
            checkpoint = s.get(Checkpoint, checkpoint_id)
            if checkpoint is None:
                raise BadInput(f"no model with id {checkpoint_id!r} in the library")
            if name is not None:
                checkpoint.name = name.strip()
            if framework is not None:
                checkpoint.framework = framework
            if task is not None:
                checkpoint.task = task
            if model_name is not None:
                if model_name.strip() and (framework or checkpoint.framework) == "timm":
                    check_timm_name(model_name.strip())  # caught when typed, closest names suggested
                checkpoint.model_name = model_name.strip() or None
        return checkpoint

    def remove_checkpoint(self, checkpoint_id: str) -> Checkpoint:
        """Take a model out of the library with its exports (and their deployments); the
        checkpoint file itself stays where it is. A running export must be cancelled first."""
        with self.db.session() as s:
            checkpoint = s.get(Checkpoint, checkpoint_id)
            if checkpoint is None:
                raise BadInput(f"no model with id {checkpoint_id!r} in the library")
        jobs = self.list_jobs(checkpoint_id)
        running = [j for j in jobs if _active(j)]
        if running:
            raise BadInput(f"“{checkpoint.name}” has an export running (v{running[0].version}); "
                           "cancel it first, then remove the model")
        deployments = DeploymentService(self.db)
        for job in jobs:
            for target in deployments.list_deployments(export_id=job.id):
                deployments.delete(target.id)
            self.delete(job.id)
        with self.db.session() as s:
            row = s.get(Checkpoint, checkpoint_id)
            if row is not None:
                s.delete(row)
        return checkpoint

    def checkpoints(self) -> list[Checkpoint]:
        with self.db.session() as s:
            return list(s.scalars(select(Checkpoint).order_by(Checkpoint.created_at)))

    # --- jobs ----------------------------------------------------------------

    def create_job(self, spec: ExportSpec, out_dir: Path | None = None,
                   job_id: str | None = None, cluster_address: str | None = None,
                   queued: bool = False) -> ExportJob:
        """A pending job for a spec; its package goes to out_dir or the data directory.

        ``queued``: the app's queue holds it (status ``queued``, owned by this process) until
        :meth:`dequeue` takes it to start, or :meth:`cancel_queued` settles it.

        ``job_id`` is given when the worker was started before the job was recorded
        (the CLI does that: see ``core.launch``). With ``cluster_address`` the job runs on
        that Ray cluster (:meth:`run_on_cluster`): whether a route exists is the cluster's
        placement check, not this machine's.
        """
        spec = spec.model_copy(update={"checkpoint": spec.checkpoint.expanduser().resolve()})
        files = JobFiles(job_id or launch.new_job_id())
        try:
            checkpoint = self.import_checkpoint(spec.checkpoint, model_name=spec.model_name)
        except SlipwayError:
            # Still a job: the worker reports why, and the failure is on record like any other.
            framework = "unknown" if spec.framework == "auto" else spec.framework
            checkpoint = self._add_checkpoint(spec.checkpoint, framework, None, "unrecognised")
        else:  # an option that cannot be honoured is refused here, before any job exists
            offers.check(spec, checkpoint.framework if spec.framework == "auto" else spec.framework,
                         checkpoint.task if spec.task == "auto" else spec.task,
                         here=cluster_address is None)
        try:
            job = self._insert_job(spec, files, checkpoint, out_dir, cluster_address, queued)
        except SQLAlchemyError as err:
            if job_id is None:  # nothing was started for it: leave no folder behind
                shutil.rmtree(files.folder, ignore_errors=True)
            reason = str(getattr(err, "orig", None) or err).splitlines()[0]
            raise InternalError(f"the export could not be recorded in the database {self.db.path}: "
                                f"{reason}") from None
        if not files.spec.exists():
            write_spec(files, spec)
        return job

    def _insert_job(self, spec: ExportSpec, files: JobFiles, checkpoint: Checkpoint,
                    out_dir: Path | None, cluster_address: str | None = None,
                    queued: bool = False) -> ExportJob:
        with self.db.write_session() as s:  # the next version is read and taken under one write lock
            version = (s.scalar(select(func.max(ExportJob.version))
                                .where(ExportJob.checkpoint_id == checkpoint.id)) or 0) + 1
            job = ExportJob(
                id=files.job_id, checkpoint_id=checkpoint.id, version=version,
                export_format=spec.export_format,
                framework=checkpoint.framework if spec.framework == "auto" else spec.framework,
                task_type=checkpoint.task if spec.task == "auto" else spec.task,
                checkpoint_path=str(spec.checkpoint), spec=spec.model_dump(mode="json"),
                export_config=spec.export_config.model_dump(mode="json"),
                optimization_config=spec.optimization_config.model_dump(mode="json"),
                validation_config=spec.validation_config.model_dump(mode="json"),
                status=JobStatus.QUEUED if queued else JobStatus.PENDING, progress_percent=0.0,
                process_id=os.getpid() if queued else None,
                package_dir=str(package_dir(files, out_dir)), owns_package_dir=out_dir is None,
                log_path=str(files.log), cluster_address=cluster_address,
            )
            s.add(job)
        return job

    def command(self, job: ExportJob) -> list[str]:
        return launch.worker_command(JobFiles(job.id).spec, Path(job.package_dir))

    def get(self, job_id: str) -> ExportJob:
        """A job by id or unambiguous id prefix."""
        if not job_id or any(c not in "0123456789abcdef" for c in job_id):
            raise BadInput(f"{job_id!r} is not an export id (hexadecimal, as `slipway jobs list` shows)")
        with self.db.session() as s:
            matches = list(s.scalars(select(ExportJob).where(ExportJob.id.startswith(job_id))))
        if not matches:
            raise BadInput(f"no export with id {job_id!r}")
        if len(matches) > 1:
            raise BadInput(f"id prefix {job_id!r} matches {len(matches)} exports; give more of it")
        return matches[0]

    def list_jobs(self, checkpoint_id: str | None = None) -> list[ExportJob]:
        query = select(ExportJob).order_by(ExportJob.created_at)
        if checkpoint_id:
            query = query.where(ExportJob.checkpoint_id == checkpoint_id)
        with self.db.session() as s:
            return list(s.scalars(query))

    # --- the app's queue -----------------------------------------------------------

    def dequeue(self, job_id: str) -> bool:
        """Take a queued job out of the queue to start it (``pending`` again). False when it is
        no longer queued: cancelled meanwhile (here or from the CLI), or deleted."""
        return self._from_queue(job_id, status=JobStatus.PENDING)

    def cancel_queued(self, job_id: str, reason: str = "cancelled by the user before it started") -> bool:
        """Record a queued job cancelled with ``reason`` (it never started); False when not queued."""
        return self._from_queue(job_id, status=JobStatus.CANCELLED, error_code="cancelled",
                                error_message=reason, completed_at=utcnow())

    def _from_queue(self, job_id: str, **values: Any) -> bool:
        with self.db.session() as s:  # only while still queued: one of two racing callers wins
            moved = s.execute(update(ExportJob).where(ExportJob.id == job_id, ExportJob.status
                                                      == JobStatus.QUEUED).values(process_id=None, **values))
        return bool(getattr(moved, "rowcount", 0))

    # --- recording a worker's life ---------------------------------------------

    def mark_started(self, job_id: str, pid: int | None) -> None:
        with self.db.session() as s:
            s.execute(update(ExportJob).where(ExportJob.id == job_id).values(
                status=JobStatus.RUNNING, process_id=pid, started_at=utcnow()))

    def record_event(self, job_id: str, event: dict[str, Any]) -> None:
        """Apply one protocol event to the job (progress and stage; results at finish)."""
        if event.get("type") == "progress":
            with self.db.session() as s:
                s.execute(update(ExportJob).where(ExportJob.id == job_id).values(
                    progress_percent=float(event.get("percent", 0.0)), stage=event.get("stage")))

    def finish(self, job_id: str, exit_code: int | None, final: dict[str, Any] | None) -> ExportJob:
        """Record how a worker ended: its final event (or result.json) and exit code."""
        job = self.get(job_id)
        final = final or protocol.read_result(Path(job.package_dir))
        values: dict[str, Any] = {"completed_at": utcnow(), "process_id": None}
        if job_id in self._cancelled or job.status == JobStatus.CANCELLED:
            values.update(status=JobStatus.CANCELLED, error_code="cancelled",
                          error_message="cancelled by the user")
            self._cancelled.discard(job_id)
        elif final and final.get("type") == "result" and exit_code in (0, None):
            values.update(
                status=JobStatus.COMPLETED, progress_percent=100.0, stage="package",
                exported_model_path=final.get("model_path"),
                export_package_path=str(Path(final["package_dir"]) / "export-package.zip"),
                model_size_bytes=final.get("model_size_bytes"),
                optimization_stats=final.get("optimization_stats"),
                validation_metrics=final.get("validation_metrics"),
                parity=final.get("parity"), timings=final.get("timings"),
                error_code=None, error_message=None,
            )
        elif final and final.get("type") == "error":
            values.update(status=JobStatus.FAILED, error_code=final.get("code", "internal"),
                          error_message=str(final.get("message", ""))[:4000],
                          parity=final.get("parity"))
        else:
            how = "was killed" if exit_code is not None and exit_code < 0 else "crashed"
            values.update(
                status=JobStatus.FAILED, error_code="internal",
                error_message=(f"the export worker {how} (exit code {exit_code}) without a result; "
                               f"see the log at {job.log_path}"),
            )
        if values["status"] != JobStatus.COMPLETED:  # a killed worker cannot tidy up itself
            shutil.rmtree(Path(job.package_dir) / protocol.STAGING_DIR, ignore_errors=True)
        with self.db.session() as s:
            s.execute(update(ExportJob).where(ExportJob.id == job_id).values(**values))
        return self.get(job_id)

    # --- running (CLI) -------------------------------------------------------

    def start(self, job_id: str) -> subprocess.Popen[str]:
        """Start the worker of a pending job."""
        job = self.get(job_id)
        process = launch.spawn(self.command(job), JobFiles(job_id).log)
        self.mark_started(job_id, process.pid)
        return process

    def follow(self, job_id: str, process: subprocess.Popen[str],
               on_event: EventCallback | None = None) -> ExportJob:
        """Read a running worker's events to the end and record how it finished."""
        final: dict[str, Any] | None = None
        last_write = 0.0
        try:
            assert process.stdout is not None
            for line in process.stdout:
                event = protocol.decode(line)
                if event["type"] in ("result", "error"):
                    final = event
                now = time.monotonic()
                if event["type"] == "progress" and now - last_write >= PROGRESS_WRITE_INTERVAL_S:
                    self.record_event(job_id, event)
                    last_write = now
                if on_event is not None:
                    on_event(event)
            exit_code = process.wait()
        except KeyboardInterrupt:
            self._cancelled.add(job_id)
            stop_process(process)
            exit_code = process.returncode
        return self.finish(job_id, exit_code, final)

    def run(self, job_id: str, on_event: EventCallback | None = None) -> ExportJob:
        """Run a pending job's worker to completion in a child process."""
        return self.follow(job_id, self.start(job_id), on_event)

    def run_on_cluster(self, job_id: str, cluster: Cluster, needs: Needs,
                       on_event: EventCallback | None = None, submitted: str | None = None) -> ExportJob:
        """Run a pending job's worker on a Ray cluster and record it like a local run.

        The same worker command, its JSON lines streamed from Ray's job log into the
        same bookkeeping; other lines go to the job's log file. This process stands in
        for the worker's pid, so reconcile and cancel from elsewhere see it alive.
        ``submitted``: the Ray submission id when the caller submitted it before recording
        the job (the CLI does, as it starts a local worker first: Ray starts it meanwhile).
        """
        job = self.get(job_id)
        try:
            sid = submitted or cluster.submit(job.id, JobFiles(job.id).spec, Path(job.package_dir), needs)
        except SlipwayError as err:  # refused by the cluster: a failed job, not a pending one forever
            return self.finish(job.id, err.exit_code, err.to_event())
        self.mark_started(job.id, os.getpid())
        final: dict[str, Any] | None = None
        last_write, node = 0.0, None
        try:
            with JobFiles(job.id).log.open("a", encoding="utf-8") as log:
                for line in cluster.lines(sid):
                    if node is None:
                        node = cluster.driver_node(sid)
                        self._record_node(job.id, node)
                    event = protocol.decode(line)
                    if event["type"] in ("result", "error"):
                        final = event
                    elif event["type"] == "log" and not line.lstrip().startswith("{"):
                        log.write(line + "\n")  # the worker's stderr, as a local run's log has it
                    now = time.monotonic()
                    if event["type"] == "progress" and now - last_write >= PROGRESS_WRITE_INTERVAL_S:
                        self.record_event(job.id, event)
                        last_write = now
                    if on_event is not None:
                        on_event(event)
            end = cluster.wait(sid)
        except KeyboardInterrupt:
            self._cancelled.add(job.id)
            cluster.stop(sid)
            end = cluster.wait(sid)
        if node is None:
            self._record_node(job.id, cluster.driver_node(sid, timeout_s=0))
        if end.status == "STOPPED":
            self._cancelled.add(job.id)
        elif end.status == "FAILED" and (final is None or final.get("type") != "error"):
            final = {"type": "error", "code": "internal",
                     "message": f"the cluster job {sid} at {cluster.address} failed: {end.message}"}
        exit_code = 0 if end.status == "SUCCEEDED" else (end.exit_code if end.exit_code is not None else 1)
        return self.finish(job.id, exit_code, final)

    def _record_node(self, job_id: str, node: str | None) -> None:
        if node:
            with self.db.session() as s:
                s.execute(update(ExportJob).where(ExportJob.id == job_id).values(executed_on=node))

    def cancel(self, job_id: str, stop_remote: bool = True) -> None:
        """Stop a running job's worker: terminate, then kill after a grace period. A queued
        job is settled as cancelled (its process is the app that queued it: left alone).

        ``stop_remote=False``: a cluster job's conductor is stopped by the caller (it stops
        the Ray job itself, see ``core.cluster_run``); only the cancellation is recorded."""
        job = self.get(job_id)
        if job.status == JobStatus.QUEUED:
            self.cancel_queued(job_id)
            return
        live = job.status == JobStatus.RUNNING and process_alive(job.process_id)
        # a conductor the caller is stopping itself may not have marked its start yet
        starting = bool(job.cluster_address) and not stop_remote and job.status == JobStatus.PENDING
        if not (live or starting):
            return
        self._cancelled.add(job_id)
        with self.db.session() as s:  # visible to whichever process is running the worker
            s.execute(update(ExportJob).where(ExportJob.id == job_id).values(
                status=JobStatus.CANCELLED))
        if job.cluster_address:  # the process is the one following it here; the worker is remote
            if not stop_remote:
                return
            from core.cluster import connect, submission_id

            connect(job.cluster_address).stop(submission_id(job.id))
            return
        assert job.process_id is not None
        stop_pid(job.process_id)

    # --- housekeeping --------------------------------------------------------

    def reconcile(self, exclude: Collection[str] = ()) -> list[str]:
        """Settle jobs a dead process left running: result.json decides their end; a queued
        job whose app is gone is cancelled with the reason (it never started).

        A job whose worker is still alive (one that outlived the app that started it) stays
        ``running``; calling this again after it ended settles it. ``exclude``: jobs whose
        workers the caller follows itself."""
        with self.db.session() as s:
            stale = list(s.scalars(select(ExportJob).where(
                ExportJob.status.in_([JobStatus.RUNNING, JobStatus.PENDING, JobStatus.QUEUED])
                | ((ExportJob.status == JobStatus.CANCELLED) & ExportJob.completed_at.is_(None)))))
        settled = []
        for job in stale:
            if job.id in exclude:
                continue
            if job.status == JobStatus.QUEUED:
                if not process_alive(job.process_id) and self.cancel_queued(job.id, QUEUED_ORPHANED):
                    settled.append(job.id)
                continue
            if job.status == JobStatus.CANCELLED:  # cancelled by a process that did not follow it
                if not process_alive(job.process_id):
                    self.finish(job.id, None, None)
                    settled.append(job.id)
                continue
            if job.status == JobStatus.PENDING and job.process_id is None:
                continue  # created, never started: still a valid pending job
            if process_alive(job.process_id):
                continue
            final = protocol.read_result(Path(job.package_dir))
            if final is None:
                final = {"type": "error", "code": "internal",
                         "message": "the export was interrupted: its process ended without a "
                                    "result (the app closed or crashed)"}
            code = 0 if final.get("type") == "result" else EXIT_CODES.get(final.get("code", ""), 1)
            self.finish(job.id, code, final)
            settled.append(job.id)
        return settled

    def set_default(self, job_id: str) -> ExportJob:
        job = self.get(job_id)
        if job.status != JobStatus.COMPLETED:
            raise BadInput(f"export {job.id[:8]} is {job.status}; only a completed export can be "
                           "the default")
        with self.db.session() as s:
            s.execute(update(ExportJob).where(ExportJob.checkpoint_id == job.checkpoint_id)
                      .values(is_default=False))
            s.execute(update(ExportJob).where(ExportJob.id == job.id).values(is_default=True))
        return self.get(job.id)

    def tag(self, job_id: str, tag: str) -> ExportJob:
        tag = tag.strip()
        if not tag or len(tag) > 100:
            raise BadInput("a tag needs 1 to 100 characters")
        job = self.get(job_id)
        with self.db.session() as s:
            s.execute(update(ExportJob).where(ExportJob.id == job.id).values(version_tag=tag))
        return self.get(job.id)

    def delete(self, job_id: str) -> None:
        """Delete an export and its files; a running export must be cancelled first."""
        job = self.get(job_id)
        if _active(job):
            raise BadInput(f"export {job.id[:8]} is still {job.status}; cancel it first")
        DeploymentService(self.db).purge_export(job.id)  # refuses while a deployment is live
        package = Path(job.package_dir)
        if package.is_dir() and (job.owns_package_dir or _is_slipway_package(package)):
            shutil.rmtree(package)
        shutil.rmtree(JobFiles(job.id).folder, ignore_errors=True)
        with self.db.session() as s:
            row = s.get(ExportJob, job.id)
            if row is not None:
                s.delete(row)


def _active(job: ExportJob) -> bool:
    """Running, or queued in an open app: its process is alive."""
    return job.status in (JobStatus.RUNNING, JobStatus.QUEUED) and process_alive(job.process_id)


def _is_slipway_package(folder: Path) -> bool:
    """Only delete a user-chosen folder when it holds nothing but what the worker wrote."""
    ours = {"model.onnx", "model.torchscript", "metadata.json", "labels.txt", "README.md",
            "runtimes", "export.log", "export-package.zip", "result.json", "parity_report.json",
            "validation_results.json", "report.json", "report.png", protocol.STAGING_DIR}
    return all(p.name in ours or p.name.startswith("model") for p in folder.iterdir())
