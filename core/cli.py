"""``slipway``: the command line, driving the same engine as the desktop app.

    slipway                              open the app (gui.launcher routes it)
    slipway export CKPT --format F ...   export, with progress on stderr
    slipway export --spec SPEC.json      the same from a spec file
    slipway capabilities [--framework F] [--json]
    slipway jobs list|show ID|delete ID|set-default ID|tag ID TAG
    slipway predict PACKAGE_DIR IMAGE... [--conf X] [--iou X] [--json]
    slipway predict PACKAGE_DIR FOLDER... --out PREDICTIONS.csv|.json
    slipway evaluate EXPORT_ID|PACKAGE_DIR FOLDER [--original] [--json]
    slipway keys list|create|revoke|rotate DEPLOYMENT [KEY] [--tier T] [--name N] [--json]
    slipway benchmark CKPT [--formats F...] [--precisions P...] [--calib DIR] [--validate DATA] --out DIR

Exit codes: 0 done, 1 internal error, 2 bad input, 3 unsupported,
4 validation failed, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core import cli_deployments, cli_evaluate, cli_inspect, cli_k8s, cli_keys, cli_serve, flags, offers
from core.errors import BadInput, SlipwayError
from core.spec import FORMATS, FRAMEWORKS, TASKS, ExportSpec, load_spec, parse_spec


def _export_parser(sub: Any) -> None:
    p = sub.add_parser("export", help="export a checkpoint", description="Export a checkpoint.")
    p.add_argument("checkpoint", nargs="?", type=Path, help=".pt/.pth/.safetensors or HF directory")
    p.add_argument("--spec", type=Path, help="a spec JSON file instead of flags")
    p.add_argument("--format", dest="export_format", choices=FORMATS)
    p.add_argument("--framework", choices=("auto", *FRAMEWORKS), default="auto")
    p.add_argument("--model-name", help="timm architecture of a bare state dict")
    p.add_argument("--task", choices=("auto", *TASKS), default="auto")
    p.add_argument("--imgsz", type=int, help="input size (square)")
    p.add_argument("--batch", type=int, default=1)
    flags.add_arguments(p.add_argument_group("format settings (each names the formats it applies to)"),
                        FORMAT_FLAGS)
    p.add_argument("--half", action="store_true", help="FP16 (quantization method fp16)")
    p.add_argument("--int8", choices=("dynamic", "static"), help="INT8 quantization")
    flags.add_arguments(p.add_argument_group("quantization settings"), QUANTIZATION_FLAGS)
    p.add_argument("--prune", metavar="METHOD:SPARSITY",
                   help="structured:0.5 or unstructured:0.5 (timm and Hugging Face models)")
    p.add_argument("--prune-iterative", type=int, metavar="STEPS", help="reach the sparsity in steps")
    p.add_argument("--fine-tune", type=Path, metavar="DATA",
                   help="ImageFolder for a short recovery fine-tune after pruning (classifiers)")
    p.add_argument("--fine-tune-epochs", type=int, help="epochs of the recovery fine-tune (default 1)")
    flags.add_arguments(p.add_argument_group("optimization goal"), OPTIMIZATION_FLAGS)
    p.add_argument("--validate", type=Path, metavar="DATA",
                   help="labeled data (YOLO data.yaml or folder, ImageFolder) to validate the export on")
    p.add_argument("--max-drop", type=float, help="fail past this accuracy drop (default 0.02)")
    p.add_argument("--labels", type=Path, help="a text file with one class name per line")
    p.add_argument("--parity-images", type=Path, help="folder of images for the parity gate")
    p.add_argument("--atol", type=float, help="parity: absolute tolerance on raw outputs")
    p.add_argument("--rtol", type=float, help="parity: relative tolerance on raw outputs")
    p.add_argument("--out", type=Path, help="package folder (default: the Slipway data directory)")
    p.add_argument("--upload", metavar="s3://BUCKET/PREFIX",
                   help="after the export, store the package under PREFIX/exports/<export-id>/")
    _cluster_arguments(p)
    p.add_argument("--json", action="store_true", help="print the result as one JSON line")


def _cluster_arguments(p: Any) -> None:
    p.add_argument("--cluster", metavar="ADDRESS",
                   help="run on a Ray cluster: its Jobs API address, e.g. http://HOST:8265 "
                        "(default: $SLIPWAY_CLUSTER; 'local' for this machine). Its nodes must "
                        "share this machine's file system")
    p.add_argument("--cluster-resource", action="append", default=[], metavar="NAME=AMOUNT",
                   help="a Ray resource the node running it must offer (repeatable)")


def _cluster_resources(values: list[str]) -> dict[str, float]:
    resources: dict[str, float] = {}
    for value in values:
        name, _, amount = value.partition("=")
        try:
            resources[name.strip()] = float(amount or 1)
        except ValueError:
            raise BadInput(f"--cluster-resource {value!r}: write NAME=AMOUNT, e.g. gpu_node=1") from None
        if not name.strip():
            raise BadInput(f"--cluster-resource {value!r}: the resource needs a name")
    return resources


def spec_from_args(args: argparse.Namespace) -> ExportSpec:
    """CLI flags → the same validated ExportSpec a spec file gives."""
    if args.spec:
        if args.checkpoint or args.export_format:
            raise BadInput("give either --spec or a checkpoint with --format, not both")
        return load_spec(args.spec)
    if args.checkpoint is None or args.export_format is None:
        raise BadInput("slipway export needs a CHECKPOINT and --format (or --spec FILE)")
    export_config = _format_options(args)
    data: dict[str, Any] = {
        "checkpoint": str(args.checkpoint),
        "export_format": args.export_format,
        "framework": args.framework,
        "task": args.task,
        "batch_size": args.batch,
        "export_config": export_config,
    }
    if args.model_name:
        data["model_name"] = args.model_name
    if args.imgsz:
        data["input_size"] = args.imgsz
    if args.labels:
        data["class_names"] = _read_labels(args.labels)
    optimization = _optimization_options(args)
    if optimization:
        data["optimization_config"] = optimization
    if args.validate or args.max_drop is not None:
        if not args.validate:
            raise BadInput("--max-drop applies with --validate DATA")
        validation: dict[str, Any] = {"enabled": True, "data": str(args.validate)}
        if args.max_drop is not None:
            validation["fail_threshold"] = {"accuracy_drop_max": args.max_drop}
        data["validation_config"] = validation
    parity = {k: v for k, v in (("images", args.parity_images and str(args.parity_images)),
                                ("atol", args.atol), ("rtol", args.rtol)) if v is not None}
    if parity:
        data["parity"] = parity
    return parse_spec(data)


# the flags generated from the spec's models (core/flags.py)
FORMAT_FLAGS = flags.format_flags()
QUANTIZATION_FLAGS = flags.quantization_flags()
OPTIMIZATION_FLAGS = flags.optimization_flags()


def _format_options(args: argparse.Namespace) -> dict[str, Any]:
    """The format flags given → export_config; a flag of another format is an error."""
    return flags.values_for(args, FORMAT_FLAGS, args.export_format, f"--format {args.export_format}")


def _optimization_options(args: argparse.Namespace) -> dict[str, Any]:
    if args.half and args.int8:
        raise BadInput("--half and --int8 are two different precisions: choose one")
    tuning = flags.values_for(args, QUANTIZATION_FLAGS, "quantization")
    if tuning and not (args.half or args.int8):
        given = ", ".join(f.flag for f in QUANTIZATION_FLAGS.values()
                          if getattr(args, f.dest, None) is not None)
        raise BadInput(f"{given} tune quantization: add --int8 static|dynamic or --half")
    options: dict[str, Any] = {}
    if args.half or args.int8:
        options["quantization"] = {"method": "fp16" if args.half else args.int8, **tuning}
    if args.prune:
        options["pruning"] = _pruning(args)
    elif args.prune_iterative or args.fine_tune:
        raise BadInput("--prune-iterative and --fine-tune apply with --prune METHOD:SPARSITY")
    return {**options, **flags.values_for(args, OPTIMIZATION_FLAGS, "optimization")}


def _pruning(args: argparse.Namespace) -> dict[str, Any]:
    method, _, sparsity = str(args.prune).partition(":")
    if method not in ("structured", "unstructured"):
        raise BadInput(f"--prune {args.prune}: the method is structured or unstructured, e.g. structured:0.5")
    try:
        share = float(sparsity or 0.5)
    except ValueError:
        raise BadInput(f"--prune {args.prune}: the sparsity after ':' must be a number, e.g. 0.5") from None
    pruning: dict[str, Any] = {"method": method, "sparsity": share}
    if args.prune_iterative:
        pruning.update(pruning_schedule="iterative", steps=args.prune_iterative)
    if args.fine_tune:
        pruning["fine_tune_data"] = str(args.fine_tune)
    if args.fine_tune_epochs:
        pruning["fine_tune_epochs"] = args.fine_tune_epochs
    return pruning


def _read_labels(path: Path) -> list[str]:
    try:
        names = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    except OSError as err:
        raise BadInput(f"--labels {path}: {err.strerror or err}") from None
    if not names:
        raise BadInput(f"--labels {path} lists no class names")
    return names


class ProgressBar:
    """A one-line progress bar on stderr; plain lines when stderr is not a terminal."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._stage: str | None = None

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind == "progress":
            percent, stage = float(event["percent"]), event.get("stage", "")
            if self.tty:
                filled = int(percent / 100 * 30)
                line = f"\r[{'#' * filled}{'.' * (30 - filled)}] {percent:5.1f}% {stage}: "
                self.stream.write((line + str(event.get("message", "")))[:100].ljust(100))
            elif stage != self._stage:
                self.stream.write(f"{percent:5.1f}% {stage}: {event.get('message', '')}\n")
            self._stage = stage
        elif kind == "log" and (event.get("level") in ("warning", "error")
                                or "parity" in event.get("message", "")):
            self.stream.write(("\n" if self.tty else "") + f"{event['message']}\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def cmd_export(args: argparse.Namespace) -> int:
    from core import launch
    from core.advice import optimization_warnings

    cluster: Any = None
    try:
        from core.cluster import preflight, resolve_address

        spec = spec_from_args(args)
        address = resolve_address(args.cluster)
        # every option honoured, or refused here: before any job exists
        offers.check_spec(spec, here=address is None)
        if args.upload:
            from core.storage import parse_s3_url

            parse_s3_url(args.upload)  # a malformed location fails before the export, not after
        if address is not None:  # unreachable (exit 2) or no node for its needs (exit 3): no job row
            cluster, needs = preflight(address, spec.export_format, _cluster_resources(args.cluster_resource))
    except SlipwayError as err:
        if args.json:  # scripts get their one JSON line, with no export behind it
            print(json.dumps({**err.to_event(), "export_id": None, "status": "refused"}, default=str))
        raise
    for warning in optimization_warnings(spec):
        print(f"warning: {warning}", file=sys.stderr)
    bar = ProgressBar()
    final: dict[str, Any] = {}

    def on_event(event: dict[str, Any]) -> None:
        if event["type"] in ("result", "error"):
            final.update(event)
        elif not args.json or sys.stderr.isatty():
            bar(event)

    files = launch.JobFiles(launch.new_job_id())
    if cluster is not None:
        from core.cluster_run import submit_and_record

        try:
            job = submit_and_record(spec, files, args.out, cluster, needs, on_event)
        except SlipwayError as err:  # the cluster refused it, or the job could not be recorded: no job
            if args.json:
                print(json.dumps({**err.to_event(), "export_id": None, "status": "refused"}, default=str))
            raise
        if not args.json:
            print(f"ran on {job.executed_on or 'an unknown node'} of {cluster.address}", file=sys.stderr)
        return _export_ended(args, job, final, bar)
    # Start the worker first: it spends a second or more importing torch, time enough
    # to open the database and record the job without adding to the export's wall time.
    command = launch.worker_command(launch.write_spec(files, spec), launch.package_dir(files, args.out))
    process = launch.spawn(command, files.log)
    try:
        from core.jobs import JobService

        service = JobService()
        job = service.create_job(spec, out_dir=args.out, job_id=files.job_id)
        service.mark_started(job.id, process.pid)
    except BaseException:
        launch.stop_process(process)
        launch.discard_files(files, args.out)  # no job was recorded: no folder is left behind
        raise
    return _export_ended(args, service.follow(job.id, process, on_event=on_event), final, bar)


def _export_ended(args: argparse.Namespace, job: Any, final: dict[str, Any], bar: ProgressBar) -> int:
    """Upload, print and choose the exit status of a finished export (local or on a cluster)."""
    bar.close()
    if args.upload and job.status == "completed":
        from core.packaging import upload_export

        final["upload"] = upload_export(job.id, Path(str(job.package_dir)), args.upload)
        if not args.json:
            print(f"uploaded to {final['upload']['storage_url']}", file=sys.stderr)
    if job.cluster_address:
        final.update(cluster=job.cluster_address, executed_on=job.executed_on)
    if args.json:
        print(json.dumps({**final, "export_id": job.id, "status": job.status}, default=str))
    if job.status == "completed":
        if not args.json:
            if final.get("timings"):
                stages = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in final["timings"].items())
                print(f"time per stage: {stages}", file=sys.stderr)
            print(f"export {job.id} (v{job.version}) → {job.package_dir}")
        return 0
    if job.status == "cancelled":
        sys.stderr.write("export cancelled\n")
        return 130
    sys.stderr.write(f"error: {job.error_message}\n")
    from core.errors import EXIT_CODES

    return EXIT_CODES.get(job.error_code or "internal", 1)


def cmd_capabilities(args: argparse.Namespace) -> int:
    from core.registry import capabilities

    if args.framework and args.framework not in FRAMEWORKS:
        raise BadInput(f"--framework must be one of {', '.join(FRAMEWORKS)}")
    matrix = capabilities(args.framework)
    if args.json:
        print(json.dumps(matrix, indent=2))
        return 0
    print(f"{'framework':<12} " + " ".join(f"{f:<14}" for f in FORMATS))
    notes: list[str] = []
    for fw, formats in matrix.items():
        cells = []
        for fmt in FORMATS:
            entry = formats[fmt]
            mark = "yes" if entry["supported"] else "no"
            cells.append(f"{mark + ' ' + str(entry['quality']):<14}")
            if not entry["supported"]:
                install = f" ({entry['install']})" if "install" in entry else ""
                notes.append(f"  {fw} → {fmt}: {entry['reason']}{install}")
            elif fmt == "coreml":
                notes.append(f"  {fw} → {fmt}: {entry['verification']}")
        print(f"{fw:<12} " + " ".join(cells))
    if notes:
        print("\n" + "\n".join(notes))
    return 0


def cmd_jobs(args: argparse.Namespace) -> int:
    from core.job_summary import job_summary
    from core.jobs import JobService

    service = JobService()
    if args.action == "list":
        jobs = service.list_jobs()
        if args.json:
            print(json.dumps([job_summary(j) for j in jobs], indent=2))
            return 0
        print(f"{'id':<10}{'ver':<5}{'format':<13}{'status':<11}{'default':<9}{'tag':<12}checkpoint")
        for j in jobs:
            print(f"{j.id[:8]:<10}{'v' + str(j.version):<5}{j.export_format:<13}{j.status:<11}"
                  f"{'*' if j.is_default else '':<9}{j.version_tag or '':<12}{Path(j.checkpoint_path).name}")
        return 0
    if args.id is None:
        raise BadInput(f"slipway jobs {args.action} needs an export ID")
    if args.action == "show":
        print(json.dumps(job_summary(service.get(args.id)), indent=2))
    elif args.action == "delete":
        job = service.get(args.id)
        service.delete(job.id)
        print(f"deleted export {job.id[:8]} and its files")
    elif args.action == "set-default":
        job = service.set_default(args.id)
        print(f"export {job.id[:8]} (v{job.version}) is now the default")
    elif args.action == "tag":
        if not args.tag:
            raise BadInput("slipway jobs tag needs an ID and a TAG")
        job = service.tag(args.id, args.tag)
        print(f"export {job.id[:8]} tagged '{job.version_tag}'")
    elif args.action == "cancel":
        service.cancel(args.id)
        print(f"cancel requested for {args.id}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from core.inference import open_package

    model = open_package(args.package)
    if args.out is not None:  # a batch: every image of the folders given, one file (core.evaluation)
        from core import evaluation

        images = evaluation.image_files(args.images)
        rows = evaluation.predict_images(model, images, args.conf, args.iou)
        evaluation.write_predictions(rows, str(model.metadata["model_info"]["task"]), args.out)
        print(f"{len(rows)} images, {sum(len(r['predictions']) for r in rows)} predictions: {args.out}")
        return 0
    for image in args.images:
        if not Path(image).is_file():
            raise BadInput(f"no such image: {image}")
        try:
            predictions = model.predict(str(image), conf=args.conf, iou=args.iou)
        except ValueError as err:
            raise BadInput(str(err)) from None
        if args.json:
            print(json.dumps({"image": str(image), "predictions": predictions}))
            continue
        print(f"{image}:")
        for p in predictions:
            box = " ".join(f"{v:.1f}" for v in p["bbox"]) if "bbox" in p else ""
            print(f"  {p['class_name']:<16} {p['confidence']:.3f}  {box}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="slipway", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command")
    _export_parser(sub)
    caps = sub.add_parser("capabilities", help="the framework × format matrix on this machine")
    caps.add_argument("--framework")
    caps.add_argument("--json", action="store_true")
    jobs = sub.add_parser("jobs", help="list and manage exports")
    jobs.add_argument("action", choices=("list", "show", "delete", "set-default", "tag", "cancel"))
    jobs.add_argument("id", nargs="?")
    jobs.add_argument("tag", nargs="?")
    jobs.add_argument("--json", action="store_true")
    predict = sub.add_parser("predict", help="run a package's Python wrapper on images (folders with --out)")
    predict.add_argument("package", type=Path)
    predict.add_argument("images", nargs="+", type=Path)
    predict.add_argument("--conf", type=float)
    predict.add_argument("--iou", type=float)
    predict.add_argument("--json", action="store_true")
    predict.add_argument("--out", type=Path, help="write every image's predictions (folders too) to a "
                         ".csv or .json file: a CSV row per image or detection")
    bench = sub.add_parser("benchmark", help="export formats x precisions and report size, speed, accuracy")
    bench.add_argument("checkpoint", type=Path)
    bench.add_argument("--model-name", help="timm architecture of a bare state dict")
    bench.add_argument("--formats", nargs="+", choices=FORMATS, default=["onnx", "openvino"])
    bench.add_argument("--precisions", nargs="+", default=["fp32", "fp16", "int8"],
                       help="fp32 fp16 int8 int8-dynamic")
    bench.add_argument("--calib", type=Path, help="calibration images for int8")
    bench.add_argument("--validate", type=Path, metavar="DATA", help="labeled data: adds metric and drop")
    bench.add_argument("--max-drop", type=float)
    bench.add_argument("--out", type=Path, required=True, help="folder for the packages and the report")
    bench.add_argument("--json", action="store_true")
    _cluster_arguments(bench)
    for register in EXTENSIONS:
        COMMANDS.update(register(sub))
    return parser


def _interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt  # SIGTERM as Ctrl-C: the running export's worker is stopped too


def cmd_benchmark(args: argparse.Namespace) -> int:
    import signal

    from core.benchmark import run_benchmark

    signal.signal(signal.SIGTERM, _interrupt)  # the app's Cancel

    report = run_benchmark(
        args.checkpoint, args.formats, args.precisions, args.out, model_name=args.model_name,
        calib=args.calib, validate=args.validate, max_drop=args.max_drop,
        progress=lambda message: print(message, file=sys.stderr),
        cluster=args.cluster, cluster_resources=_cluster_resources(args.cluster_resource),
    )
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"{'variant':<22}{'status':<12}{'MB':>8}{'p50 ms':>9}{'p95 ms':>9}{'speed':>8}"
          f"{'metric':>10}{'drop':>9}")
    def cell(row: dict[str, Any], key: str, width: int, fmt: str = ".3g") -> str:
        value = row.get(key)
        return f"{format(value, fmt) if value is not None else '-':>{width}}"

    for row in report["rows"]:
        print(f"{row['variant']:<22}{row['status']:<12}{cell(row, 'size_mb', 8)}"
              f"{cell(row, 'latency_ms_p50', 9)}{cell(row, 'latency_ms_p95', 9)}"
              f"{cell(row, 'speed_vs_first', 8)}{cell(row, 'metric_value', 10, '.4f')}"
              f"{cell(row, 'accuracy_drop', 9, '.4f')}")
        if row.get("reason"):
            print(f"    {str(row['reason']).splitlines()[0][:150]}")
    print(f"report: {args.out / 'report.json'}, {args.out / 'report.png'}")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "export": cmd_export, "capabilities": cmd_capabilities, "jobs": cmd_jobs, "predict": cmd_predict,
    "benchmark": cmd_benchmark,
}


# Command groups kept in modules of their own; each registers its subparsers and handlers.
EXTENSIONS = (cli_deployments.register, cli_keys.register, cli_serve.register, cli_inspect.register,
              cli_k8s.register, cli_evaluate.register)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return COMMANDS[args.command](args)
    except SlipwayError as err:
        sys.stderr.write(f"error: {err.message}\n")
        return err.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
