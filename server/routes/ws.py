"""The session WebSocket at ``/ws``.

Each connection runs a receive loop and a send loop side by side in one task
group; when either ends (the client left, the session was freed, the server is
shutting down) both end and the session is detached, kept for a grace period
so a reload or a dropped network resumes it.

The receive loop is the only way in, so every guard sits here, in order: the
Origin check before accepting, then per message the size limit and the command
rate limit; validation and what a message does belong to the connection
(:class:`~server.live.connection.Connection`). Whatever a client sends, it gets
at worst an ``error`` message and the connection stays usable. The send
loop is the only place that awaits the socket: a client that stops reading
blocks its own send loop and nothing else (the session and the clock only put
on the bounded :class:`~server.live.outbox.Outbox`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import cast

import anyio
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from server.deps import SettingsDep, StoreDep, WorkerDep
from server.live.connection import Connection
from server.live.outbox import Entry, Outbox, OutboxClosedError, Shared, unwrap
from server.live.traffic import Traffic
from server.origin import origin_allowed
from server.protocol import encode, encode_bytes
from server.run.compact import PackedFrames, pack_batch
from server.wsclose import CAN_SEND_NOW, SEND_NOW

log = logging.getLogger("backprop_lab.ws")

router = APIRouter()

CLOSE_POLICY = 1008  # Origin refused
CLOSE_SEND_TIMEOUT = 1008  # the client did not read what it was sent in time
CLOSE_INTERNAL = 1011  # a send the server found it could not make (a bug: logged)
BATCH_MAX = 32  # messages in one batched WebSocket message, at most
# how a socket reports that the other side went away
_GONE = (WebSocketDisconnect, RuntimeError, anyio.ClosedResourceError, OSError)


class SendTimeoutError(Exception):
    """A send took longer than ``send_timeout_s``: the connection is dropped."""


class TokenBucket:
    """Commands-per-second limit: ``rate`` tokens a second, at most ``burst`` saved."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.clock = clock
        self.last = clock()

    def take(self) -> bool:
        """Spend one token if there is one."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


def messages_in(entry: Entry) -> int:
    """How many messages an outbox entry holds (a bundle's, packed frames' four)."""
    if isinstance(entry, Shared | PackedFrames):
        return entry.count
    return len(entry) if isinstance(entry, list) else 1


def batch_data(entries: list[Entry], packed: set[int] | None) -> str | bytes:
    """One WebSocket message of ``entries`` for a client that takes batches: a lone
    message or shared entry as it is, else a JSON array of every message in order (a
    bundle's items join it); with packed frames among them, for a page that takes
    them (``packed``: the layouts its connection has been sent), one binary message of
    the batch (:func:`server.run.compact.pack_batch`).

    One WebSocket message per wake-up: on loopback each send costs as much as encoding
    a frame, so a tick's frames and state go out together."""
    if len(entries) == 1:
        e = entries[0]
        if isinstance(e, Shared) and (packed is None or e.packed is None):
            # a class's usual case: one shared message or bundle, whose text (a
            # bundle's is the batch's) every follower sends as is
            return e.text(encode_bytes)
        if isinstance(e, dict):
            return encode(e)  # a lone message goes out bare
    parts: list[bytes | PackedFrames] = []
    any_packed = False
    for entry in entries:
        if packed is not None and type(entry) is PackedFrames:
            parts.append(entry)
            any_packed = True
        elif packed is not None and isinstance(entry, Shared) and entry.packed is not None:
            parts.append(entry.packed)  # (a class's frames, packed once for all)
            any_packed = True
        elif isinstance(entry, list) or (
                isinstance(entry, Shared | PackedFrames) and entry.bundle):
            parts.append(json_of(entry)[1:-1])
        else:
            parts.append(json_of(entry))
    if any_packed:
        return pack_batch(parts, packed)
    return (b"[" + b",".join(cast(list[bytes], parts)) + b"]").decode()


def json_of(entry: Entry) -> bytes:
    """An outbox entry's JSON (a bundle's as an array); a :class:`Shared` entry's is
    computed once for all the connections it was put on; packed frames' as their four
    frames."""
    if isinstance(entry, Shared):
        return entry.json(encode_bytes)
    return encode_bytes(entry.item if isinstance(entry, PackedFrames) else entry)


@router.websocket("/ws")
async def session_socket(ws: WebSocket, store: StoreDep, settings: SettingsDep,
                         worker: WorkerDep) -> None:
    """Drive one session over one socket (see docs/protocol.md)."""
    origin = ws.headers.get("origin")
    if not origin_allowed(origin, ws.headers.get("host"), ws.url.scheme,
                          settings.allowed_origins):
        log.warning("origin refused", extra={"origin": origin, "host": ws.headers.get("host")})
        await ws.close(code=CLOSE_POLICY)
        return
    await ws.accept()
    outbox = Outbox(settings.outbox_limit, int(settings.outbox_max_mb * 2**20))
    connections: set[Outbox] = ws.app.state.connections
    connections.add(outbox)
    traffic: Traffic = ws.app.state.traffic
    bucket = TokenBucket(settings.max_commands_per_second, settings.command_burst)
    conn = Connection(store, settings, outbox, relay=ws.app.state.relay)

    async def receive_loop() -> None:
        while True:
            event = await ws.receive()
            if event["type"] == "websocket.disconnect":
                return
            conn.received += 1
            text = event.get("text")
            if text is None:
                conn.reply_error("malformed", "binary frames are not part of the protocol; "
                                 "send JSON text")
                continue
            size = len(text) if text.isascii() else len(text.encode())
            if size > settings.max_message_bytes:
                conn.reply_error("too_large", f"message of {size} bytes exceeds "
                                 f"max_message_bytes={settings.max_message_bytes}",
                                 limit="max_message_bytes")
                continue
            if not bucket.take():
                conn.reply_error("rate_limited", "too many commands; at most "
                                 f"{settings.max_commands_per_second:g} per second "
                                 "(max_commands_per_second)", limit="max_commands_per_second")
                continue
            # the engine thread applies it, in this connection's turn (live/worker.py)
            worker.submit(conn, functools.partial(conn.receive, text))

    send_now = ws.scope.get("extensions", {}).get(SEND_NOW)  # (under uvicorn)
    # the packed layouts this connection has been sent: a batch naming one by its lid
    # alone relies on batches going out in the order they are made (one send loop, and
    # deliver_now only while it waits: Outbox.take_now)
    layouts: set[int] = set()

    async def send_message(data: str | bytes) -> None:
        """One send (text, or a binary message of packed frames), cut off after
        ``send_timeout_s``: a client that stops reading loses its connection (and its
        session pauses), not the server's memory. A send that cannot wait (the client
        is reading) is written at once, below the ASGI layers (server/wsclose.py)."""
        if send_now is not None and send_now(data):
            traffic.bytes_sent += len(data)
            return
        try:
            # (not asyncio.wait_for: on 3.11 it wraps each send in a task of its own,
            # a quarter of a send's CPU and a loop turn of delay; docs/performance.md.
            # A send that completes in the very turn the timer fires counts as timed
            # out, where wait_for kept it: at send_timeout_s, the same verdict)
            async with asyncio.timeout(settings.send_timeout_s):
                if isinstance(data, bytes):
                    await ws.send_bytes(data)
                else:
                    await ws.send_text(data)
            traffic.bytes_sent += len(data)
        except TimeoutError:
            log.warning("send timeout", extra={"seconds": settings.send_timeout_s,
                                               "queued": len(outbox)})
            outbox.close(CLOSE_SEND_TIMEOUT, "send timeout", discard=True)
            # the close cannot queue behind the unread frames: the protocol
            # (server/wsclose.py) drops the connection instead
            with contextlib.suppress(*_GONE):
                await ws.close(code=CLOSE_SEND_TIMEOUT, reason="send timeout")
            raise SendTimeoutError from None

    async def send_loop() -> None:
        while True:
            try:
                # (no local of this frame keeps the last message while waiting: a
                # cancelled loop's frame lives on in a traceback cycle until the
                # held-back collector runs, with megabytes of a big network's frames)
                await deliver(await outbox.get())
            except OutboxClosedError as c:
                await ws.close(code=c.code, reason=c.reason)
                return

    async def deliver(first: Entry) -> None:
        """Send ``first`` and, batched with it, what else is queued."""
        if not conn.batch:
            item = unwrap(first)
            for msg in item if isinstance(item, list) else [item]:
                await send_message(encode(msg))
            return
        entries = [first]
        n = messages_in(first)
        while n < BATCH_MAX and (entry := outbox.pop()) is not None:
            entries.append(entry)
            n += messages_in(entry)
        await send_message(batch_data(entries, layouts if conn.packed else None))

    ready = ws.scope.get("extensions", {}).get(CAN_SEND_NOW)  # (under uvicorn)

    def deliver_now() -> bool:
        """On the event loop, as a tick's messages are handed over (the engine thread's
        gathered wakes): send what is queued at once if that cannot wait, and let the
        send loop sleep on (True); else False, and the send loop is woken."""
        if not conn.batch or ready is None or send_now is None or not ready():
            return False
        entries = outbox.take_now(BATCH_MAX)
        if entries is None:
            return False
        if not entries:
            return True
        try:
            data = batch_data(entries, layouts if conn.packed else None)
            sent = send_now(data)  # (True: nothing ran since ready())
        except Exception:
            log.exception("sending a batch at once failed")
            sent = False
        if not sent:  # (its messages are taken: the connection ends, the page reconnects)
            outbox.close(CLOSE_INTERNAL, "internal error", discard=True)
            return False
        traffic.bytes_sent += len(data)
        return True

    outbox.deliver_now = deliver_now

    async def run(fn: Callable[[], Awaitable[None]]) -> None:
        with contextlib.suppress(*_GONE, SendTimeoutError):
            await fn()
        tg.cancel_scope.cancel()

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(run, receive_loop)
            tg.start_soon(run, send_loop)
    finally:
        outbox.deliver_now = None  # (it holds the protocol: not past the connection)
        connections.discard(outbox)
        outbox.close(discard=True)
        traffic.retire(outbox)
        session = conn.session  # (a read of what the engine thread last set)
        worker.submit(conn, conn.leave)
        log.info("connection end", extra={
            "session": session.id if session else None, "received": conn.received,
            "errors": conn.errors, "sent": outbox.sent, "dropped": outbox.dropped,
            "peak_queue": outbox.peak,
        })
