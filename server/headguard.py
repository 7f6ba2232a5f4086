"""uvicorn's HTTP protocol with the two bounds it lacks: a request head's size and time.

uvicorn's httptools protocol (what it picks when httptools is installed, as
``uvicorn[standard]`` does) has no limit on the size of a request line and
headers — a 50 MB header was buffered whole — and no deadline for a client to
send them: its keep-alive timer runs only between requests, so a socket that
connects and stays silent, or sends a byte every few seconds (slowloris), is
kept forever, one descriptor each. (h11 bounds the size, with
``h11_max_incomplete_event_size``, but not the time either.) Nor does it count
connections per client: one address could take every one of uvicorn's
``limit_concurrency`` slots with silent sockets, and every page load would get
503 meanwhile.

:class:`BoundedHeadProtocol` adds these, for plain requests and WebSocket
handshakes alike (a handshake is a request head until it is upgraded):

- a head larger than ``max_head_bytes`` gets ``431 Request Header Fields Too
  Large`` and the connection is closed, having buffered at most one read
  (256 KB) past the limit;
- a head not complete ``head_timeout_s`` after the connection opened (or after
  the previous response, or after its first byte) closes the connection, with
  ``408 Request Timeout`` if part of a head had arrived;
- a peer address (as :func:`server.guards.address_key` counts it) with
  ``max_per_address`` HTTP connections open has its next one closed at once;
  addresses in ``unlimited_addresses`` and ``trusted_proxies`` (a proxy speaks
  for many clients) are not counted. A connection upgraded to a WebSocket stops
  counting here: :class:`server.guards.ConnectionGuard` counts WebSockets.

:func:`bounded_head_protocol` makes the class from the settings; ``server/serve.py``
hands it to uvicorn as its ``http`` protocol.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from server.guards import Unlimited, address_key
from server.settings import Settings

log = logging.getLogger("backprop_lab.http")


def _response(status: int, reason: str, text: str) -> bytes:
    body = text.encode()
    return (f"HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain; charset=utf-8\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n").encode() + body


class BoundedHeadProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with a request head bounded in bytes and time."""

    max_head_bytes: ClassVar[int] = 32_768
    head_timeout_s: ClassVar[float] = 10.0
    max_per_address: ClassVar[int] = 64
    uncounted: ClassVar[Unlimited] = Unlimited([])
    #: open HTTP connections per counted peer address (one event loop: no lock)
    open_per_address: ClassVar[Counter[str]] = Counter()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = False  # between a message's first byte and its last header
        self._head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._counted: str | None = None  # the peer address this connection counts for

    # ---- the deadline ------------------------------------------------------------

    def _arm(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.head_timeout_s, self._too_slow)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _waiting_for_head(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _too_slow(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self._in_head:
            log.info("request head too slow", extra={"seconds": self.head_timeout_s,
                                                     "bytes": self._head_bytes})
            self.transport.write(_response(408, "Request Timeout",
                                           "the request head took too long\n"))
        self.transport.close()

    # ---- uvicorn's protocol, extended ----------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """A new connection: closed at once if its address has ``max_per_address`` open,
        else its first head is due within ``head_timeout_s``."""
        super().connection_made(transport)
        host = self.client[0] if self.client else None
        if host not in self.uncounted:
            key = address_key(host)
            if self.open_per_address[key] >= self.max_per_address:
                log.debug("connection refused", extra={"limit": "max_connections_per_address"})
                transport.close()
                return
            self.open_per_address[key] += 1
            self._counted = key
        self._arm()

    def _uncount(self) -> None:
        if self._counted is not None:
            self.open_per_address[self._counted] -= 1
            if self.open_per_address[self._counted] <= 0:
                del self.open_per_address[self._counted]
            self._counted = None

    def connection_lost(self, exc: Exception | None) -> None:
        """The connection is gone: no deadline left, one fewer for its address."""
        self._disarm()
        self._uncount()
        super().connection_lost(exc)

    def handle_websocket_upgrade(self) -> None:
        """Hand the connection to the WebSocket protocol, which counts it from now on."""
        self._disarm()
        self._uncount()
        super().handle_websocket_upgrade()

    def data_received(self, data: bytes) -> None:
        """Parse ``data``; refuse the head if it has grown past ``max_head_bytes``."""
        if self._waiting_for_head():
            self._arm()  # (uvicorn's keep-alive timer stops at any byte, even a stray CRLF)
        super().data_received(data)
        if not self._in_head or self.transport.is_closing():
            return
        # counted after parsing, so a small head followed by its body in one read is
        # not counted whole; a read that starts a head is counted whole (≤ one read over)
        self._head_bytes += len(data)
        if self._head_bytes > self.max_head_bytes:
            log.info("request head too large", extra={"bytes": self._head_bytes,
                                                      "limit": self.max_head_bytes})
            self._disarm()
            self.transport.write(_response(
                431, "Request Header Fields Too Large",
                f"the request head exceeds {self.max_head_bytes} bytes (max_header_bytes)\n"))
            self.transport.close()

    def on_message_begin(self) -> None:
        """A request's first byte: its head starts."""
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0
        self._arm()

    def on_headers_complete(self) -> None:
        """The head is whole (a WebSocket handshake is upgraded from here)."""
        self._in_head = False
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        """A response went out: the next head is due within ``head_timeout_s``."""
        super().on_response_complete()
        if not self.transport.is_closing() and self._waiting_for_head():
            self._arm()


def bounded_head_protocol(settings: Settings) -> type[BoundedHeadProtocol]:
    """:class:`BoundedHeadProtocol` with the limits of ``settings`` and a count of open
    connections of its own (uvicorn builds one protocol per connection)."""
    return type("BoundedHeadProtocol", (BoundedHeadProtocol,), {
        "max_head_bytes": settings.max_header_bytes,
        "head_timeout_s": settings.request_head_timeout_s,
        "max_per_address": settings.max_connections_per_address,
        "uncounted": Unlimited([*settings.unlimited_addresses, *settings.trusted_proxies]),
        "open_per_address": Counter(),
        "__doc__": BoundedHeadProtocol.__doc__})
