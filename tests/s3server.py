"""A real S3-compatible server (s3rver) and a connection-cutting proxy, for storage tests.

s3rver is a Node process that checks request signatures and presigned-URL expiry;
its credentials are S3RVER/S3RVER. ``CuttingProxy`` sits between boto3 and the
server and can drop connections after a number of bytes, which is what a network
failure in the middle of a multipart upload looks like from the client's side.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ACCESS_KEY = "S3RVER"
SECRET_KEY = "S3RVER"
BUCKET = "slipway-test"


def s3rver_path() -> Path | None:
    """SLIPWAY_S3RVER, else where the Makefile installs it (under the real user's home)."""
    configured = os.environ.get("SLIPWAY_S3RVER")
    if configured:
        return Path(configured)
    home = Path(pwd.getpwuid(os.getuid()).pw_dir)
    default = home / ".cache" / "slipway" / "node" / "node_modules" / ".bin" / "s3rver"
    return default if default.exists() else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"s3rver exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"s3rver did not listen on port {port} within {timeout:.0f} s")


@dataclass
class S3Server:
    endpoint: str
    port: int
    directory: Path
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def start_s3rver(directory: Path, buckets: tuple[str, ...] = (BUCKET,)) -> S3Server:
    binary = s3rver_path()
    if binary is None or shutil.which("node") is None:
        pytest.skip("s3rver is not installed (make sysdeps installs it)")
    port = free_port()
    command = [str(binary), "-d", str(directory), "-a", "127.0.0.1", "-p", str(port), "-s",
               "--no-vhost-buckets"]
    for bucket in buckets:
        command += ["--configure-bucket", bucket]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        _wait_listening(port, process)
    except BaseException:
        process.kill()
        raise
    return S3Server(f"http://127.0.0.1:{port}", port, directory, process)


class CuttingProxy:
    """A TCP proxy on 127.0.0.1 that closes connections once ``cut_after`` bytes went upstream.

    ``cuts_left`` says how many connections are cut; after that it forwards faithfully,
    which is a network that recovers. ``cut_after = None`` never cuts.
    """

    def __init__(self, upstream_port: int, cut_after: int | None, cuts_left: int = 1) -> None:
        self.upstream_port = upstream_port
        self.cut_after = cut_after
        self.cuts_left = cuts_left
        self.cuts_done = 0
        self._lock = threading.Lock()
        self._server = socket.socket()
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(16)
        self.port = int(self._server.getsockname()[1])
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._closed = True
        self._server.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            with self._lock:
                cut = self.cut_after if self.cut_after is not None and self.cuts_left > 0 else None
            threading.Thread(target=self._serve, args=(client, cut), daemon=True).start()

    def _serve(self, client: socket.socket, cut: int | None) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        done = threading.Event()

        def pump(src: socket.socket, dst: socket.socket, counted: bool) -> None:
            sent = 0
            try:
                while not done.is_set():
                    data = src.recv(65536)
                    if not data:
                        break
                    if counted and cut is not None and sent + len(data) > cut:
                        with self._lock:
                            if self.cuts_left > 0:
                                self.cuts_left -= 1
                                self.cuts_done += 1
                                dst.sendall(data[: max(cut - sent, 0)])
                                break
                    dst.sendall(data)
                    sent += len(data)
            except OSError:
                pass
            finally:
                done.set()
                for sock in (client, upstream):
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)

        reader = threading.Thread(target=pump, args=(upstream, client, False), daemon=True)
        reader.start()
        pump(client, upstream, True)
        reader.join(5)
        client.close()
        upstream.close()


def s3_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Server]:
    """A running s3rver with boto3 pointed at it through a temporary AWS config; ~/.aws is never read.

    Test modules wrap it in a fixture: ``yield from s3_environment(tmp_path, monkeypatch)``.
    """
    server = start_s3rver(tmp_path / "s3rver-data")
    try:
        config = tmp_path / "aws-config"
        config.write_text("[default]\nregion = us-east-1\n")
        credentials = tmp_path / "aws-credentials"
        credentials.write_text(f"[default]\naws_access_key_id = {ACCESS_KEY}\n"
                               f"aws_secret_access_key = {SECRET_KEY}\n"
                               "[wrong]\naws_access_key_id = NOTAKEY\naws_secret_access_key = nope\n")
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                     "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never ask 169.254.169.254
        monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint)
        yield server
    finally:
        server.stop()
