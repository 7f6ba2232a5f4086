"""The session WebSocket at ``/ws``.

Each connection runs a receive loop and a send loop side by side in one task
group; when either ends (the client left, the session was freed, the server is
shutting down) both end and the session is detached, kept for a grace period
so a reload or a dropped network resumes it.

The receive loop is the only way in, so every guard sits here, in order: the
Origin check before accepting, then per message the size limit, the command
rate limit and validation (:mod:`server.protocol`). Whatever a client sends,
it gets at worst an ``error`` message and the connection stays usable. The send
loop is the only place that awaits the socket: a client that stops reading
blocks its own send loop and nothing else (the session and the clock only put
on the bounded :class:`~server.outbox.Outbox`).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

import anyio
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from server import playback
from server.deps import SettingsDep, StoreDep
from server.origin import origin_allowed
from server.outbox import Entry, Outbox, OutboxClosedError, Shared
from server.protocol import (
    Fork,
    Hello,
    Share,
    client_adapter,
    encode,
    encode_bytes,
    server_message,
)
from server.session import Follower, Session
from server.sessions import SessionLimitError

log = logging.getLogger("backprop_lab.ws")

router = APIRouter()

CLOSE_POLICY = 1008  # Origin refused
CLOSE_TRY_LATER = 1013  # the server is full
BATCH_MAX = 32  # messages in one batched WebSocket message, at most
# how a socket reports that the other side went away
_GONE = (WebSocketDisconnect, RuntimeError, anyio.ClosedResourceError, OSError)


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


def describe(e: ValidationError) -> tuple[str, str, str | None]:
    """``(code, message, field)`` for the first problem: the message names the field."""
    err = e.errors(include_url=False)[0]
    kind = err.get("type", "")
    loc = [str(p) for p in err.get("loc", ())]
    # pydantic puts the union tag (e.g. 'configure') first
    field = ".".join(loc[1:]) if len(loc) > 1 else (loc[0] if loc else None)
    msg = err.get("msg", "invalid message")
    if kind == "json_invalid":
        return "malformed", f"not a JSON message: {err.get('ctx', {}).get('error', msg)}", None
    if kind == "union_tag_invalid":
        tag = err.get("ctx", {}).get("tag", "?")
        expected = err.get("ctx", {}).get("expected_tags", "")
        return "unknown_type", f"unknown message type {tag!r} (expected one of {expected})", \
            "type"
    if kind == "union_tag_not_found":
        return "invalid", "a message needs a 'type' field", "type"
    if kind in ("model_attributes_type", "model_type", "dict_type") and not field:
        return "invalid", "a message must be a JSON object with a 'type' field", None
    if kind == "extra_forbidden":
        return "unknown_field", f"unknown field {field!r}", field
    if kind == "finite_number":
        return "invalid", f"{field}: numbers must be finite (no NaN or Infinity)", field
    return "invalid", (f"{field}: {msg}" if field else msg), field


def json_of(entry: Entry) -> bytes:
    """An outbox entry's JSON (a bundle's as an array); a :class:`Shared` entry's is
    computed once for all the connections it was put on."""
    return entry.json(encode_bytes) if isinstance(entry, Shared) else encode_bytes(entry)


@router.websocket("/ws")
async def session_socket(ws: WebSocket, store: StoreDep, settings: SettingsDep) -> None:
    """Drive one session over one socket (see docs/protocol.md)."""
    origin = ws.headers.get("origin")
    if not origin_allowed(origin, ws.headers.get("host"), ws.url.scheme,
                          settings.allowed_origins):
        log.warning("origin refused", extra={"origin": origin, "host": ws.headers.get("host")})
        await ws.close(code=CLOSE_POLICY)
        return
    await ws.accept()
    outbox = Outbox(settings.outbox_limit)
    connections: set[Outbox] = ws.app.state.connections
    connections.add(outbox)
    bucket = TokenBucket(settings.max_commands_per_second, settings.command_burst)
    session: Session | None = None
    follower: Follower | None = None  # set while this connection follows a shared run
    counts = {"received": 0, "errors": 0}
    batch = False  # the client said in its hello that it takes arrays of messages

    def reply_error(code: str, message: str, **extra: object) -> None:
        counts["errors"] += 1
        log.debug("client error", extra={"code": code, "detail": message,
                                         "session": session.id if session else None})
        # a flood of rate-limit errors coalesces into one pending message
        key = "error:rate_limited" if code == "rate_limited" else None
        outbox.put(server_message("error", code=code, message=message, **extra), key=key)

    def open_session(msg: object) -> Session | None:
        nonlocal batch
        s = None
        if isinstance(msg, Hello):
            batch = msg.batch
            if msg.follow and follow(msg.follow):
                return None
        if isinstance(msg, Hello) and msg.session:
            s = store.resume(msg.session)
        if s is None:
            s = new_session()
            if s is None:
                return None
        s.attach(outbox)
        return s

    def new_session() -> Session | None:
        try:
            return store.create()
        except SessionLimitError as e:
            reply_error("limit", str(e), limit="max_sessions")
            outbox.close(CLOSE_TRY_LATER, "server full")
            return None

    def find_class(code: str, instead: str) -> Session | None:
        """The session shared under ``code`` with room for one more follower, or None
        after an error saying why and what happens ``instead``."""
        leader = store.shared(code)
        if leader is None:
            reply_error("unknown_code", f"no run is shared under the code {code!r}; "
                        + instead, field="follow")
        elif len(leader.followers) >= settings.max_followers:
            reply_error("limit", f"this class run already has {settings.max_followers} "
                        "followers (max_followers); " + instead, limit="max_followers",
                        field="follow")
            leader = None
        return leader

    def follow(code: str) -> bool:
        """Follow the run shared under ``code``; False (and an error) if there is none
        or it has no room, and the connection gets its own session instead."""
        nonlocal follower
        leader = find_class(code, "this is a run of your own")
        if leader is None:
            return False
        follower = Follower(outbox)
        leader.add_follower(follower)
        log.info("follow", extra={"session": leader.id, "followers": len(leader.followers)})
        return True

    def handle_follower(msg: object, f: Follower) -> None:
        """A following connection: ``hello`` redraws, ``fork`` makes its own copy,
        anything else would change the teacher's run and is refused."""
        nonlocal session, follower
        leader = f.leader
        assert leader is not None
        if isinstance(msg, Hello):
            leader.add_follower(f)  # drawn afresh
        elif isinstance(msg, Fork):
            try:
                s = store.create()
            except SessionLimitError as e:  # the student keeps watching
                reply_error("limit", str(e), limit="max_sessions")
                return
            try:
                playback.copy_run(s, leader)
            except Exception:
                store.remove(s, "copy failed")
                raise
            leader.remove_follower(f)
            follower = None
            outbox.put(server_message("follow", code=None, active=False, reason="forked"))
            s.attach(outbox)
            session = s
        else:
            reply_error("read_only", "this page follows a shared run and cannot change it; "
                        "make your own copy to explore it", field="type")

    def leave() -> None:
        """Stop following, or let this connection's own session go (kept for a reload,
        as on a disconnect): a ``hello`` with ``follow`` moves the connection to a class."""
        nonlocal session, follower
        if follower is not None and follower.leader is not None:
            follower.leader.remove_follower(follower)
        follower = None
        if session is not None and session.outbox is outbox:
            session.detach()
        session = None

    async def receive_loop() -> None:
        nonlocal session, follower
        while True:
            event = await ws.receive()
            if event["type"] == "websocket.disconnect":
                return
            counts["received"] += 1
            text = event.get("text")
            if text is None:
                reply_error("malformed", "binary frames are not part of the protocol; "
                            "send JSON text")
                continue
            size = len(text) if text.isascii() else len(text.encode())
            if size > settings.max_message_bytes:
                reply_error("too_large", f"message of {size} bytes exceeds "
                            f"max_message_bytes={settings.max_message_bytes}",
                            limit="max_message_bytes")
                continue
            if not bucket.take():
                reply_error("rate_limited", "too many commands; at most "
                            f"{settings.max_commands_per_second:g} per second "
                            "(max_commands_per_second)", limit="max_commands_per_second")
                continue
            try:
                msg = client_adapter.validate_json(text)
            except ValidationError as e:
                code, message, field = describe(e)
                reply_error(code, message, field=field)
                continue
            except (ValueError, RecursionError) as e:
                reply_error("malformed", f"not a JSON message: {e}")
                continue
            if isinstance(msg, Hello) and msg.follow and (
                    session is not None or (follower is not None and follower.leader)):
                # to (another) class run, opened below as on a first hello; a code that
                # leads nowhere changes nothing
                same = follower is not None and follower.leader is store.shared(msg.follow)
                if not same:  # (the class it follows: a hello redraws, handle_follower)
                    if find_class(msg.follow, "nothing changed") is None:
                        continue
                    leave()
            if follower is not None:
                if follower.leader is not None:
                    try:
                        handle_follower(msg, follower)
                    except Exception:
                        log.exception("command failed", extra={"command": type(msg).__name__})
                        reply_error("internal", "the command failed; nothing changed")
                    continue
                follower = None  # sharing ended: this connection may start its own run
            if session is None:
                session = open_session(msg)
                if session is None or isinstance(msg, Hello):
                    continue
            if isinstance(msg, Fork):
                reply_error("invalid", "fork copies a run you follow; this page follows none",
                            field="type")
                continue
            try:
                if isinstance(msg, Share):
                    if msg.on:
                        store.share(session)
                    else:
                        store.unshare(session)
                    continue
                session.handle(msg)
            except Exception:
                log.exception("command failed", extra={"session": session.id,
                                                       "command": type(msg).__name__})
                reply_error("internal", "the command failed; the session is unchanged")

    async def send_loop() -> None:
        while True:
            try:
                first = await outbox.get()
            except OutboxClosedError as c:
                await ws.close(code=c.code, reason=c.reason)
                return
            if not batch:
                item = first.item if isinstance(first, Shared) else first
                for msg in item if isinstance(item, list) else [item]:
                    await ws.send_text(encode(msg))
                continue
            if isinstance(first, Shared) and not len(outbox):
                # a class's usual case: one shared message or bundle, whose text (a
                # bundle's is the batch's) every follower sends as is
                await ws.send_text(first.text(encode_bytes))
                continue
            if isinstance(first, dict) and not len(outbox):
                await ws.send_text(encode(first))  # a lone message goes out bare
                continue
            # one WebSocket message per wake-up: on loopback each send costs as much
            # as encoding a frame, so a tick's frames and state go out together (a
            # bundle is encoded as one JSON array, whose items join the batch's)
            parts: list[bytes] = []
            n = 0
            entry: Entry | None = first
            while entry is not None:
                item = entry.item if isinstance(entry, Shared) else entry
                if isinstance(item, list):
                    parts.append(json_of(entry)[1:-1])
                    n += len(item)
                else:
                    parts.append(json_of(entry))
                    n += 1
                entry = outbox.pop() if n < BATCH_MAX else None
            await ws.send_text((b"[" + b",".join(parts) + b"]").decode())

    async def run(fn: Callable[[], Awaitable[None]]) -> None:
        with contextlib.suppress(*_GONE):
            await fn()
        tg.cancel_scope.cancel()

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(run, receive_loop)
            tg.start_soon(run, send_loop)
    finally:
        connections.discard(outbox)
        outbox.close(discard=True)
        if follower is not None and follower.leader is not None:
            follower.leader.remove_follower(follower)
        if session is not None and session.outbox is outbox:
            session.detach()
        log.info("connection end", extra={
            "session": session.id if session else None, **counts,
            "sent": outbox.sent, "dropped": outbox.dropped, "peak_queue": outbox.peak,
        })
