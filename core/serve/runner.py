"""Running the app on uvicorn: bind first, announce once accepting, shut down cleanly on SIGTERM.

The data directory's server lock is taken first (one server per data directory,
``server_lock.py``), then the socket is bound here (not by uvicorn) so ``--port 0``
can report the port the kernel chose. uvicorn turns SIGTERM/SIGINT into a graceful shutdown, which
runs the app's lifespan exit: in-flight requests finish and usage is flushed.
"""

from __future__ import annotations

import ipaddress
import signal
import socket
import sys
from types import FrameType

import uvicorn

from core.db import Database
from core.errors import BadInput
from core.paths import data_dir, database_path
from core.serve.app import ServeSettings, create_app
from core.serve.host_guard import LOOPBACK_NAMES
from core.serve.http_limits import HttpLimits, limited_protocol
from core.serve.images import limit_decoder
from core.serve.server_lock import ServerLock


class AnnouncingServer(uvicorn.Server):
    """Prints ``listening on http://HOST:PORT`` once the socket accepts connections (the GUI waits for it)."""

    def __init__(self, config: uvicorn.Config, lock: ServerLock) -> None:
        super().__init__(config)
        self.lock = lock

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and sockets:
            host, port = sockets[0].getsockname()[:2]
            shown = f"[{host}]" if ":" in host else host
            self.lock.announce(f"http://{shown}:{port}")
            print(f"listening on http://{shown}:{port}", flush=True)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        # uvicorn re-raises a captured signal after its graceful shutdown; a SIGTERM
        # stop (the GUI's) is a clean exit, status 0, once usage has been flushed.
        self._captured_signals = [s for s in self._captured_signals if s != signal.SIGTERM]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def allowed_hosts(host: str, extra: list[str]) -> tuple[str, ...]:
    """The Host names served: loopback, the bound address when it is a specific one, and ``extra``."""
    names = [*LOOPBACK_NAMES, *extra]
    if not is_loopback(host) and host not in ("0.0.0.0", "::", ""):
        names.append(host)
    elif not is_loopback(host) and not extra:
        print(f"warning: serving on {host}, but only loopback Host names are answered; add "
              "--allow-host NAME for each name clients use (or '*')", file=sys.stderr)
    return tuple(dict.fromkeys(names))


def run_server(host: str, port: int, settings: ServeSettings, limits: HttpLimits | None = None) -> None:
    if not is_loopback(host):
        print(f"warning: serving on {host}: API keys and images travel in clear text without TLS; "
              "put the server behind a TLS reverse proxy (see README, Local endpoint)", file=sys.stderr)
    lock = ServerLock(data_dir())
    lock.acquire()  # before the socket: a refused second server binds nothing
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.create_server((host, port), family=family, backlog=2048)
    except OSError as exc:
        raise BadInput(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    limit_decoder(settings.max_pixels)
    app = create_app(Database(database_path()), settings)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                            timeout_graceful_shutdown=10, timeout_keep_alive=5,
                            http=limited_protocol(limits or HttpLimits()))
    try:
        AnnouncingServer(config, lock).run(sockets=[sock])  # uvloop when installed; httptools with limits
    finally:
        lock.release()
