"""Storage in an S3 bucket (AWS or any S3-compatible server) through boto3.

Credentials come from boto3's own chain (environment, profile, SSO, instance role);
Slipway never stores a secret. boto3 is imported only when an S3Storage is made, so
the rest of core (and the GUI) starts without it.

Proof of arrival: the file's SHA-256 travels as object metadata, and after the upload
the object is read back and hashed (``verify="full"``, the default) — the size and the
metadata alone would only prove that a request with those headers completed. Multipart
ETags are not MD5s of the content and S3-compatible servers differ, so they are not used.
"""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path
from typing import Any, Literal

from core.errors import BadInput, InternalError, missing_extra
from core.paths import sha256_of
from core.storage.base import (
    PRESIGN_DEFAULT_S,
    ProgressCallback,
    Storage,
    StoredObject,
    check_key,
    emit,
)

MIB = 1 << 20
PRESIGN_MAX_S = 7 * 24 * 3600  # SigV4 presigned URLs live at most a week
CHECKSUM_FIELD = "sha256"  # x-amz-meta-sha256


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` → ``("bucket", "some/prefix")``."""
    if not url.startswith("s3://"):
        raise BadInput(f"{url!r} is not an S3 location; write it as s3://bucket/prefix")
    bucket, _, prefix = url[len("s3://"):].partition("/")
    if not bucket:
        raise BadInput(f"{url!r} names no bucket; write it as s3://bucket/prefix")
    return bucket, prefix.strip("/")


class S3Storage(Storage):
    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None,
                 region: str | None = None, profile: str | None = None,
                 multipart_threshold: int = 8 * MIB, multipart_chunksize: int = 8 * MIB,
                 max_attempts: int = 5, transfer_attempts: int = 3, backoff_s: float = 0.5,
                 connect_timeout: float = 10.0, read_timeout: float = 60.0,
                 verify: Literal["full", "head"] = "full") -> None:
        try:
            import boto3
            from boto3.s3.transfer import TransferConfig
            from botocore.config import Config
            from botocore.exceptions import BotoCoreError
        except ImportError:
            raise missing_extra("boto3", "s3") from None
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.transfer_attempts = max(1, transfer_attempts)
        self.backoff_s = backoff_s
        self.verify = verify
        try:
            session = boto3.session.Session(profile_name=profile or None, region_name=region or None)
        except BotoCoreError as err:  # e.g. ProfileNotFound
            raise BadInput(f"S3 settings: {err}") from None
        config = Config(
            retries={"max_attempts": max_attempts, "mode": "standard"},  # exponential backoff, jitter
            connect_timeout=connect_timeout, read_timeout=read_timeout,
            signature_version="s3v4",
            # S3-compatible servers rarely route virtual-host buckets; AWS accepts both styles.
            s3={"addressing_style": "path"} if endpoint_url else {},
            request_checksum_calculation="when_required", response_checksum_validation="when_required",
        )
        self.client: Any = session.client("s3", endpoint_url=endpoint_url or None, config=config)
        self.endpoint = str(self.client.meta.endpoint_url)
        self.transfer_config = TransferConfig(multipart_threshold=multipart_threshold,
                                              multipart_chunksize=multipart_chunksize, max_concurrency=4)
        self._bucket_checked = False

    # --- keys --------------------------------------------------------------

    def full_key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.full_key(key)}"

    # --- operations --------------------------------------------------------

    def test_connection(self) -> str:
        self._check_bucket(force=True)
        return f"reached bucket {self.bucket!r} at {self.endpoint}"

    def upload(self, path: Path, key: str, progress: ProgressCallback | None = None) -> StoredObject:
        source = Path(path)
        if not source.is_file():
            raise BadInput(f"cannot upload {source}: no such file")
        self._check_bucket()
        full = self.full_key(key)
        size = source.stat().st_size
        digest = sha256_of(source)
        last: BaseException | None = None
        for attempt in range(1, self.transfer_attempts + 1):
            try:
                self._transfer(source, full, key, size, digest, progress)
                self._verify(full, size, digest)
                return StoredObject(key, self.url(key), size, digest)
            except BadInput:
                raise
            except Exception as err:  # connection dropped, server error, checksum mismatch
                last = err
                if attempt < self.transfer_attempts:
                    time.sleep(self.backoff_s * 2 ** (attempt - 1))
        raise InternalError(f"upload of {source.name} to {self.url(key)} failed after "
                            f"{self.transfer_attempts} attempts: {_describe(last)}; nothing was stored "
                            "under that key, the local file is unchanged — retry when the connection is back",
                            details={"key": key, "attempts": self.transfer_attempts})

    def download(self, key: str, path: Path) -> Path:
        full = self.full_key(key)
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(target.name + ".part")
        try:
            response = self._call("get_object", Bucket=self.bucket, Key=full)
            digest = hashlib.sha256()
            with part.open("wb") as handle:
                for block in response["Body"].iter_chunks(MIB):
                    digest.update(block)
                    handle.write(block)
            expected = (response.get("Metadata") or {}).get(CHECKSUM_FIELD)
            if expected and expected != digest.hexdigest():
                raise InternalError(f"{self.url(key)} arrived corrupted (SHA-256 differs from the "
                                    "one stored with it); try again")
            part.replace(target)
        finally:
            part.unlink(missing_ok=True)
        return target

    def exists(self, key: str) -> bool:
        return self._head(self.full_key(key)) is not None

    def delete(self, key: str) -> None:
        self._call("delete_object", Bucket=self.bucket, Key=self.full_key(key))

    def share_url(self, key: str, expires_in: int = PRESIGN_DEFAULT_S) -> str:
        if not 1 <= expires_in <= PRESIGN_MAX_S:
            raise BadInput(f"a presigned URL lives 1 s to 7 days; {expires_in} s was asked")
        return str(self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self.full_key(key)}, ExpiresIn=expires_in))

    # --- internals ---------------------------------------------------------

    def _transfer(self, source: Path, full: str, key: str, size: int, digest: str,
                  progress: ProgressCallback | None) -> None:
        lock = threading.Lock()
        done = [0]

        def on_bytes(count: int) -> None:  # called from the transfer's worker threads
            with lock:
                done[0] += count
                emit(progress, key, min(done[0], size), size)

        emit(progress, key, 0, size)
        self.client.upload_file(str(source), self.bucket, full, Config=self.transfer_config,
                                ExtraArgs={"Metadata": {CHECKSUM_FIELD: digest}}, Callback=on_bytes)

    def _verify(self, full: str, size: int, digest: str) -> None:
        head = self._head(full)
        if head is None:
            raise InternalError(f"s3://{self.bucket}/{full} is missing right after its upload")
        stored = (head.get("Metadata") or {}).get(CHECKSUM_FIELD)
        if head.get("ContentLength") != size or stored != digest:
            raise InternalError(f"s3://{self.bucket}/{full} holds {head.get('ContentLength')} bytes "
                                f"(sha256 {stored}), expected {size} ({digest})")
        if self.verify == "full":
            body = self._call("get_object", Bucket=self.bucket, Key=full)["Body"]
            read = hashlib.sha256()
            for block in body.iter_chunks(MIB):
                read.update(block)
            if read.hexdigest() != digest:
                self._call("delete_object", Bucket=self.bucket, Key=full)
                raise InternalError(f"s3://{self.bucket}/{full} read back differs from the local file")

    def _head(self, full: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            return dict(self.client.head_object(Bucket=self.bucket, Key=full))
        except ClientError as err:
            if _status(err) == 404:
                return None
            raise self._explain(err) from None
        except Exception as err:
            raise self._explain(err) from None

    def _check_bucket(self, force: bool = False) -> None:
        if self._bucket_checked and not force:
            return
        self._call("head_bucket", Bucket=self.bucket)
        self._bucket_checked = True

    def _call(self, operation: str, **params: Any) -> Any:
        try:
            return getattr(self.client, operation)(**params)
        except Exception as err:
            raise self._explain(err) from None

    def _explain(self, err: BaseException) -> BadInput | InternalError:
        """A boto3/botocore failure → an error that names the cause and what to check."""
        from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

        where = f"bucket {self.bucket!r} at {self.endpoint}"
        if isinstance(err, NoCredentialsError):
            return BadInput(f"no AWS credentials found for {where}: set AWS_PROFILE (or the profile in "
                            "Settings), or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")
        if isinstance(err, EndpointConnectionError):
            return BadInput(f"cannot reach the S3 endpoint {self.endpoint}: {err}; check the endpoint URL "
                            "and that the server is running")
        if isinstance(err, ClientError):
            code = str(err.response.get("Error", {}).get("Code", ""))
            status = _status(err)
            if code in ("NoSuchBucket",) or (status == 404 and code in ("404", "NotFound")):
                return BadInput(f"{where} does not exist; create it or fix the bucket name")
            if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken",
                        "AccessDenied", "403") or status == 403:
                return BadInput(f"S3 refused the credentials for {where} ({code or status}): check "
                                "AWS_PROFILE / the profile in Settings and its keys")
            if code == "NoSuchKey":
                return BadInput(f"no object {err.response.get('Error', {}).get('Key', '')!r} in {where}")
            return InternalError(f"S3 error from {where}: {code or status}: {err}")
        if isinstance(err, (BadInput, InternalError)):
            return err
        return InternalError(f"S3 request to {where} failed: {_describe(err)}")


def _status(err: Any) -> int | None:
    value = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return int(value) if value is not None else None


def _describe(err: BaseException | None) -> str:
    if err is None:
        return "unknown error"
    message = getattr(err, "message", None) or str(err) or type(err).__name__
    return f"{type(err).__name__}: {message}"
