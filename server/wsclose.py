"""uvicorn's WebSocket protocol, with a close that cannot hold a socket open.

uvicorn's sans-I/O WebSocket protocol (what ``ws="auto"`` picks with the
``websockets`` package installed) closes a connection in two steps: it writes a
close frame, then waits up to ten seconds (a constant) for the peer's reply
before closing the TCP connection. Two kinds of client keep that from
happening, and each holds a descriptor and one of uvicorn's
``limit_concurrency`` slots meanwhile (``/healthz``, page loads and handshakes
get 503 while the slots are full):

- a client that never answers a close (a script told 1013 by a cap, or one that
  never said hello): ten seconds per socket, and a script can open them as fast
  as they are refused. Here the wait is ``ws_close_timeout_s``.
- a client that stopped reading: its send buffer is full, so the close frame
  waits behind it (uvicorn's send awaits the buffer draining first) and then
  ``transport.close()`` waits to flush what is buffered, which never happens;
  the socket stayed ESTABLISHED for minutes after the app had let it go. Here
  a close while the buffer cannot drain *aborts* the transport: the peer gets a
  reset, and the megabytes of frame it would not read are freed at once.

:func:`closing_protocol` makes the class from the settings; ``server/serve.py``
hands it to uvicorn as its ``ws`` protocol. It relies on attributes of
uvicorn's class (``writable``, ``close_timeout``, ``close_sent``, ``queue``,
``transport``, ``conn``, ``disconnected``, ``handshake_complete``,
``initial_response``); tests/server/test_slow_client.py fails if they change.

It also gives the app a send that skips the ASGI layers when it cannot wait
(:meth:`ClosingWebSocketProtocol.send_now`), for fast play's many small sends.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState
from websockets.protocol import State

from server.settings import Settings

log = logging.getLogger("backprop_lab.ws")

#: the scope's ``extensions`` keys of :meth:`ClosingWebSocketProtocol.send_now` and
#: :meth:`ClosingWebSocketProtocol.can_send_now`
SEND_NOW = "backprop_lab.send_now"
CAN_SEND_NOW = "backprop_lab.can_send_now"


class ClosingWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol, whose close waits at most ``close_after_s`` for the
    peer and aborts at once when the peer has stopped reading."""

    close_after_s: ClassVar[float] = 2.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.close_timeout = self.close_after_s

    async def send(self, message: Any) -> None:  # (uvicorn's ASGISendEvent)
        """Send ``message``; a ``websocket.close`` to a peer whose buffer is full (it
        stopped reading) drops the connection instead of queueing behind the buffer."""
        if (message["type"] == "websocket.close" and self.handshake_complete
                and not self.close_sent and not self.writable.is_set()
                and not self.transport.is_closing()):
            code = message.get("code", 1000)
            log.info("stalled socket aborted", extra={
                "code": code, "buffered": self.transport.get_write_buffer_size()})
            self.queue.put_nowait({"type": "websocket.disconnect", "code": code,
                                   "reason": message.get("reason") or ""})
            self.close_sent = True
            self.transport.abort()
            return
        await super().send(message)

    def can_send_now(self) -> bool:
        """Whether :meth:`send_now` would write at once: the peer is reading (its buffer
        is below the high-water mark) and the connection is open."""
        return (self.writable.is_set() and not self.disconnected and not self.close_sent
                and self.handshake_complete and self.initial_response is None
                and self.conn.state is State.OPEN)

    def send_now(self, data: bytes | str) -> bool:
        """Write one message (binary for bytes) at once, as uvicorn's ``send`` of a
        ``websocket.send`` does, if that cannot wait: the peer is reading (its buffer
        is below the high-water mark) and the connection is open. False otherwise; the
        caller then sends through ASGI, under its timeout.

        Fast play's sends go here (the app finds it in the scope's ``extensions``
        under :data:`SEND_NOW`): a learner's every iteration is a send, and the ASGI
        layers above this one (Starlette's checks, the middlewares' wrappers) and the
        timer each send needs for the case that it waits cost a quarter of a worker's
        event loop at 200 learners (docs/performance.md)."""
        if not self.can_send_now():
            return False
        try:
            if isinstance(data, bytes):
                self.conn.send_binary(data)
            else:
                self.conn.send_text(data.encode())
        except InvalidState:
            return False
        self.transport.write(b"".join(self.conn.data_to_send()))
        return True

    async def run_asgi(self) -> None:
        """Run the app (telling it of :meth:`send_now`); if it ended while the peer had
        stopped reading, drop the connection (uvicorn closes it, which waits to flush a
        buffer that never drains)."""
        ext = self.scope["extensions"]
        ext[SEND_NOW] = self.send_now  # type: ignore[assignment]
        ext[CAN_SEND_NOW] = self.can_send_now  # type: ignore[assignment]
        await super().run_asgi()
        if (self.handshake_complete and not self.writable.is_set()
                and not self.disconnected):
            self.transport.abort()


def closing_protocol(settings: Settings) -> type[ClosingWebSocketProtocol]:
    """:class:`ClosingWebSocketProtocol` with ``settings.ws_close_timeout_s``."""
    return type("ClosingWebSocketProtocol", (ClosingWebSocketProtocol,), {
        "close_after_s": settings.ws_close_timeout_s,
        "__doc__": ClosingWebSocketProtocol.__doc__})
