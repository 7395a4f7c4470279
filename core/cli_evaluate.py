"""`slipway evaluate EXPORT FOLDER`: an export (or its original) over a labelled folder.

It runs the app's Evaluate child (``exporters.evaluate_process``), so the numbers are the
Evaluate view's: progress on stderr, then the metrics (or the whole report with --json).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.errors import ERRORS_BY_CODE, BadInput, InternalError

Handler = Callable[[argparse.Namespace], int]


def register(sub: Any) -> dict[str, Handler]:
    evaluate = sub.add_parser(
        "evaluate", help="an export's metrics on a labelled folder (mAP or top-1/top-5, confusion matrix)",
        description="Run an export through its package's wrapper (or its original checkpoint) over a "
                    "labelled folder: a YOLO dataset (data.yaml, or images/ and labels/) for detectors, "
                    "an ImageFolder tree for classifiers.")
    evaluate.add_argument("model", metavar="EXPORT",
                          help="an export id (`slipway jobs list`) or a package folder")
    evaluate.add_argument("folder", type=Path, help="the labelled data")
    evaluate.add_argument("--original", action="store_true", help="run the export's original checkpoint")
    evaluate.add_argument("--limit", type=int, help="at most this many images, evenly spaced")
    evaluate.add_argument("--json", action="store_true", help="print the whole report as JSON")
    return {"evaluate": cmd_evaluate}


def resolve(model: str, original: bool) -> tuple[Path, Path | None]:
    """(package folder, the export's spec when its original runs) for an export id or a package."""
    folder = Path(model).expanduser()
    if (folder / "metadata.json").is_file():
        if original:
            raise BadInput("--original needs an export id (its spec names the checkpoint), "
                           "not a package folder")
        return folder, None
    from core.db.models import JobStatus
    from core.jobs import JobService
    from core.launch import JobFiles

    job = JobService().get(model)
    if job.status != JobStatus.COMPLETED:
        raise BadInput(f"export {job.id[:8]} is {job.status}: only a completed export can be evaluated")
    return Path(job.package_dir), JobFiles(job.id).spec if original else None


def cmd_evaluate(args: argparse.Namespace) -> int:
    from core.launch import evaluate_command, worker_environment

    package, spec = resolve(args.model, args.original)
    with tempfile.TemporaryDirectory(prefix="slipway-evaluate-") as scratch:
        out = Path(scratch) / "report.json"
        command = ["evaluate", "--package", str(package), "--data", str(args.folder), "--out", str(out)]
        command += ["--original", str(spec)] if spec else []
        command += ["--limit", str(args.limit)] if args.limit else []
        child = subprocess.Popen(evaluate_command(*command), stdout=subprocess.PIPE, text=True,
                                 env=worker_environment())
        assert child.stdout is not None
        last: dict[str, Any] = {}
        for line in child.stdout:
            if not line.startswith("{"):
                continue
            last = json.loads(line)
            if last.get("type") == "progress":
                sys.stderr.write(f"\rimage {last['done']}/{last['total']}")
                sys.stderr.flush()
        child.wait()
        sys.stderr.write("\n")
        if last.get("type") == "error":
            raise ERRORS_BY_CODE.get(str(last.get("code")), InternalError)(str(last.get("message")))
        if last.get("type") != "done" or not out.is_file():
            raise InternalError(f"the evaluation process ended (exit {child.returncode}) without a report")
        report = json.loads(out.read_text(encoding="utf-8"))
    print(json.dumps(report) if args.json else render(report))
    return 0


def render(report: dict[str, Any]) -> str:
    m, data = report["metrics"], report["dataset"]
    lines = [f"{data['images']} images of {data['path']} ({data['format']})"]
    if report["task"] == "classify":
        lines.append(f"top-1 {m['top1']:.4f}  top-5 {m['top5']:.4f}")
    else:
        lines.append(f"mAP50 {m['mAP50']:.4f}  mAP50-95 {m['mAP50-95']:.4f}  precision {m['precision']:.4f}  "
                     f"recall {m['recall']:.4f}")
    labels, matrix = report["confusion"]["labels"], report["confusion"]["matrix"]
    width = max(6, *(len(label) + 1 for label in labels))
    lines.append("confusion matrix (rows: true, columns: predicted)")
    lines.append(" " * width + "".join(f"{label[:width - 1]:>{width}}" for label in labels))
    for label, row in zip(labels, matrix, strict=True):
        lines.append(f"{label[:width - 1]:<{width}}" + "".join(f"{count:>{width}}" for count in row))
    lines.append("worst images:")
    lines += [f"  {w['image']}  true: {w['truth']}  got: {w['predicted']}" for w in report["worst"][:10]]
    return "\n".join(lines)
