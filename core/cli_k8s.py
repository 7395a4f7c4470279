"""`slipway k8s render`: the seed's Kubernetes tier as manifests (core/k8s.py); nothing is applied."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.errors import BadInput

Handler = Callable[[argparse.Namespace], int]


def register(sub: Any) -> dict[str, Handler]:
    k8s = sub.add_parser("k8s", help="render Kubernetes manifests (KubeRay, export Job, KServe)",
                         description="Write a KubeRay RayCluster for the worker image, the export Job "
                                     "with its spec in a ConfigMap (--spec), and a KServe "
                                     "InferenceService for a container package (--serve-image). "
                                     "Slipway applies nothing: kubectl apply -f DIR does.")
    k8s.add_argument("action", choices=("render",))
    k8s.add_argument("--out", type=Path, required=True, help="folder for the YAML files")
    k8s.add_argument("--image", required=True, help="the worker image (Slipway with its extras and Ray)")
    k8s.add_argument("--name", default="slipway", help="the RayCluster's name and the label of everything")
    k8s.add_argument("--namespace", default="default")
    k8s.add_argument("--cpu-workers", type=int, default=2)
    k8s.add_argument("--gpu-workers", type=int, default=0)
    k8s.add_argument("--spec", type=Path, help="an export spec: adds the export Job and its ConfigMap")
    k8s.add_argument("--job-name", default="slipway-export")
    k8s.add_argument("--upload", metavar="s3://BUCKET/PREFIX", help="where the export Job stores the package")
    k8s.add_argument("--s3-secret", default="slipway-s3",
                     help="the Secret holding AWS_* variables for the Job (never written by Slipway)")
    k8s.add_argument("--checkpoints-claim", default="slipway-checkpoints",
                     help="the PersistentVolumeClaim holding checkpoints (mounted read-only)")
    k8s.add_argument("--serve-image", help="a container package's image: adds a KServe InferenceService")
    k8s.add_argument("--serve-name", help="the InferenceService's name (default: --name)")
    return {"k8s": cmd_k8s}


def cmd_k8s(args: argparse.Namespace) -> int:
    from core.k8s import RenderOptions, render
    from core.spec import load_spec

    if args.upload:
        from core.storage import parse_s3_url

        parse_s3_url(args.upload)
    if args.out.exists() and not args.out.is_dir():
        raise BadInput(f"--out {args.out} is a file")
    opts = RenderOptions(image=args.image, name=args.name, namespace=args.namespace,
                         cpu_workers=args.cpu_workers, gpu_workers=args.gpu_workers,
                         s3_url=args.upload, s3_secret=args.s3_secret,
                         checkpoints_claim=args.checkpoints_claim, serve_image=args.serve_image,
                         serve_name=args.serve_name)
    spec = load_spec(args.spec) if args.spec else None
    for path in render(opts, args.out, spec, job_name=args.job_name):
        print(path)
    print("nothing was applied: kubectl apply -f", args.out, file=sys.stderr)
    return 0
