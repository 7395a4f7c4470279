"""Trust in the Host header: an allow-list against DNS rebinding, and redirects without it.

A page on an attacker's site can make a browser send requests to a name that
resolves to 127.0.0.1; its Host header still carries the attacker's name. Only
the names in the allow-list (loopback by default; ``slipway serve --allow-host``
adds more, ``*`` any) are answered; others get 400. Redirects (the router's
trailing-slash ones) are made relative, so no Location is built from a Host.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def host_name(value: str) -> str:
    """The name in a Host header, without its port or IPv6 brackets, lowercased."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].partition("]")[0]
    return value.rpartition(":")[0] if value.count(":") == 1 else value


class HostGuard:
    def __init__(self, app: ASGIApp, allowed: Iterable[str] = LOOPBACK_NAMES) -> None:
        self.app = app
        self.allowed = {host_name(n) if n != "*" else "*" for n in allowed}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), None)
        if host is not None and "*" not in self.allowed and host_name(host) not in self.allowed:
            body = json.dumps({"error": f"host {host_name(host)!r} is not served here; start the "
                                        "server with --allow-host NAME to serve that name"}).encode()
            await send({"type": "http.response.start", "status": 400, "headers": [
                (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return

        async def relative_redirects(message: Message) -> None:
            if message["type"] == "http.response.start" and 300 <= message["status"] < 400:
                message["headers"] = [(k, _relative(v) if k.lower() == b"location" else v)
                                      for k, v in message.get("headers", [])]
            await send(message)

        await self.app(scope, receive, relative_redirects)


def _relative(location: bytes) -> bytes:
    """``http://host:port/path?q`` → ``/path?q``; a relative location stays as it is."""
    scheme, sep, rest = location.partition(b"://")
    if not sep or b"/" in scheme:
        return location
    path = rest.partition(b"/")[2]
    return b"/" + path
