"""Block every socket connection that does not stay on this machine.

Tests (and the worker processes they start) must never reach the network. A
blocked attempt raises, and is also appended to $SLIPWAY_NETGUARD_LOG, because
some libraries swallow connection errors: the test session fails at its end if
that file holds anything.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import traceback
from pathlib import Path
from typing import Any

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}


class NetworkBlocked(OSError):
    pass


def _is_local(host: Any) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode()
    host = str(host).strip("[]")
    if host in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _record(what: str) -> None:
    log = os.environ.get("SLIPWAY_NETGUARD_LOG")
    if log:
        with Path(log).open("a", encoding="utf-8") as fh:
            fh.write(f"pid {os.getpid()}: {what}\n{''.join(traceback.format_stack(limit=8))}\n")


def _check(host: Any, what: str) -> None:
    if not _is_local(host):
        _record(what)
        raise NetworkBlocked(f"network access blocked during tests: {what}")


def install() -> None:
    if getattr(socket, "_slipway_guarded", False):
        return
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex
    original_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _check(address[0], f"connect to {address!r}")
        return original_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _check(address[0], f"connect_ex to {address!r}")
        return original_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        # the wildcard address names no host: a server about to listen (Ray's metrics) asks it
        if host not in ("0.0.0.0", "::", b"0.0.0.0", b"::"):
            _check(host, f"DNS lookup of {host!r}")
        return original_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo
    socket._slipway_guarded = True  # type: ignore[attr-defined]
