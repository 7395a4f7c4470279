"""`slipway keys list|create|revoke|rotate DEPLOYMENT`: a deployment's API keys.

A key's secret is printed once, when it is made (create, rotate); Slipway keeps
only its hash. A running server stops accepting a revoked key within a second
(its key checks are cached for one), without a restart.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from core.tiers import TIERS

Handler = Callable[[argparse.Namespace], int]


def register(sub: Any) -> dict[str, Handler]:
    keys = sub.add_parser("keys", help="list, create, revoke or rotate a deployment's API keys")
    keys.add_argument("action", choices=("list", "create", "revoke", "rotate"))
    keys.add_argument("deployment", metavar="DEPLOYMENT", help="a platform_endpoint deployment id")
    keys.add_argument("key", nargs="?", metavar="KEY",
                      help="revoke, rotate: the key's id (or its prefix, as `keys list` shows)")
    keys.add_argument("--tier", choices=tuple(TIERS),
                      help="create: the key's tier (default: the deployment's)")
    keys.add_argument("--name", help="create: a name to tell the key apart")
    keys.add_argument("--all", action="store_true", help="list: include revoked keys")
    keys.add_argument("--json", action="store_true")
    return {"keys": cmd_keys}


def key_summary(key: Any) -> dict[str, Any]:
    from core.deployments import iso_or_none

    return {"id": key.id, "prefix": key.prefix, "name": key.name, "tier": key.tier,
            "created_at": iso_or_none(key.created_at), "revoked_at": iso_or_none(key.revoked_at),
            "last_used_at": iso_or_none(key.last_used_at)}


def cmd_keys(args: argparse.Namespace) -> int:
    from core.deployments import DeploymentService
    from core.errors import BadInput

    service = DeploymentService()
    if args.action in ("revoke", "rotate") and not args.key:
        raise BadInput(f"`slipway keys {args.action}` needs the deployment and the KEY id "
                       f"(see `slipway keys list {args.deployment}`)")
    if args.action != "create" and (args.tier or args.name):
        raise BadInput("--tier and --name apply to `slipway keys create`")
    if args.action == "list":
        rows = [key_summary(k) for k in service.keys(args.deployment) if args.all or k.revoked_at is None]
        if args.json:
            print(json.dumps(rows))
        else:
            print(f"{'id':<34}{'prefix':<17}{'tier':<12}{'created':<21}{'revoked':<21}name")
            for row in rows:
                print(f"{row['id']:<34}{row['prefix']:<17}{row['tier']:<12}{row['created_at'][:19]:<21}"
                      f"{(row['revoked_at'] or '-')[:19]:<21}{row['name'] or ''}")
        return 0
    if args.action == "revoke":
        key = service.find_key(args.deployment, args.key)
        service.revoke_key(key.id)
        _show({"revoked": key_summary(service.find_key(args.deployment, key.id))}, args.json,
              f"key {key.prefix} ({key.id}) revoked: a running server refuses it within a second")
        return 0
    if args.action == "create":
        new = service.create_key(args.deployment, tier=args.tier, name=args.name)
        replaced = None
    else:
        new, old = service.rotate_key(args.deployment, args.key)
        replaced = key_summary(service.find_key(args.deployment, old.id))
    result: dict[str, Any] = {"api_key": new.secret, "api_key_id": new.id, "key_tier": new.tier}
    if replaced is not None:
        result["revoked"] = replaced
    said = (f"api key   {new.secret}\nkey id    {new.id} ({new.tier})\n"
            "          shown once: Slipway stores only its hash")
    if replaced is not None:
        said += f"\nrevoked   {replaced['prefix']} ({replaced['id']})"
    _show(result, args.json, said)
    return 0


def _show(result: dict[str, Any], as_json: bool, text: str) -> None:
    print(json.dumps(result) if as_json else text)
