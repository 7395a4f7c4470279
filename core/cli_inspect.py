"""`slipway inspect EXPORT_ID`: an export compared with its original layer by layer;
`slipway describe EXPORT_ID|CHECKPOINT`: what a model is made of (exporters/facts.py)."""

from __future__ import annotations

import argparse
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.errors import ERRORS_BY_CODE, BadInput, InternalError

Handler = Callable[[argparse.Namespace], int]
WORST = 10  # layers listed, most divergent first


def register(sub: Any) -> dict[str, Handler]:
    inspect = sub.add_parser(
        "inspect", help="compare an export with its original layer by layer (ONNX, OpenVINO, TFLite)",
        description="Run the original model and the export side by side on the parity gate's images "
                    "and compare every layer the exported graph names (max abs and relative error, "
                    "cosine, SNR); name the first layer past the precision's tolerance.")
    inspect.add_argument("id", metavar="EXPORT_ID", help="a completed export (`slipway jobs list`)")
    inspect.add_argument("--images", type=int, default=4, help="how many of the gate's images (default 4)")
    inspect.add_argument("--json", action="store_true", help="print the whole report as JSON")
    describe = sub.add_parser(
        "describe", help="an export's or a checkpoint's inputs, outputs, ops, parameters and versions",
        description="Read the model in a child process: inputs and outputs with shapes and dtypes, op "
                    "counts by type, parameters by layer type, the opset and the library versions.")
    describe.add_argument("target", metavar="EXPORT_ID|CHECKPOINT",
                          help="a completed export (`slipway jobs list`) or a checkpoint file/folder")
    describe.add_argument("--model-name", help="timm architecture of a bare state dict (checkpoint only)")
    describe.add_argument("--json", action="store_true", help="print the facts as JSON")
    return {"inspect": cmd_inspect, "describe": cmd_describe}


def cmd_describe(args: argparse.Namespace) -> int:
    from core.launch import facts_command

    if Path(args.target).exists():
        command = facts_command(checkpoint=Path(args.target), model_name=args.model_name)
    else:
        from core.jobs import JobService

        command = facts_command(package=Path(JobService().get(args.target).package_dir))
    answer = _last_json(subprocess.run(command, capture_output=True, text=True, env=_env(), check=False))
    print(json.dumps(answer) if args.json else render_facts(answer))
    return 0


def _env() -> dict[str, str]:
    from core.launch import worker_environment

    return worker_environment()


def _last_json(run: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The child's answer (its last stdout line); its error raised as the CLI's own."""
    lines = run.stdout.strip().splitlines()
    answer = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else None
    if answer is None:
        raise InternalError(f"the child process ended (exit {run.returncode}) without an answer: "
                            + " ".join(run.stderr.strip().splitlines()[-2:]))
    if "error" in answer:
        raise ERRORS_BY_CODE.get(answer.get("code", ""), InternalError)(answer["error"])
    return dict(answer)


def render_facts(facts: dict[str, Any]) -> str:
    """exporters/facts.py's answer as a person reads it."""
    def tensor(t: dict[str, Any]) -> str:
        return f"  {t['name']}: {t['dtype']} {t['shape']}"

    params = facts["parameters"]
    lines = [f"{facts['subject']} ({facts['format']}): {facts['file']}", "inputs:",
             *map(tensor, facts["inputs"]), "outputs:", *map(tensor, facts["outputs"]),
             f"ops: {facts['op_count']} in {len(facts['ops'])} types",
             *(f"  {kind:<28} {count:>6}" for kind, count in facts["ops"].items()),
             f"parameters: {params['total']:,} ({params['bytes'] / 1e6:.2f} MB)",
             *(f"  {row['type']:<28} {row['layers']:>5} layers {row['parameters']:>12,} "
               f"{row['bytes'] / 1e6:>9.3f} MB" for row in params["by_layer_type"])]
    if facts.get("opset"):
        lines.append("opset: " + ", ".join(f"{k} {v}" for k, v in facts["opset"].items()))
    lines.append("versions: " + ", ".join(f"{k} {v}" for k, v in facts["versions"].items()))
    lines += facts.get("notes", [])
    return "\n".join(lines)


def cmd_inspect(args: argparse.Namespace) -> int:
    from core.db.models import JobStatus
    from core.jobs import JobService
    from core.launch import JobFiles, inspect_command, worker_environment

    job = JobService().get(args.id)
    package = Path(job.package_dir)
    model_file = Path(job.exported_model_path or package / "-")
    if job.status != JobStatus.COMPLETED or not model_file.is_file():
        raise BadInput(f"export {job.id[:8]} is {job.status} with no model file to compare; a failed gate's "
                       "parity_report.json has its per-layer comparison already")
    run = subprocess.run(inspect_command(JobFiles(job.id).spec, package, max(1, args.images)),
                         capture_output=True, text=True, env=worker_environment(), check=False)
    answer = _last_json(run)
    print(json.dumps(answer) if args.json else render(answer))
    return 0


def render(report: dict[str, Any]) -> str:
    """The report as a person reads it: the verdict, then the worst layers."""
    if report.get("status") == "no_match":
        return str(report["reason"])
    first = report.get("first_divergent")
    lines = [f"{report['matched']} layers compared on {report['images']} images "
             f"({report['unmatched']} modules without a tensor of their own), {report['seconds']} s"]
    if first:
        folded = f", with {', '.join(first['folded'])} folded in" if first["folded"] else ""
        lines.append(f"first divergent layer: {first['module']} ({first['type']}{folded}): max abs diff "
                     f"{first['max_abs_diff']:.3g} > tolerance {first['tolerance']:.3g}")
    elif report["tolerance"]["atol"] is None:
        lines.append("no tolerance at this precision; most sensitive layers: "
                     + ", ".join(report.get("most_sensitive", [])))
    else:
        lines.append("every compared layer is within the precision's tolerance")
    worst = sorted(report["layers"], key=lambda r: r["max_rel_diff"], reverse=True)[:WORST]
    lines.append(f"{'layer':<40} {'type':<18} {'max abs':>10} {'max rel':>10} {'cosine':>9} {'SNR dB':>8}")
    for row in worst:
        snr = "inf" if row["snr_db"] is None else f"{row['snr_db']:.1f}"
        lines.append(f"{row['module'][:40]:<40} {row['type'][:18]:<18} {row['max_abs_diff']:>10.3g} "
                     f"{row['max_rel_diff']:>10.3g} {row['cosine']:>9.6f} {snr:>8}")
    return "\n".join(lines)
