"""`slipway deployments ...`: list, show, activate, deactivate, delete, history."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

Handler = Callable[[argparse.Namespace], int]


def register(sub: Any) -> dict[str, Handler]:
    deployments = sub.add_parser("deployments", help="list and manage deployments of exports")
    deployments.add_argument("action", choices=("list", "show", "activate", "deactivate", "delete",
                                                "history"))
    deployments.add_argument("id", nargs="?")
    deployments.add_argument("--all", action="store_true", help="list: include deleted deployments")
    deployments.add_argument("--json", action="store_true")
    return {"deployments": cmd_deployments}


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
