"""The four package types built from real sample exports; `slipway package` end to end."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import onnx
import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from core.errors import BadInput
from core.packaging import build, upload_export
from tests.helpers import CliRun, slipway
from tests.s3server import BUCKET, S3Server, s3_environment


@pytest.fixture
def s3env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Server]:
    yield from s3_environment(tmp_path, monkeypatch)


pytestmark = pytest.mark.slow  # every test here packages a real export of a bundled sample
Exported = Callable[[str], CliRun]
ONNX_TO_TRITON = {"FLOAT": "TYPE_FP32", "UINT8": "TYPE_UINT8", "FLOAT16": "TYPE_FP16", "INT64": "TYPE_INT64"}


def package_dir(exported: Exported, name: str) -> Path:
    return Path(exported(name).result["package_dir"])


def tree_state(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.relative_to(folder).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file()}


def test_download_package_has_the_seed_layout(exported: Exported, tmp_path: Path) -> None:
    source = package_dir(exported, "det-onnx")
    before = tree_state(source)
    result = build("download", source, tmp_path / "dl")
    names = set(result.members())
    assert {"model.onnx", "metadata.json", "labels.txt", "README.md", "runtimes/python/model_wrapper.py",
            "runtimes/python/requirements.txt", "runtimes/python/example.py"} <= names
    assert "result.json" not in names and "export-package.zip" not in names
    with zipfile.ZipFile(result.zip_path) as zf:
        assert zf.read("model.onnx") == (source / "model.onnx").read_bytes()
        assert json.loads(zf.read("metadata.json")) == json.loads((source / "metadata.json").read_text())
    assert tree_state(source) == before  # the export's own folder is only read


def test_edge_ios_package_from_coreml(exported: Exported, tmp_path: Path) -> None:
    source = package_dir(exported, "timm-coreml")
    result = build("edge-ios", source, tmp_path / "ios")
    names = set(result.members())
    assert {"labels.txt", "metadata.json", "README.md", "model.mlpackage/Manifest.json"} <= names
    model_files = {p.relative_to(source).as_posix() for p in (source / "model.mlpackage").rglob("*")
                   if p.is_file()}
    assert model_files <= names  # the whole .mlpackage folder travels
    swift = {n.removeprefix("sample_code/ios/") for n in names if n.startswith("sample_code/ios/")}
    assert swift == set(result.extra["sample_files"]) and swift, "sample_code/ios is empty"
    if (tmp_path / "ios" / "sample_code" / "ios" / "ModelWrapper.swift").exists():
        assert {"ModelWrapper.swift", "Package.swift", "ViewController.swift"} <= swift
    readme = (tmp_path / "ios" / "README.md").read_text()
    assert "model.mlpackage" in readme and "Xcode" in readme and "$" not in readme.replace("$(", "")
    labels = (tmp_path / "ios" / "labels.txt").read_text().split()
    assert labels == [c["name"] for c in result.metadata["classes"]]


def test_edge_android_package_from_tflite(exported: Exported, tmp_path: Path) -> None:
    source = package_dir(exported, "det-tflite")
    result = build("edge-android", source, tmp_path / "android")
    names = set(result.members())
    assert {"model.tflite", "labels.txt", "metadata.json", "README.md"} <= names
    kotlin = {n.removeprefix("sample_code/android/") for n in names if n.startswith("sample_code/android/")}
    assert kotlin, "sample_code/android is empty"
    if "ModelWrapper.kt" in kotlin:
        assert {"MainActivity.kt", "build.gradle"} <= kotlin
    assert (tmp_path / "android" / "model.tflite").read_bytes() == (source / "model.tflite").read_bytes()
    assert "TensorFlow Lite" in (tmp_path / "android" / "README.md").read_text()


@pytest.mark.parametrize(("kind", "name", "hint"), [
    ("edge-ios", "det-onnx", "--format coreml"),
    ("edge-android", "timm-coreml", "--format tflite"),
    ("container", "det-tflite", "--format onnx"),
])
def test_wrong_format_is_refused_naming_what_to_export(exported: Exported, tmp_path: Path, kind: str,
                                                       name: str, hint: str) -> None:
    with pytest.raises(BadInput, match=hint):
        build(kind, package_dir(exported, name), tmp_path / "pkg")
    assert not (tmp_path / "pkg").exists() and not list(tmp_path.iterdir())


def check_triton_config(config_path: Path, model_path: Path) -> Any:
    config = text_format.Parse(config_path.read_text(), model_config_pb2.ModelConfig())
    graph = onnx.load(str(model_path), load_external_data=False).graph
    batching = config.max_batch_size > 0
    for tensors, values in ((config.input, graph.input), (config.output, graph.output)):
        assert [t.name for t in tensors] == [v.name for v in values]
        for tensor, value in zip(tensors, values, strict=True):
            dims = [d.dim_value if d.dim_value > 0 else -1 for d in value.type.tensor_type.shape.dim]
            assert list(tensor.dims) == (dims[1:] if batching else dims)
            elem = onnx.TensorProto.DataType.Name(value.type.tensor_type.elem_type)
            assert model_config_pb2.DataType.Name(tensor.data_type) == ONNX_TO_TRITON[elem]
    return config


@pytest.mark.parametrize("name", ["det-onnx", "timm-onnx"])
def test_container_package_config_matches_the_onnx_model(exported: Exported, tmp_path: Path,
                                                         name: str) -> None:
    result = build("container", package_dir(exported, name), tmp_path / "ctr")
    out = tmp_path / "ctr"
    repo = out / "model_repository" / result.extra["model_name"]
    config = check_triton_config(repo / "config.pbtxt", repo / "1" / "model.onnx")
    assert config.platform == "onnxruntime_onnx"
    assert config.max_batch_size == 0 and not config.HasField("dynamic_batching")  # fixed batch 1
    assert "COPY model_repository /models" in (out / "Dockerfile").read_text()
    assert subprocess.run(["bash", "-n", str(out / "build.sh")]).returncode == 0
    assert (out / "build.sh").stat().st_mode & 0o111
    readme = (out / "README.md").read_text()
    assert f"/v2/models/{result.extra['model_name']}/infer" in readme and "docker run" in readme
    assert "tritonclient" in readme and "What was verified" in readme
    assert {f"model_repository/{result.extra['model_name']}/config.pbtxt", "Dockerfile", "build.sh"} \
        <= set(result.members())


def test_container_with_dynamic_batch_lets_triton_batch(exported: Exported, tmp_path: Path) -> None:
    result = build("container", package_dir(exported, "timm-onnx-embedded"), tmp_path / "ctr")
    repo = tmp_path / "ctr" / "model_repository" / result.extra["model_name"]
    config = check_triton_config(repo / "config.pbtxt", repo / "1" / "model.onnx")
    assert config.max_batch_size == 8 and config.HasField("dynamic_batching")
    assert model_config_pb2.DataType.Name(config.input[0].data_type) == "TYPE_UINT8"


def test_export_deleted_while_packaging_leaves_nothing(exported: Exported, tmp_path: Path) -> None:
    source = tmp_path / "export-copy"
    shutil.copytree(package_dir(exported, "det-onnx"), source)
    events: list[dict[str, Any]] = []

    def delete_midway(event: dict[str, Any]) -> None:
        events.append(event)
        if len(events) == 1:
            shutil.rmtree(source)  # someone deletes the export while it is being packaged

    with pytest.raises(BadInput, match="deleted while packaging"):
        build("container", source, tmp_path / "out" / "ctr", delete_midway)
    assert not (tmp_path / "out" / "ctr").exists()
    assert list((tmp_path / "out").iterdir()) == []  # no half-written or hidden staging folder


def isolated_home(export_home: Path, tmp_path: Path) -> Path:
    """A data directory holding a copy of the session's job store, so our deployments stay ours."""
    home = tmp_path / "home"
    home.mkdir()
    with sqlite3.connect(export_home / "slipway.db") as src, sqlite3.connect(home / "slipway.db") as dst:
        src.backup(dst)
    return home


def test_cli_package_records_a_deployment_and_uploads(exported: Exported, export_home: Path,
                                                      s3env: S3Server, tmp_path: Path) -> None:
    export_id = exported("det-tflite").result["export_id"]
    home = isolated_home(export_home, tmp_path)
    run = slipway("package", export_id[:8], "--type", "edge-android", "--out", str(tmp_path / "pkg"),
                  "--upload", f"s3://{BUCKET}/cli", "--json", home=home)
    assert run.code == 0, run.stderr
    summary = run.result
    deployment = summary["deployment_id"]
    assert summary["storage_url"] == f"s3://{BUCKET}/cli/edge-packages/{deployment}.zip"
    local_zip = Path(summary["zip"])
    answer = httpx.get(summary["download_url"])
    assert answer.status_code == 200 and answer.content == local_zip.read_bytes()
    shown = slipway("deployments", "show", deployment, "--json", home=home)
    record = json.loads(shown.stdout)
    assert record["type"] == "edge_package" and record["status"] == "active"
    assert record["config"]["package_url"] == summary["storage_url"]
    assert record["config"]["target_platform"] == "android"

    refused = slipway("package", export_id[:8], "--type", "edge-ios", "--json", home=home)
    assert refused.code == 2 and "--format coreml" in refused.stderr


def test_upload_export_puts_the_package_under_exports_id(exported: Exported, s3env: S3Server) -> None:
    source = package_dir(exported, "det-onnx")
    stored = upload_export("e" * 32, source, f"s3://{BUCKET}/team")
    assert stored["storage_url"] == f"s3://{BUCKET}/team/exports/{'e' * 32}/export-package.zip"
    answer = httpx.get(stored["download_url"])
    assert answer.content == (source / "export-package.zip").read_bytes()
    assert stored["files"] == len([p for p in source.rglob("*") if p.is_file() and p.name != "result.json"])


def test_a_failed_upload_marks_the_deployment_failed_and_says_why(exported: Exported, export_home: Path,
                                                                  s3env: S3Server, tmp_path: Path) -> None:
    export_id = exported("det-onnx").result["export_id"]
    home = isolated_home(export_home, tmp_path)
    run = slipway("package", export_id[:8], "--type", "download", "--out", str(tmp_path / "pkg"),
                  "--upload", "s3://no-such-bucket/x", "--json", home=home)
    assert run.code == 2 and "no-such-bucket" in run.stderr, run.stderr
    listed = json.loads(slipway("deployments", "list", "--all", "--json", home=home).stdout)
    [failed] = [d for d in listed if d["export_id"] == export_id]
    assert failed["status"] == "failed"
    history = json.loads(slipway("deployments", "history", failed["id"], "--json", home=home).stdout)
    assert history[-1]["event"] == "failed" and "upload failed" in history[-1]["data"]["reason"]


def test_export_with_upload_stores_the_package_under_its_id(s3env: S3Server, tmp_path: Path) -> None:
    from tests.helpers import EXPORTS

    out = tmp_path / "pkg"
    run = slipway("export", *EXPORTS["timm-onnx"], "--out", str(out), "--upload", f"s3://{BUCKET}/team",
                  "--json", home=tmp_path / "home")
    assert run.code == 0, run.stderr[-3000:]
    upload = run.result["upload"]
    assert upload["storage_url"] == f"s3://{BUCKET}/team/exports/{run.result['export_id']}/export-package.zip"
    assert httpx.get(upload["download_url"]).content == (out / "export-package.zip").read_bytes()
    bad = slipway("export", *EXPORTS["timm-onnx"], "--upload", "http://not-s3", home=tmp_path / "home")
    assert bad.code == 2 and "s3://" in bad.stderr
    listed = json.loads(slipway("jobs", "list", "--json", home=tmp_path / "home").stdout)
    assert len(listed) == 1  # the bad location was refused before an export job existed
