"""The seed's Kubernetes tier as manifests: written by ``slipway k8s render``, applied by whoever
runs a cluster. Slipway never talks to Kubernetes itself.

- ``raycluster.yaml``: a KubeRay ``RayCluster`` (ray.io/v1) running the worker image: a head
  (the Jobs API on 8265, the address ``slipway export --cluster`` takes) and two worker groups,
  CPU and GPU, with resource requests and limits; the GPU group advertises ``GPU`` to Ray, so
  TensorRT exports are placed there.
- ``export-job.yaml``: the seed's export as a ``batch/v1`` Job: the worker command with the
  spec in a ConfigMap, the checkpoint from a PersistentVolumeClaim, and the package uploaded
  to S3 by ``slipway package … --upload`` (credentials from a Secret the cluster owns).
- ``inferenceservice.yaml``: a KServe ``InferenceService`` (serving.kserve.io/v1beta1) serving
  a container package's image (Triton, KServe v2 protocol on port 8000).

Manifests are plain dicts; every string a user gives is a value, never a template fragment.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import formats
from core.errors import BadInput
from core.spec import ExportSpec

SPEC_MOUNT = "/etc/slipway"
CHECKPOINT_MOUNT = "/checkpoints"
SCRATCH_MOUNT = "/scratch"  # the Job's emptyDir: the package is written here, then uploaded
PACKAGE_DIR = f"{SCRATCH_MOUNT}/package"
RAY_DASHBOARD_PORT = 8265
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass(frozen=True)
class RenderOptions:
    image: str  # the worker image: Slipway with its export extras and Ray
    name: str = "slipway"
    namespace: str = "default"
    cpu_workers: int = 2
    gpu_workers: int = 0
    s3_url: str | None = None  # s3://bucket/prefix for the export Job's package
    s3_secret: str = "slipway-s3"  # a Secret with AWS_* variables, created by the cluster's owner
    checkpoints_claim: str = "slipway-checkpoints"
    serve_image: str | None = None  # a container package's image (build.sh tags it)
    serve_name: str | None = None

    def check(self) -> None:
        for field, value in (("--name", self.name), ("--namespace", self.namespace),
                             ("--s3-secret", self.s3_secret), ("--checkpoints-claim", self.checkpoints_claim),
                             ("--serve-name", self.serve_name or "x")):
            if len(value) > 53 or not _NAME.match(value):
                raise BadInput(f"{field} {value!r}: use lowercase letters, digits and '-' "
                               "(a Kubernetes name, at most 53 characters)")
        if not self.image.strip():
            raise BadInput("--image: the worker image to run (e.g. registry.example.com/slipway-worker:0.1)")
        if self.cpu_workers < 0 or self.gpu_workers < 0:
            raise BadInput("--cpu-workers and --gpu-workers cannot be negative")


def _resources(cpu: str, memory: str, gpus: int = 0) -> dict[str, Any]:
    limits: dict[str, str] = {"cpu": cpu, "memory": memory}
    if gpus:
        limits["nvidia.com/gpu"] = str(gpus)
    return {"requests": dict(limits), "limits": limits}


def _ray_container(image: str, resources: dict[str, Any], ports: list[dict[str, Any]] | None = None
                   ) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "ray", "image": image, "resources": resources,
                                 "env": [{"name": "RAY_USAGE_STATS_ENABLED", "value": "0"}]}
    if ports:
        container["ports"] = ports
    return container


def ray_cluster(opts: RenderOptions) -> dict[str, Any]:
    """A KubeRay RayCluster whose nodes run the worker image (CPU and GPU groups)."""
    head_ports = [{"name": "gcs", "containerPort": 6379},
                  {"name": "dashboard", "containerPort": RAY_DASHBOARD_PORT}]
    groups = []
    for group, replicas, cpu, memory, gpus in (("cpu", opts.cpu_workers, "4", "16Gi", 0),
                                               ("gpu", opts.gpu_workers, "8", "32Gi", 1)):
        params = {"num-gpus": str(gpus)}
        groups.append({
            "groupName": group, "replicas": replicas, "minReplicas": 0, "maxReplicas": max(replicas, 1) * 4,
            "rayStartParams": params,
            "template": {"metadata": {"labels": {"app.kubernetes.io/part-of": opts.name}},
                         "spec": {"containers": [_ray_container(opts.image, _resources(cpu, memory, gpus))],
                                  **({"tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists",
                                                        "effect": "NoSchedule"}]} if gpus else {})}},
        })
    return {
        "apiVersion": "ray.io/v1", "kind": "RayCluster",
        "metadata": {"name": opts.name, "namespace": opts.namespace,
                     "labels": {"app.kubernetes.io/part-of": opts.name}},
        "spec": {
            "headGroupSpec": {
                "serviceType": "ClusterIP",
                "rayStartParams": {"dashboard-host": "0.0.0.0", "num-cpus": "0"},  # head schedules no exports
                "template": {"metadata": {"labels": {"app.kubernetes.io/part-of": opts.name}},
                             "spec": {"containers": [_ray_container(opts.image, _resources("2", "8Gi"),
                                                                    head_ports)]}},
            },
            "workerGroupSpecs": groups,
        },
    }


def export_job(opts: RenderOptions, spec: ExportSpec, job_name: str) -> list[dict[str, Any]]:
    """The seed's export Job and the ConfigMap holding its spec (checkpoint read from the claim)."""
    if not _NAME.match(job_name) or len(job_name) > 53:
        raise BadInput(f"job name {job_name!r}: use lowercase letters, digits and '-'")
    in_cluster = spec.model_copy(update={"checkpoint": Path(CHECKPOINT_MOUNT) / spec.checkpoint.name})
    config_map = {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": f"{job_name}-spec", "namespace": opts.namespace,
                     "labels": {"app.kubernetes.io/part-of": opts.name}},
        "data": {"spec.json": in_cluster.to_json()},
    }
    command = (f"python -m exporters --spec {SPEC_MOUNT}/spec.json --out {PACKAGE_DIR}")
    env: list[dict[str, Any]] = [{"name": "PYTHONUNBUFFERED", "value": "1"}]
    env_from: list[dict[str, Any]] = []
    if opts.s3_url:
        command += f" && slipway package {PACKAGE_DIR} --type download --upload {json.dumps(opts.s3_url)}"
        env_from.append({"secretRef": {"name": opts.s3_secret}})  # AWS_* variables: boto3's chain
    gpus = 1 if formats.get(spec.export_format).needs_gpu else 0
    container: dict[str, Any] = {
        "name": "export", "image": opts.image, "command": ["sh", "-c", command], "env": env,
        "resources": _resources("4", "16Gi", gpus),
        "volumeMounts": [{"name": "spec", "mountPath": SPEC_MOUNT, "readOnly": True},
                         {"name": "checkpoints", "mountPath": CHECKPOINT_MOUNT, "readOnly": True},
                         {"name": "work", "mountPath": SCRATCH_MOUNT}],
    }
    if env_from:
        container["envFrom"] = env_from
    job = {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": job_name, "namespace": opts.namespace,
                     "labels": {"app.kubernetes.io/part-of": opts.name,
                                "slipway/export-format": spec.export_format}},
        "spec": {
            "backoffLimit": 0,  # a failed gate is an answer, not a flake: no retries
            "activeDeadlineSeconds": 3600,
            "ttlSecondsAfterFinished": 86400,
            "template": {"metadata": {"labels": {"app.kubernetes.io/part-of": opts.name}},
                         "spec": {"restartPolicy": "Never", "containers": [container],
                                  "volumes": [{"name": "spec", "configMap": {"name": f"{job_name}-spec"}},
                                              {"name": "checkpoints", "persistentVolumeClaim": {
                                                  "claimName": opts.checkpoints_claim, "readOnly": True}},
                                              {"name": "work", "emptyDir": {}}]}},
        },
    }
    return [config_map, job]


def inference_service(opts: RenderOptions) -> dict[str, Any]:
    """A KServe InferenceService running a container package's image (Triton, KServe v2 on 8000)."""
    if not opts.serve_image:
        raise BadInput("--serve-image: the image build.sh of a container package built and pushed")
    name = opts.serve_name or opts.name
    return {
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
        "metadata": {"name": name, "namespace": opts.namespace,
                     "annotations": {"serving.kserve.io/enable-prometheus-scraping": "true"},
                     "labels": {"app.kubernetes.io/part-of": opts.name}},
        "spec": {"predictor": {
            "minReplicas": 1, "maxReplicas": 10,  # the seed's autoscaling range
            "containers": [{
                "name": "kserve-container", "image": opts.serve_image,
                "ports": [{"containerPort": 8000, "protocol": "TCP"}],
                "resources": _resources("2", "4Gi"),
                "readinessProbe": {"httpGet": {"path": "/v2/health/ready", "port": 8000}},
                "livenessProbe": {"httpGet": {"path": "/v2/health/live", "port": 8000}},
            }],
        }},
    }


def render(opts: RenderOptions, out: Path, spec: ExportSpec | None = None,
           job_name: str = "slipway-export") -> list[Path]:
    """Write the manifests into ``out``; returns the files written."""
    import yaml

    opts.check()
    out.mkdir(parents=True, exist_ok=True)
    documents: dict[str, list[dict[str, Any]]] = {"raycluster.yaml": [ray_cluster(opts)]}
    if spec is not None:
        documents["export-job.yaml"] = export_job(opts, spec, job_name)
    if opts.serve_image:
        documents["inferenceservice.yaml"] = [inference_service(opts)]
    written = []
    for name, docs in documents.items():
        path = out / name
        path.write_text(yaml.safe_dump_all(docs, sort_keys=False), encoding="utf-8")
        written.append(path)
    return written
