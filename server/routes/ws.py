"""The session WebSocket at ``/ws``.

Each connection runs a receive loop and a send loop side by side in one task
group; when either ends (the client left, the server is shutting down) both
end and the session is detached, kept for a grace period so a reload or a
dropped network resumes it.
"""

from __future__ import annotations

import logging
import time

import anyio
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from server.deps import SettingsDep, StoreDep
from server.origin import origin_allowed
from server.outbox import Outbox
from server.protocol import Hello, client_adapter, encode, server_message
from server.session import Session
from server.sessions import SessionLimitError

log = logging.getLogger("backprop_lab.ws")

router = APIRouter()


class TokenBucket:
    """Commands-per-second limit: ``rate`` tokens a second, at most ``burst`` saved."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.last = time.monotonic()

    def take(self) -> bool:
        """Spend one token if there is one."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


def describe(e: ValidationError) -> tuple[str, str | None]:
    """A one-line message naming the first invalid field, and that field's path."""
    err = e.errors(include_url=False)[0]
    loc = [str(p) for p in err.get("loc", ()) if not str(p).startswith("tagged-union")]
    # drop the union tag (e.g. 'configure') that pydantic puts first
    field = ".".join(loc[1:]) if len(loc) > 1 else (loc[0] if loc else None)
    msg = err.get("msg", "invalid message")
    if err.get("type") == "union_tag_invalid":
        return f"unknown message type: {msg}", "type"
    if err.get("type") == "union_tag_not_found":
        return "a message needs a 'type' field", "type"
    return (f"{field}: {msg}" if field else msg), field


@router.websocket("/ws")
async def session_socket(ws: WebSocket, store: StoreDep, settings: SettingsDep) -> None:
    """Drive one session over one socket (see docs/protocol.md)."""
    if not origin_allowed(
        ws.headers.get("origin"), ws.headers.get("host"), ws.url.scheme,
        settings.allowed_origins,
    ):
        log.warning("origin refused", extra={"origin": ws.headers.get("origin")})
        await ws.close(code=1008)
        return
    await ws.accept()
    outbox = Outbox(settings.outbox_limit)
    bucket = TokenBucket(settings.max_commands_per_second, settings.command_burst)
    session: Session | None = None

    def reply_error(code: str, message: str, **extra: object) -> None:
        outbox.put(server_message("error", code=code, message=message, **extra))

    async def receive_loop() -> None:
        nonlocal session
        while True:
            text = await ws.receive_text()
            if len(text.encode()) > settings.max_message_bytes:
                reply_error("too_large", f"message of {len(text.encode())} bytes exceeds "
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
                message, field = describe(e)
                reply_error("invalid", message, field=field)
                continue
            except ValueError as e:
                reply_error("invalid", f"not a JSON message: {e}")
                continue
            if session is None:
                if isinstance(msg, Hello) and msg.session:
                    session = store.resume(msg.session)
                if session is None:
                    try:
                        session = store.create()
                    except SessionLimitError as e:
                        reply_error("limit", str(e), limit="max_sessions")
                        continue
                session.attach(outbox)
                if isinstance(msg, Hello):
                    continue
            try:
                session.handle(msg)
            except Exception:
                log.exception("command failed", extra={"session": session.id})
                reply_error("internal", "the command failed; the session is unchanged")

    async def send_loop() -> None:
        while True:
            msg = await outbox.get()
            await ws.send_text(encode(msg))

    async def run(fn) -> None:  # type: ignore[no-untyped-def]
        try:
            await fn()
        except (WebSocketDisconnect, RuntimeError, anyio.ClosedResourceError):
            pass
        tg.cancel_scope.cancel()

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(run, receive_loop)
            tg.start_soon(run, send_loop)
    finally:
        outbox.close()
        if session is not None and session.outbox is outbox:
            session.detach()
