"""The four package types built from real sample exports; `slipway package` end to end."""

from __future__ import annotations

import argparse
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

from core import formats, packaging
from core.cli import build_parser
from core.db import Database, DeploymentType, ExportJob
from core.deployments import DeploymentService
from core.errors import BadInput
from core.jobs import JobService
from core.packaging import build, package, upload_export
from core.packaging.result import PackageResult
from core.packaging.types import _REGISTRY, PackageType, register
from tests.helpers import CliRun, sample_metadata, slipway
from tests.s3server import BUCKET, S3Server, s3_environment


@pytest.fixture
def s3env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Server]:
    yield from s3_environment(tmp_path, monkeypatch)


# The tests marked slow package real exports of the bundled samples; the others check the
# package-type registry and its views with small hand-made export folders.
Exported = Callable[[str], CliRun]
ONNX_TO_TRITON = {"FLOAT": "TYPE_FP32", "UINT8": "TYPE_UINT8", "FLOAT16": "TYPE_FP16", "INT64": "TYPE_INT64"}


def package_dir(exported: Exported, name: str) -> Path:
    return Path(exported(name).result["package_dir"])


def tree_state(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.relative_to(folder).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file()}


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_container_with_dynamic_batch_lets_triton_batch(exported: Exported, tmp_path: Path) -> None:
    result = build("container", package_dir(exported, "timm-onnx-embedded"), tmp_path / "ctr")
    repo = tmp_path / "ctr" / "model_repository" / result.extra["model_name"]
    config = check_triton_config(repo / "config.pbtxt", repo / "1" / "model.onnx")
    assert config.max_batch_size == 8 and config.HasField("dynamic_batching")
    assert model_config_pb2.DataType.Name(config.input[0].data_type) == "TYPE_UINT8"


@pytest.mark.slow
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


@pytest.mark.slow
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
    assert record["config"]["package_type"] == "edge-android"  # the registry entry that made it

    refused = slipway("package", export_id[:8], "--type", "edge-ios", "--json", home=home)
    assert refused.code == 2 and "--format coreml" in refused.stderr


@pytest.mark.slow
def test_upload_export_puts_the_package_under_exports_id(exported: Exported, s3env: S3Server) -> None:
    source = package_dir(exported, "det-onnx")
    stored = upload_export("e" * 32, source, f"s3://{BUCKET}/team")
    assert stored["storage_url"] == f"s3://{BUCKET}/team/exports/{'e' * 32}/export-package.zip"
    answer = httpx.get(stored["download_url"])
    assert answer.content == (source / "export-package.zip").read_bytes()
    assert stored["files"] == len([p for p in source.rglob("*") if p.is_file() and p.name != "result.json"])


@pytest.mark.slow
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


@pytest.mark.slow
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


# --- the package-type registry and its views (fast: hand-made export folders) -------------------

def fake_export(folder: Path, export_format: str) -> Path:
    """The smallest folder check_export_folder accepts: metadata.json naming a model file that exists."""
    folder.mkdir(parents=True)
    model = f"model{formats.get(export_format).suffix}"
    (folder / model).write_bytes(b"not a real model")
    (folder / "metadata.json").write_text(json.dumps(sample_metadata(export_format, model)))
    return folder


def subcommand_choices(command: str, dest: str) -> tuple[str, ...]:
    parser = build_parser()
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    [action] = [a for a in sub.choices[command]._actions if a.dest == dest]
    assert action.choices is not None
    return tuple(action.choices)


def test_every_package_type_is_complete() -> None:
    entries = packaging.package_types()
    assert [e.name for e in entries] == ["download", "edge-ios", "edge-android", "container"]
    stored = {t.value for t in DeploymentType} - {DeploymentType.PLATFORM_ENDPOINT.value}
    assert {e.deployment_type for e in entries} == stored  # the seed's stored vocabulary, all of it
    for entry in entries:
        assert entry.title and entry.description and callable(entry.builder)
        assert set(entry.formats) <= set(formats.names()), entry.name
        if entry.formats:
            assert entry.export_hint.startswith("--format "), entry.name
    keys = {e.name: e.storage_key("exp1", "dep1") for e in entries}
    assert keys == {"download": "exports/exp1/export-package.zip", "edge-ios": "edge-packages/dep1.zip",
                    "edge-android": "edge-packages/dep1.zip", "container": "container-packages/dep1.zip"}
    assert packaging.get("download").storage_key(None, "dep1") == "exports/dep1/export-package.zip"
    # the brief's rules: iOS from Core ML, Android from TFLite or ONNX, a container from ONNX or TensorRT
    assert [e.name for e in packaging.for_format("coreml")] == ["download", "edge-ios"]
    assert [e.name for e in packaging.for_format("tflite")] == ["download", "edge-android"]
    assert [e.name for e in packaging.for_format("onnx")] == ["download", "edge-android", "container"]
    assert [e.name for e in packaging.for_format("tensorrt")] == ["download", "container"]
    assert [e.name for e in packaging.for_format("torchscript")] == ["download"]
    with pytest.raises(BadInput, match="unknown package type 'edge_package'; choose one of download, "
                                       "edge-ios, edge-android, container"):
        packaging.get("edge_package")  # the stored value is not a second vocabulary


def test_the_cli_choices_are_the_registry() -> None:
    assert subcommand_choices("package", "package_type") == packaging.names()
    assert subcommand_choices("deploy", "deployment_type") == ("platform_endpoint", *packaging.names())


@pytest.mark.parametrize("export_format", formats.names())
def test_a_wrong_format_is_refused_before_anything_is_written(tmp_path: Path, export_format: str) -> None:
    source = fake_export(tmp_path / "export", export_format)
    for entry in packaging.package_types():
        if entry.accepts(export_format):
            continue
        out = tmp_path / f"out-{entry.name}"
        with pytest.raises(BadInput) as refused:
            build(entry.name, source, out)
        message = refused.value.message
        assert entry.export_hint in message and f"this export is {export_format}" in message
        assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]  # no staging folder either


def test_package_of_an_export_id_refuses_before_recording_anything(
        completed_export: tuple[Database, str], slipway_home: Path) -> None:
    db, export_id = completed_export  # an ONNX export row
    jobs, deployments = JobService(db), DeploymentService(db)
    with pytest.raises(BadInput, match=r"iOS edge package is made from a coreml export; this export is "
                                       r"onnx\. Export the checkpoint again with --format coreml"):
        package(export_id, "edge-ios", jobs=jobs, deployments=deployments)
    assert deployments.list_deployments(include_deleted=True) == []
    assert not (slipway_home / "packages").exists()
    run = slipway("package", export_id, "--type", "edge_package", home=slipway_home)
    assert run.code == 2 and "invalid choice: 'edge_package'" in run.stderr


def test_a_new_package_type_is_one_registration(completed_export: tuple[Database, str],
                                                tmp_path: Path) -> None:
    """The service, the CLI and the records follow a registered type with no other change."""
    db, export_id = completed_export
    source = fake_export(tmp_path / "export", "onnx")
    with db.session() as s:  # the row's folder is empty; point it at the hand-made export
        row = s.get(ExportJob, export_id)
        assert row is not None
        row.package_dir = str(source)

    def build_manifest(src: Path, out: Path, progress: Any = None) -> PackageResult:
        out.mkdir(parents=True)
        listing = out / "manifest.zip"
        with zipfile.ZipFile(listing, "w") as zf:
            zf.writestr("files.txt", "\n".join(sorted(p.name for p in src.iterdir())))
        return PackageResult("manifest", out, listing, {}, extra={"files": 2})

    entry = register(PackageType(
        name="manifest", title="file manifest", description="a list of the export's files",
        deployment_type="download", formats=("onnx",), export_hint="--format onnx",
        builder=build_manifest, storage_key=lambda export_id, key: f"manifests/{key}.zip",
        deployment_config=lambda result, stored: {"files": result.extra["files"]}))
    try:
        assert "manifest" in packaging.names()
        assert "manifest" in subcommand_choices("package", "package_type")
        summary = package(export_id, "manifest", out=tmp_path / "pkg", jobs=JobService(db),
                          deployments=DeploymentService(db))
        with zipfile.ZipFile(summary["zip"]) as zf:
            assert zf.read("files.txt").decode().split() == ["metadata.json", "model.onnx"]
        target = DeploymentService(db).get(summary["deployment_id"])
        assert target.deployment_type == "download"
        assert (target.deployment_config or {}) == {"package_type": "manifest", "files": 2,
                                                    "package_path": summary["zip"]}
    finally:
        del _REGISTRY[entry.name]
    assert "manifest" not in packaging.names()
