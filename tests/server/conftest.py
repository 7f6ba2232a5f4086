"""Shared helpers for server tests: an in-process app and a WebSocket client that
never hangs (every receive has a timeout), plus a real uvicorn on a free port."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from server.app import create_app
from server.live import views
from server.live.outbox import Outbox
from server.live.session import Session
from server.protocol import RunSettings, client_adapter
from server.serve import uvicorn_config
from server.settings import Settings
from tests.helpers.net import free_port, poll
from tests.helpers.packed import decode_packed, strict_loads
from tests.helpers.site import Redis

Msg = dict[str, Any]


class WS:
    """A TestClient WebSocket with timeouts and type-aware receiving."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.seen: list[Msg] = []
        self.pending: list[Msg] = []  # the rest of a batched (array) message
        self.layouts: dict[int, Any] = {}  # packed frames' layouts, each sent once
        self.batches = 0

    def send(self, msg: Msg | str) -> None:
        """Send a dict as JSON, or a raw string as is."""
        self.ws.send_text(msg if isinstance(msg, str) else json.dumps(msg))

    def recv(self, timeout: float = 5.0) -> Msg:
        """The next server message (fails the test after ``timeout`` seconds)."""
        if self.pending:
            msg = self.pending.pop(0)
            self.seen.append(msg)
            return msg

        async def get() -> Any:
            with anyio.fail_after(timeout):
                return await self.ws._send_rx.receive()
        event = self.ws.portal.call(get)
        if event["type"] == "websocket.close":
            raise ConnectionError(f"closed {event.get('code')} {event.get('reason', '')}")
        text = event.get("text")
        msg = strict_loads(text) if text is not None else decode_packed(event["bytes"],
                                                                        self.layouts)
        if isinstance(msg, list):  # a batch (the client said "batch" in its hello)
            self.batches += 1
            msg, self.pending = msg[0], msg[1:]
        self.seen.append(msg)
        return msg

    def recv_type(self, type_: str, timeout: float = 5.0,
                  where: Callable[[Msg], bool] | None = None) -> Msg:
        """The next message of ``type_`` (matching ``where``), skipping others."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {type_!r} message within {timeout} s")
            m = self.recv(left)
            if m["type"] == type_ and (where is None or where(m)):
                return m

    def handled(self, timeout: float = 5.0) -> None:
        """Wait until the server has handled everything sent so far and what that put on
        this socket's outbox has arrived: a connection's messages are handled in order,
        so the error answering a bogus one comes after it all."""
        self.send({"type": "sync-marker"})
        self.recv_type("error", timeout, where=lambda m: "sync-marker" in m["message"])

    def error(self, timeout: float = 5.0) -> Msg:
        """The next ``error`` message."""
        return self.recv_type("error", timeout)

    def hello(self) -> Msg:
        """Open the session; returns its ``run`` message."""
        self.send({"type": "hello"})
        return self.recv_type("run")

    def configure(self, config: dict[str, Any]) -> Msg:
        """Start a run of ``config``; returns its ``run`` message (its timeline read)."""
        self.send({"type": "configure", "config": config})
        run = self.recv_type("run")
        self.recv_type("timeline")
        return run

    def step_frame(self, unit: str = "phase") -> Msg:
        """Step once and return the (last) frame it produced."""
        self.send({"type": "step", "unit": unit})
        return self.recv_type("frame")

    def works(self) -> None:
        """Assert the session still answers: a step yields a frame and a state."""
        self.send({"type": "step", "unit": "phase"})
        f = self.recv_type("frame")
        assert f["phase"] in ("forward", "loss", "backward", "update")
        self.recv_type("state")


def share(ws: WS) -> str:
    """Share ``ws``'s run with a class; the code the server gave."""
    ws.send({"type": "share"})
    code = ws.recv_type("share")["code"]
    assert isinstance(code, str) and len(code) == 6
    return code


def join(ws: WS, code: str) -> Msg:
    """Follow the class run ``code`` (any letter case) from ``ws``; its ``run`` message."""
    ws.send({"type": "hello", "follow": code, "batch": True})
    f = ws.recv_type("follow")
    assert f["active"] is True and f["code"] == code.upper()
    return ws.recv_type("run")


@contextlib.contextmanager
def teacher_and_student(app: FastAPI | None = None) -> Iterator[tuple[TestClient, WS, WS]]:
    """A client of ``app`` (default :func:`make_app`) with two sockets: a teacher whose
    session is open (its ``run`` consumed) and a student not greeted yet."""
    with TestClient(app or make_app()) as client, client.websocket_connect("/ws") as r1, \
            client.websocket_connect("/ws") as r2:
        t = WS(r1)
        t.hello()
        yield client, t, WS(r2)


def attached_session(
    *, greeting: bool = False, outbox: int = 512, **cfg: Any
) -> tuple[Session, Outbox]:
    """An in-process session with run settings ``cfg`` attached to a fresh outbox;
    its greeting (``run``, ``state``…) is drained unless ``greeting`` keeps it."""
    s = Session(Settings(), RunSettings(**cfg))
    ob = Outbox(outbox)
    s.attach(ob)
    if not greeting:
        ob.drain()
    return s, ob


def make_app(**overrides: Any) -> FastAPI:
    """An app with test-friendly settings (``overrides`` win); the TestClient's
    ``testserver`` Host is allowed here, not in production's ``auto``."""
    overrides.setdefault("allowed_hosts", ["auto", "testserver"])
    # tests hold sockets that say hello only when the test gets to it, maybe after
    # seconds of other work on a busy machine (the hello deadline is tested on its own)
    overrides.setdefault("hello_timeout_s", 60.0)
    return create_app(Settings(**overrides))


@pytest.fixture
def client() -> Iterator[TestClient]:
    """A TestClient (context manager: lifespan runs, so the clock ticks)."""
    with TestClient(make_app()) as c:
        yield c


@pytest.fixture
def ws(client: TestClient) -> Iterator[WS]:
    """An open session socket, greeted (its ``run`` message consumed)."""
    with client.websocket_connect("/ws") as raw:
        w = WS(raw)
        w.hello()
        w.recv_type("state")
        yield w


class LiveServer:
    """A real uvicorn serving an app in a thread of this process (so tests can look at
    the app's sessions and outboxes while real sockets talk to it)."""

    def __init__(self, settings: Settings) -> None:
        self.port = free_port()
        self.app = create_app(settings)
        config = uvicorn_config("127.0.0.1", self.port, settings, factory=False,
                                log_level="warning")
        config.app = self.app
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        """``ws://`` URL of the session socket."""
        return f"ws://127.0.0.1:{self.port}/ws"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        poll(lambda: self.server.started, 10, "uvicorn to start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def redis() -> Iterator[Redis]:
    """A real redis-server of a test module's own (Debian's, on a free loopback port)."""
    r = Redis()
    r.start()
    try:
        yield r
    finally:
        r.stop()


@pytest.fixture(scope="module")
def live() -> Iterator[LiveServer]:
    """One real server for a test module."""
    with LiveServer(Settings(outbox_limit=16)) as srv:
        yield srv


@contextlib.contextmanager
def raw_socket(port: int, origin: str | None = None, host: str | None = None,
               extra: tuple[str, ...] = ()) -> Iterator[tuple[socket.socket, bytes]]:
    """A plain TCP socket after a WebSocket handshake: ``(sock, response head)``."""
    import base64
    import os

    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        "GET /ws HTTP/1.1", f"Host: {host or f'127.0.0.1:{port}'}", "Upgrade: websocket",
        "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13",
    ]
    if origin is not None:
        lines.append(f"Origin: {origin}")
    lines += extra
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    try:
        yield sock, head
    finally:
        sock.close()


@pytest.fixture
def unpaced_views(monkeypatch: pytest.MonkeyPatch) -> None:
    """A second passes between any two looks at the views' clock, and a view's cost
    does not space it out: every view goes out at once (``usefixtures``)."""
    now = [1000.0]

    def tick() -> float:
        now[0] += 1.0
        return now[0]

    monkeypatch.setattr(views.time, "monotonic", tick)
    monkeypatch.setattr(views, "COST_FACTOR", 0.0)


def handle(s: Session, msg: dict[str, Any]) -> None:
    """``msg`` (a client message, validated) handled by ``s`` at once, in process."""
    s.handle(client_adapter.validate_python(msg))
