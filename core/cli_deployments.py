"""`slipway deployments ...` (list, show, activate, deactivate, delete, history) and `slipway package`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

Handler = Callable[[argparse.Namespace], int]


def register(sub: Any) -> dict[str, Handler]:
    deployments = sub.add_parser("deployments", help="list and manage deployments of exports")
    deployments.add_argument("action", choices=("list", "show", "activate", "deactivate", "delete",
                                                "history"))
    deployments.add_argument("id", nargs="?")
    deployments.add_argument("--all", action="store_true", help="list: include deleted deployments")
    deployments.add_argument("--json", action="store_true")
    pack = sub.add_parser("package", help="build a download, edge or container package of an export")
    pack.add_argument("source", metavar="EXPORT_ID|PACKAGE_DIR",
                      help="an export id (records a deployment), a package folder or its zip")
    pack.add_argument("--type", dest="package_type", required=True, choices=package_type_names(),
                      help=package_type_help())
    pack.add_argument("--out", type=Path, help="new or empty folder (default: the data directory)")
    pack.add_argument("--upload", metavar="s3://BUCKET/PREFIX", help="store the package in this S3 location")
    pack.add_argument("--json", action="store_true", help="print the result as one JSON line")
    return {"deployments": cmd_deployments, "package": cmd_package}


def package_type_names() -> tuple[str, ...]:
    """The --type choices: the package-type registry's names."""
    from core.packaging import names

    return names()


def package_type_help() -> str:
    from core.packaging import package_types

    return "; ".join(f"{t.name}: {t.title}"
                     + (f" (from {' or '.join(t.formats)} exports)" if t.formats else " (any export)")
                     for t in package_types())


def cmd_package(args: argparse.Namespace) -> int:
    return run_package(args.source, args.package_type, out=args.out, upload=args.upload, as_json=args.json)


def run_package(source: str, kind: str, *, out: Path | None = None, upload: str | None = None,
                as_json: bool = False, name: str | None = None) -> int:
    """Build one package and print its summary (``slipway package`` and ``slipway deploy``)."""
    from core.packaging import package

    def progress(event: dict[str, Any]) -> None:
        if event.get("stage") == "upload":
            if event["bytes"] in (0, event["total"]):
                print(f"upload {event['key']}: {event['percent']:.0f}%", file=sys.stderr)
        elif not as_json:
            print(f"{event.get('percent', 0):5.1f}% {event.get('message', '')}", file=sys.stderr)

    summary = package(source, kind, out=out, upload=upload, progress=progress, name=name)
    if as_json:
        print(json.dumps(summary, default=str))
        return 0
    for warning in summary.get("warnings", []):
        print(f"warning: {warning}", file=sys.stderr)
    print(f"{kind} package → {summary['zip']}")
    if summary.get("deployment_id"):
        print(f"deployment {summary['deployment_id']}")
    if summary.get("download_url"):
        print(f"stored at {summary['storage_url']}\ndownload (until {summary['expires_at']}): "
              f"{summary['download_url']}")
    return 0


def cmd_deployments(args: argparse.Namespace) -> int:
    from core.deployments import DeploymentService, deployment_summary
    from core.errors import BadInput

    service = DeploymentService()
    if args.action == "list":
        rows = [deployment_summary(t) for t in service.list_deployments(include_deleted=args.all)]
        if args.json:
            print(json.dumps(rows))
        else:
            print(f"{'id':<10}{'type':<19}{'status':<10}{'export':<10}{'requests':>9}  name")
            for row in rows:
                print(f"{row['id'][:8]:<10}{row['type']:<19}{row['status']:<10}{row['export_id'][:8]:<10}"
                      f"{row['request_count']:>9}  {row['name']}")
        return 0
    if not args.id:
        raise BadInput(f"`slipway deployments {args.action}` needs a deployment id")
    if args.action == "history":
        events: list[dict[str, Any]] = [
            {"event": e.event_type, "before": e.status_before, "after": e.status_after,
             "data": e.event_data, "at": e.created_at.isoformat()} for e in service.history(args.id)]
        if args.json:
            print(json.dumps(events))
        else:
            for e in events:
                change = f"{e['before'] or '-'} → {e['after'] or '-'}"
                data = json.dumps(e["data"]) if e["data"] else ""
                print(f"{e['at'][:19]}  {e['event']:<12} {change:<22} {data}")
        return 0
    action: dict[str, Callable[[str], Any]] = {
        "show": service.get, "activate": service.activate, "deactivate": service.deactivate,
        "delete": service.delete,
    }
    target = action[args.action](args.id)
    summary = deployment_summary(target)
    if args.json:
        print(json.dumps(summary))
    else:
        for key, value in summary.items():
            print(f"{key:<24}{json.dumps(value) if isinstance(value, dict) else value}")
    return 0
