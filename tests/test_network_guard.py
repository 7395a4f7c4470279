from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from slipway_netguard import NetworkBlocked


def test_outside_connections_are_blocked_here_and_in_children(tmp_path: Path) -> None:
    log = Path(os.environ["SLIPWAY_NETGUARD_LOG"])
    before = log.read_text() if log.exists() else ""
    with pytest.raises(NetworkBlocked):
        socket.create_connection(("192.0.2.1", 80), timeout=1)
    code = "import socket; socket.getaddrinfo('example.com', 443)"
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert child.returncode != 0 and "network access blocked" in child.stderr
    log.write_text(before)  # these two were on purpose


def test_loopback_is_allowed() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.create_connection(server.getsockname(), timeout=2)
    client.close()
    server.close()
