"""Storage against a real S3-compatible server process (s3rver on 127.0.0.1) and a local folder."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.errors import BadInput, InternalError
from core.paths import sha256_of
from core.settings import Settings
from core.storage import LocalStorage, S3Storage, extract_zip
from tests.s3server import BUCKET, CuttingProxy, S3Server, free_port, s3_environment


@pytest.fixture
def s3env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Server]:
    yield from s3_environment(tmp_path, monkeypatch)


MIB = 1 << 20


def make_file(path: Path, size: int) -> Path:
    path.write_bytes(os.urandom(size))
    return path


def s3(endpoint: str, **options: Any) -> S3Storage:
    options = {"max_attempts": 1, "backoff_s": 0.05, "connect_timeout": 2, "read_timeout": 10, **options}
    return S3Storage(BUCKET, "team/models", endpoint_url=endpoint, **options)


def test_multipart_upload_with_progress_round_trips(s3env: S3Server, tmp_path: Path) -> None:
    source = make_file(tmp_path / "model.bin", 11 * MIB)
    storage = s3(s3env.endpoint, multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB)
    parts: list[int] = []
    storage.client.meta.events.register("provide-client-params.s3.UploadPart",
                                        lambda params, **_: parts.append(params["PartNumber"]))
    events: list[dict[str, Any]] = []
    stored = storage.upload(source, "exports/abc/model.bin", events.append)

    assert sorted(parts) == [1, 2, 3]  # really multipart: 5 + 5 + 1 MiB
    done = [e["bytes"] for e in events]
    assert done == sorted(done) and done[-1] == source.stat().st_size and events[-1]["percent"] == 100.0
    assert len(events) > 3
    assert stored.url == f"s3://{BUCKET}/team/models/exports/abc/model.bin"
    assert stored.sha256 == sha256_of(source)
    back = storage.download("exports/abc/model.bin", tmp_path / "back.bin")
    assert back.read_bytes() == source.read_bytes()
    head = storage.client.head_object(Bucket=BUCKET, Key="team/models/exports/abc/model.bin")
    assert head["Metadata"]["sha256"] == stored.sha256


def test_presigned_url_downloads_then_expires(s3env: S3Server, tmp_path: Path) -> None:
    source = make_file(tmp_path / "export-package.zip", 4096)
    storage = s3(s3env.endpoint)
    storage.upload(source, "exports/abc/export-package.zip")
    assert "X-Amz-Expires=86400" in storage.share_url("exports/abc/export-package.zip")  # seed: 24 h
    url = storage.share_url("exports/abc/export-package.zip", expires_in=2)
    answer = httpx.get(url)
    assert answer.status_code == 200 and answer.content == source.read_bytes()
    time.sleep(3.1)
    expired = httpx.get(url)
    assert expired.status_code == 403 and "expired" in expired.text.lower()
    with pytest.raises(BadInput, match="7 days"):
        storage.share_url("exports/abc/export-package.zip", expires_in=8 * 24 * 3600)


def test_wrong_credentials_are_named(s3env: S3Server, tmp_path: Path) -> None:
    storage = S3Storage(BUCKET, endpoint_url=s3env.endpoint, profile="wrong", max_attempts=1)
    with pytest.raises(BadInput, match="refused the credentials"):
        storage.upload(make_file(tmp_path / "a.bin", 100), "exports/x/a.bin")
    assert not s3(s3env.endpoint).exists("exports/x/a.bin")
    with pytest.raises(BadInput, match="profile"):
        S3Storage(BUCKET, endpoint_url=s3env.endpoint, profile="no-such-profile")


def test_missing_bucket_is_named(s3env: S3Server, tmp_path: Path) -> None:
    storage = S3Storage("no-such-bucket", endpoint_url=s3env.endpoint, max_attempts=1)
    with pytest.raises(BadInput, match=r"'no-such-bucket'.*does not exist"):
        storage.upload(make_file(tmp_path / "a.bin", 100), "exports/x/a.bin")


def test_unreachable_server_is_named(s3env: S3Server, tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(BadInput, match="cannot reach the S3 endpoint"):
        s3(endpoint).upload(make_file(tmp_path / "a.bin", 100), "exports/x/a.bin")


def test_dropped_connection_fails_cleanly_then_retry_succeeds(s3env: S3Server, tmp_path: Path) -> None:
    source = make_file(tmp_path / "model.bin", 8 * MIB)
    before = sha256_of(source)
    proxy = CuttingProxy(s3env.port, cut_after=3 * MIB, cuts_left=1000)  # a network that keeps failing
    try:
        storage = s3(proxy.endpoint, multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB,
                     transfer_attempts=2)
        with pytest.raises(InternalError, match=r"failed after 2 attempts.*nothing was stored"):
            storage.upload(source, "exports/abc/model.bin")
        assert proxy.cuts_done >= 2
        assert not s3(s3env.endpoint).exists("exports/abc/model.bin")  # nothing half-there
        assert sha256_of(source) == before  # the local file is untouched
        proxy.cuts_left = 0  # the network is back: the retry uploads everything again
        stored = storage.upload(source, "exports/abc/model.bin")
        assert stored.sha256 == before
        assert s3(s3env.endpoint).download("exports/abc/model.bin", tmp_path / "b").read_bytes() \
            == source.read_bytes()
    finally:
        proxy.close()


def test_one_dropped_connection_is_retried_within_the_upload(s3env: S3Server, tmp_path: Path) -> None:
    source = make_file(tmp_path / "model.bin", 6 * MIB)
    proxy = CuttingProxy(s3env.port, cut_after=2 * MIB, cuts_left=1)
    try:
        storage = s3(proxy.endpoint, multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB)
        events: list[dict[str, Any]] = []
        storage.upload(source, "exports/abc/model.bin", events.append)
        assert proxy.cuts_done == 1
        assert events[-1]["bytes"] == source.stat().st_size
        assert s3(s3env.endpoint).download("exports/abc/model.bin", tmp_path / "b").read_bytes() \
            == source.read_bytes()
    finally:
        proxy.close()


@pytest.mark.parametrize("member", ["../evil.txt", "/tmp/evil.txt", "ok/../../evil.txt", "C:/evil.txt"])
def test_zip_slip_is_refused_and_nothing_extracted(tmp_path: Path, member: str) -> None:
    archive = tmp_path / "package.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("metadata.json", "{}")
        zf.writestr(member, "pwned")
    target = tmp_path / "out" / "inside"
    with pytest.raises(BadInput, match=r"outside the target folder.*nothing was extracted"):
        extract_zip(archive, target)
    assert not target.exists()
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "out" / "evil.txt").exists()


def test_zip_with_a_symlink_member_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "package.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        link = zipfile.ZipInfo("runtimes/link")
        link.external_attr = (0o120777 << 16)
        zf.writestr(link, "/etc/passwd")
    with pytest.raises(BadInput, match="outside"):
        extract_zip(archive, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_package_command_refuses_a_zip_slip_archive(tmp_path: Path) -> None:
    from core.packaging import package

    archive = tmp_path / "handed-back.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../escaped.txt", "pwned")
    with pytest.raises(BadInput, match=r"refusing handed-back\.zip"):
        package(str(archive), "download", out=tmp_path / "pkg")
    assert not (tmp_path / "pkg").exists() and not (tmp_path.parent / "escaped.txt").exists()


def test_local_storage_round_trip_and_keys(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "store")
    source = make_file(tmp_path / "a.zip", 3 * MIB + 7)
    events: list[dict[str, Any]] = []
    stored = storage.upload(source, "edge-packages/dep1.zip", events.append)
    assert (tmp_path / "store" / "edge-packages" / "dep1.zip").read_bytes() == source.read_bytes()
    assert stored.sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
    assert events[-1]["bytes"] == source.stat().st_size
    assert storage.share_url("edge-packages/dep1.zip").startswith("file://")
    assert storage.download("edge-packages/dep1.zip", tmp_path / "b.zip").read_bytes() == source.read_bytes()
    for bad in ("../x.zip", "/abs.zip", "a//b", "a/./b"):
        with pytest.raises(BadInput, match="not a relative path"):
            storage.upload(source, bad)
    assert not list(tmp_path.glob("*.part")) and not list((tmp_path / "store").rglob("*.part"))


def test_settings_persist_without_secrets_and_test_connection(s3env: S3Server, slipway_home: Path) -> None:
    settings = Settings(storage_backend="s3", s3_bucket=BUCKET, s3_prefix="p", s3_endpoint_url=s3env.endpoint)
    settings.save()
    loaded = Settings.load()
    assert loaded == settings
    assert "secret" not in Settings.path().read_text().lower()
    ok, message = loaded.test_connection()
    assert ok and BUCKET in message
    missing = loaded.model_copy(update={"s3_bucket": "absent-bucket"})
    ok, message = missing.test_connection()
    assert not ok and "does not exist" in message
    ok, message = Settings().test_connection()
    assert ok and "local storage" in message
    Settings.path().write_text('{"s3_bucket": 3, "api_secret": "x"}')
    with pytest.raises(BadInput, match="not valid settings"):
        Settings.load()


def test_core_imports_boto3_only_for_s3() -> None:
    code = ("import sys, core.storage, core.settings, core.packaging, core.cli; "
            "print('boto3' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
