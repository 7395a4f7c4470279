"""`slipway deploy` (a deployment of an export, with its first API key) and `slipway serve`."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from core.cli_deployments import package_type_help, package_type_names, run_package
from core.tiers import TIERS

Handler = Callable[[argparse.Namespace], int]
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8000
ENDPOINT = "platform_endpoint"  # the one deployment type that is not a package


def register(sub: Any) -> dict[str, Handler]:
    deploy = sub.add_parser("deploy", help="deploy an export (platform_endpoint: served by `slipway serve`; "
                                           "a package type: built as `slipway package` builds it)")
    deploy.add_argument("export_id")
    deploy.add_argument("--type", dest="deployment_type", default=ENDPOINT,
                        choices=(ENDPOINT, *package_type_names()),
                        help=f"{ENDPOINT} (default), or a package type: {package_type_help()}")
    deploy.add_argument("--tier", choices=tuple(TIERS),
                        help=f"{ENDPOINT}: the API key's tier, its rate limit and monthly quota "
                             "(default free)")
    deploy.add_argument("--name")
    deploy.add_argument("--json", action="store_true")
    serve = sub.add_parser("serve", help="serve every active platform_endpoint deployment over HTTP")
    serve.add_argument("--host", default=DEFAULT_HOST,
                       help="address to bind (default 127.0.0.1; others send keys in clear without TLS)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (0 picks a free one)")
    serve.add_argument("--threads", type=int, default=2, help="ONNX Runtime threads per model (default 2)")
    serve.add_argument("--workers", type=int, default=2, help="inference calls in flight at once (default 2)")
    serve.add_argument("--max-body-mb", type=float, default=32.0, help="largest request body (default 32 MB)")
    serve.add_argument("--no-limits", action="store_true",
                       help="count usage but never refuse for rate or quota (load testing your own machine)")
    serve.add_argument("--max-batch", type=int, default=1,
                       help="dynamic batching: up to N concurrent /v1 requests in one model run (1: off)")
    serve.add_argument("--batch-window-ms", type=float, default=2.0,
                       help="how long a request waits for others to batch with (default 2)")
    serve.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                       help="also answer requests whose Host is NAME (repeatable; '*' any). Default: "
                            "loopback names, and the --host address when it is a specific one")
    serve.add_argument("--max-header-kb", type=float, default=64.0,
                       help="largest request line plus headers (default 64 KB; over it: 431)")
    serve.add_argument("--header-timeout", type=float, default=10.0,
                       help="seconds a client has to send its request head (default 10; then 408)")
    serve.add_argument("--body-timeout", type=float, default=30.0,
                       help="seconds a request body may stall before the connection is closed (default 30)")
    return {"deploy": cmd_deploy, "serve": cmd_serve}


def cmd_deploy(args: argparse.Namespace) -> int:
    from core.deployments import DeploymentService, deployment_summary
    from core.errors import BadInput

    if args.deployment_type != ENDPOINT:
        if args.tier is not None:
            raise BadInput(f"--tier applies to {ENDPOINT} deployments only; a {args.deployment_type} "
                           "package has no API key")
        return run_package(args.export_id, args.deployment_type, as_json=args.json, name=args.name)
    service = DeploymentService()
    target = service.create(args.export_id, ENDPOINT, tier=args.tier, name=args.name)
    summary = deployment_summary(target)
    key = service.create_key(target.id, tier=args.tier)
    url = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}/v1/infer/{target.id}"
    summary |= {"endpoint_url": url, "api_key": key.secret, "api_key_id": key.id, "key_tier": key.tier}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"deployment {target.id} ({target.name}) is active")
        print(f"endpoint  {url}  (run `slipway serve`)")
        print(f"api key   {key.secret}")
        print("          shown once: Slipway stores only its hash")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from core.errors import BadInput
    from core.serve.app import ServeSettings
    from core.serve.http_limits import HttpLimits
    from core.serve.runner import allowed_hosts, run_server

    if not 0 <= args.port <= 65535:
        raise BadInput(f"--port {args.port} is not a port number (0-65535)")
    if args.threads < 1 or args.workers < 1 or args.max_body_mb <= 0:
        raise BadInput("--threads and --workers must be at least 1, --max-body-mb above 0")
    settings = ServeSettings(threads=args.threads, workers=args.workers,
                             max_body_bytes=int(args.max_body_mb * 1024 * 1024),
                             enforce_limits=not args.no_limits, max_batch=max(1, args.max_batch),
                             batch_window_ms=max(0.0, args.batch_window_ms),
                             allowed_hosts=allowed_hosts(args.host, args.allow_host))
    if min(args.max_header_kb, args.header_timeout, args.body_timeout) <= 0:
        raise BadInput("--max-header-kb, --header-timeout and --body-timeout must be above 0")
    limits = HttpLimits(max_header_bytes=int(args.max_header_kb * 1024), header_timeout_s=args.header_timeout,
                        body_timeout_s=args.body_timeout)
    run_server(args.host, args.port, settings, limits)
    return 0
