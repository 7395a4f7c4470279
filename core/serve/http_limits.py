"""uvicorn's HTTP protocol (httptools) with the limits it lacks: header size and count caps,
a header read timeout and a body idle timeout.

uvicorn takes its protocol class as an option (``Config(http=...)``); this one
counts the bytes of a request's head as they arrive and answers 431 once they
pass ``max_header_bytes`` (or ``max_headers`` lines), so a client streaming a
100 MB header costs the server at most one read past the cap, and its event
loop stays free for everyone else. A connection that has not finished its
request head within ``header_timeout_s`` gets 408 and is closed (a slow-header
client cannot hold it open), and one whose body stalls for ``body_timeout_s``
is closed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol


@dataclass(frozen=True)
class HttpLimits:
    max_header_bytes: int = 64 * 1024
    max_headers: int = 100
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0


def limited_protocol(limits: HttpLimits) -> type[HttpToolsProtocol]:
    """The protocol class to give uvicorn, with these limits."""
    return type("LimitedHttpToolsProtocol", (LimitedHttpToolsProtocol,), {"limits": limits})


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    limits = HttpLimits()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_bytes = self._raw_head_bytes = self._header_count = 0
        self._reading_head = True
        self._refusal: str | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._arm(self.limits.header_timeout_s, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._reading_head is False and self._timer is not None:
            self._arm(self.limits.body_timeout_s, self._body_timed_out)  # the body moves: wait again
        super().data_received(data)  # a refusal raised by a callback comes back as send_400_response
        if self._reading_head and not self.transport.is_closing():
            # a header still arriving is buffered by the parser, unseen by the callbacks: count raw bytes
            self._raw_head_bytes += len(data)
            if self._raw_head_bytes > self.limits.max_header_bytes:
                self._refuse(431, self._too_large())

    def send_400_response(self, msg: str) -> None:
        if self._refusal is not None:
            self._refuse(431, self._refusal)
        else:
            super().send_400_response(msg)

    def _too_large(self) -> str:
        return f"the request head is over {self.limits.max_header_bytes:,} bytes"

    def _count(self, nbytes: int) -> None:
        self._head_bytes += nbytes
        if self._header_count > self.limits.max_headers:
            self._refusal = f"more than {self.limits.max_headers} request header lines"
        elif self._head_bytes > self.limits.max_header_bytes:
            self._refusal = self._too_large()
        if self._refusal is not None:
            raise _HeadRefused(self._refusal)  # stops the parser; it reports a callback error

    # parser callbacks ---------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = self._raw_head_bytes = self._header_count = 0
        self._reading_head = True
        if self._timer is None:
            self._arm(self.limits.header_timeout_s, self._head_timed_out)

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._arm(self.limits.body_timeout_s, self._body_timed_out)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    # timers -------------------------------------------------------------------

    def _arm(self, seconds: float, callback: Any) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, callback)

    def _disarm(self) -> None:
        if getattr(self, "_timer", None) is not None:
            assert self._timer is not None
            self._timer.cancel()
            self._timer = None

    def _head_timed_out(self) -> None:
        self._timer = None
        if self._reading_head and not self.transport.is_closing():
            self._refuse(408, f"the request head did not arrive within {self.limits.header_timeout_s:g} s")

    def _body_timed_out(self) -> None:
        self._timer = None
        if not self.transport.is_closing():  # the app sees a disconnect; no second response is sent
            self.transport.close()

    def _refuse(self, status: int, message: str) -> None:
        self._disarm()
        body = ('{"error": "' + message + '"}').encode()
        self.transport.write(b"".join([
            STATUS_LINE[status], b"content-type: application/json\r\n",
            b"content-length: ", str(len(body)).encode(), b"\r\n", b"connection: close\r\n\r\n", body]))
        self.transport.close()


class _HeadRefused(Exception):
    pass
