"""`slipway k8s render`: every manifest checked against the official Kubernetes client's models.

Core types (ConfigMap, Job) are deserialized whole into the client's models and serialized
back: a misspelled or misplaced field is dropped by the models and the round trip differs;
a missing required field or a bad enum raises. The custom resources (KubeRay's RayCluster,
KServe's InferenceService) have no model in that client: their pod templates and containers
are checked the same way, their own fields (groupName, rayStartParams, minReplicas …) only by
the assertions here. No cluster applied them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.samples import sample
from tests.helpers import slipway

client = pytest.importorskip("kubernetes.client")


def _roundtrip(data: dict[str, Any], model: str) -> None:
    api = client.ApiClient()

    class Response:
        def __init__(self, payload: dict[str, Any]) -> None:
            self.data = json.dumps(payload)

    obj = api.deserialize(Response(data), model)
    back = api.sanitize_for_serialization(obj)
    assert back == data, f"{model}: fields the Kubernetes models do not know or read differently"


def _render(home: Path, tmp_path: Path, *extra: str) -> dict[str, list[dict[str, Any]]]:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"checkpoint": str(sample("shapes-yolo11n").checkpoint),
                                "export_format": "onnx"}))
    out = tmp_path / "k8s"
    run = slipway("k8s", "render", "--out", str(out), "--image", "registry.example.com/slipway-worker:0.1",
                  "--gpu-workers", "1", "--spec", str(spec), "--upload", "s3://models/slipway",
                  "--serve-image", "registry.example.com/shapes-triton:1", "--serve-name", "shapes",
                  *extra, home=home, timeout=120)
    assert run.code == 0, run.stderr
    return {p.name: list(yaml.safe_load_all(p.read_text())) for p in sorted(out.glob("*.yaml"))}


def test_the_rendered_manifests_validate_against_the_kubernetes_models(slipway_home: Path,
                                                                      tmp_path: Path) -> None:
    files = _render(slipway_home, tmp_path)
    assert sorted(files) == ["export-job.yaml", "inferenceservice.yaml", "raycluster.yaml"]

    config_map, job = files["export-job.yaml"]
    _roundtrip(config_map, "V1ConfigMap")
    _roundtrip(job, "V1Job")
    spec = json.loads(config_map["data"]["spec.json"])
    assert spec["checkpoint"] == "/checkpoints/" + sample("shapes-yolo11n").checkpoint.name
    container = job["spec"]["template"]["spec"]["containers"][0]
    command = container["command"][2]
    assert command.startswith("python -m exporters --spec /etc/slipway/spec.json --out /scratch/package")
    assert "--upload" in command and "s3://models/slipway" in command
    assert container["envFrom"] == [{"secretRef": {"name": "slipway-s3"}}]  # never a credential value
    assert "AWS_SECRET" not in json.dumps(files)
    assert job["spec"]["backoffLimit"] == 0

    [ray_cluster] = files["raycluster.yaml"]
    assert ray_cluster["apiVersion"] == "ray.io/v1" and ray_cluster["kind"] == "RayCluster"
    _roundtrip(ray_cluster["metadata"], "V1ObjectMeta")
    head = ray_cluster["spec"]["headGroupSpec"]
    _roundtrip(head["template"], "V1PodTemplateSpec")
    assert {"containerPort": 8265, "name": "dashboard"} in head["template"]["spec"]["containers"][0]["ports"]
    groups = {g["groupName"]: g for g in ray_cluster["spec"]["workerGroupSpecs"]}
    assert sorted(groups) == ["cpu", "gpu"]
    for group in groups.values():
        _roundtrip(group["template"], "V1PodTemplateSpec")
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
        assert all(isinstance(v, str) for v in group["rayStartParams"].values())  # KubeRay wants strings
    gpu_limits = groups["gpu"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert gpu_limits["nvidia.com/gpu"] == "1" and groups["gpu"]["rayStartParams"]["num-gpus"] == "1"
    assert "nvidia.com/gpu" not in groups["cpu"]["template"]["spec"]["containers"][0]["resources"]["limits"]

    [isvc] = files["inferenceservice.yaml"]
    assert isvc["apiVersion"] == "serving.kserve.io/v1beta1" and isvc["kind"] == "InferenceService"
    _roundtrip(isvc["metadata"], "V1ObjectMeta")
    predictor = isvc["spec"]["predictor"]
    pod_fields = {k: v for k, v in predictor.items() if k not in ("minReplicas", "maxReplicas")}
    _roundtrip(pod_fields, "V1PodSpec")  # KServe's predictor inlines a PodSpec
    assert predictor["containers"][0]["image"] == "registry.example.com/shapes-triton:1"
    assert predictor["containers"][0]["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"


def test_the_round_trip_catches_a_misspelled_field() -> None:
    with pytest.raises(AssertionError, match="do not know"):
        _roundtrip({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "x"},
                    "spec": {"backofLimit": 0, "template": {"spec": {"containers": []}}}}, "V1Job")
    with pytest.raises(ValueError):  # a container without its required name
        _roundtrip({"apiVersion": "v1", "kind": "Pod", "spec": {"containers": [{"image": "x"}]}}, "V1Pod")


def test_names_that_kubernetes_would_refuse_are_refused_before_writing(slipway_home: Path,
                                                                       tmp_path: Path) -> None:
    run = slipway("k8s", "render", "--out", str(tmp_path / "k8s"), "--image", "x", "--name", "Bad_Name",
                  home=slipway_home, timeout=120)
    assert run.code == 2 and "--name 'Bad_Name'" in run.stderr
    assert not (tmp_path / "k8s").exists()
