"""Sockets are bounded in size, time and number: a huge request head is refused, slow
and silent sockets are cut, a WebSocket that never says hello or stops answering pings
is closed, and connections are capped per address and in all (docs/security.md)."""

from __future__ import annotations

import json
import socket
import struct
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.responses import PlainTextResponse
from websockets.sync.client import ClientConnection, connect

from server.guards import CLOSE_TRY_LATER, ConnectionGuard
from server.live.connection import CLOSE_NO_HELLO
from server.live.store import SessionStore
from server.settings import Settings
from tests.helpers.net import mask_frame, poll
from tests.server.conftest import WS, LiveServer, make_app, raw_socket


def read_until_closed(sock: socket.socket, timeout: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and how long that
    took; fails if it is still open after ``timeout`` seconds."""
    sock.settimeout(timeout)
    t0 = time.monotonic()
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            pytest.fail(f"the server kept the connection open for {timeout} s")
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data, time.monotonic() - t0


def server_frames(data: bytes) -> list[tuple[int, bytes]]:
    """(opcode, payload) of each unmasked server frame in ``data`` (RFC 6455 §5.2)."""
    out = []
    i = 0
    while i + 2 <= len(data):
        op, n = data[i] & 0x0F, data[i + 1] & 0x7F
        i += 2
        if n == 126:
            (n,) = struct.unpack("!H", data[i:i + 2])
            i += 2
        elif n == 127:
            (n,) = struct.unpack("!Q", data[i:i + 8])
            i += 8
        out.append((op, data[i:i + n]))
        i += n
    return out


@contextmanager
def ws_client(srv: LiveServer, forwarded_for: str | None = None) -> Iterator[ClientConnection]:
    """A WebSocket to ``srv``, as if a proxy on loopback forwarded ``forwarded_for``."""
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else None
    with connect(srv.url, open_timeout=5, additional_headers=headers) as c:
        yield c


def first_message(c: ClientConnection) -> dict[str, Any]:
    """The first message on ``c`` (a refusal's error, or the greeting's run)."""
    msg = json.loads(c.recv(timeout=5))
    return msg[0] if isinstance(msg, list) else msg


# ---- HTTP: the request head, bounded in bytes and time -------------------------------


@pytest.fixture(scope="module")
def quick() -> Iterator[LiveServer]:
    """A real server whose slow-socket timeouts are short enough for a test."""
    with LiveServer(Settings(request_head_timeout_s=0.5, keep_alive_s=0.5,
                             ws_ping_interval_s=0.2, ws_ping_timeout_s=0.3,
                             hello_timeout_s=30)) as srv:
        yield srv


@pytest.mark.parametrize("path", ["/", "/ws"])
def test_a_50_mb_header_is_refused_with_431_and_the_server_carries_on(
        quick: LiveServer, path: str) -> None:
    head = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{quick.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nX-Big: ").encode()
    chunk = b"a" * 65536
    sent = 0
    with closing(socket.create_connection(("127.0.0.1", quick.port), timeout=5)) as sock:
        try:
            sock.sendall(head)
            while sent < 50 * 2**20:
                sock.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before the 50 MB were all sent
        data, _ = read_until_closed(sock, 5)
    assert data.startswith(b"HTTP/1.1 431 "), data[:200]
    assert b"max_header_bytes" in data
    assert sent < 50 * 2**20  # the server stopped reading: it did not buffer 50 MB
    with closing(socket.create_connection(("127.0.0.1", quick.port), timeout=5)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 200 ")


def test_a_head_just_under_the_limit_is_answered(quick: LiveServer) -> None:
    filler = "a" * (Settings().max_header_bytes - 200)
    with closing(socket.create_connection(("127.0.0.1", quick.port), timeout=5)) as sock:
        sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: {filler}\r\n\r\n"
                     .encode())
        assert sock.recv(4096).startswith(b"HTTP/1.1 200 ")


def test_a_silent_socket_is_closed_after_the_head_timeout(quick: LiveServer) -> None:
    with closing(socket.create_connection(("127.0.0.1", quick.port), timeout=5)) as sock:
        data, took = read_until_closed(sock, 5)
    assert data == b"" and took < 2.5


def test_a_head_sent_a_byte_at_a_time_is_cut_with_408(quick: LiveServer) -> None:
    with closing(socket.create_connection(("127.0.0.1", quick.port), timeout=5)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        t0 = time.monotonic()
        try:
            for _ in range(40):  # slowloris: 4 s of one header byte every 0.1 s
                sock.sendall(b"X")
                time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            pass
        data, _ = read_until_closed(sock, 5)
    assert data.startswith(b"HTTP/1.1 408 ")
    assert time.monotonic() - t0 < 2.5


def test_an_idle_keep_alive_connection_is_closed(quick: LiveServer) -> None:
    with closing(socket.create_connection(("127.0.0.1", quick.port), timeout=5)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        data, took = read_until_closed(sock, 5)
    assert data.startswith(b"HTTP/1.1 200 ") and took < 2.5


def test_a_request_that_takes_too_long_is_cut_with_503() -> None:
    async def slow(scope: Any, receive: Any, send: Any) -> None:
        import anyio
        await anyio.sleep(30)
        await PlainTextResponse("late")(scope, receive, send)

    app = ConnectionGuard(slow, Settings(request_timeout_s=0.2))
    t0 = time.monotonic()
    r = TestClient(app).get("/")  # type: ignore[arg-type]
    assert r.status_code == 503 and "request_timeout_s" in r.text
    assert time.monotonic() - t0 < 5


def test_connections_past_max_connections_get_503() -> None:
    with LiveServer(Settings(max_connections=3)) as srv:
        idle = [socket.create_connection(("127.0.0.1", srv.port), timeout=5) for _ in range(3)]
        try:
            with closing(socket.create_connection(("127.0.0.1", srv.port), timeout=5)) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                assert s.recv(4096).startswith(b"HTTP/1.1 503 ")
        finally:
            for s in idle:
                s.close()

        def answers() -> bool:
            with closing(socket.create_connection(("127.0.0.1", srv.port), timeout=5)) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                return s.recv(4096).startswith(b"HTTP/1.1 200 ")
        poll(answers, 5, "the server to answer again once the idle sockets closed")


def silent_socket(port: int, source: str) -> socket.socket:
    """A TCP connection to ``port`` from loopback address ``source`` that sends nothing."""
    return socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))


def test_one_address_cannot_take_every_connection_slot() -> None:
    with LiveServer(Settings(max_connections_per_address=2)) as srv:
        mine = [silent_socket(srv.port, "127.0.0.2") for _ in range(2)]
        try:
            with closing(silent_socket(srv.port, "127.0.0.2")) as third:
                data, took = read_until_closed(third, 5)  # closed at once
            assert data == b"" and took < 1.0
            with closing(silent_socket(srv.port, "127.0.0.3")) as other:
                other.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                assert other.recv(4096).startswith(b"HTTP/1.1 200 ")
        finally:
            for s in mine:
                s.close()

        def answers() -> bool:
            with closing(silent_socket(srv.port, "127.0.0.2")) as s:
                try:
                    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                    return s.recv(4096).startswith(b"HTTP/1.1 200 ")
                except OSError:
                    return False
        poll(answers, 5, "the address's slots to come back once its sockets closed")


# ---- WebSocket: hello, pings --------------------------------------------------------


def test_a_websocket_that_never_says_hello_is_closed_with_4002() -> None:
    with TestClient(make_app(hello_timeout_s=0.3)) as client:
        with client.websocket_connect("/ws") as raw:
            w = WS(raw)
            with pytest.raises(ConnectionError, match=str(CLOSE_NO_HELLO)):
                w.recv(timeout=3)
        with client.websocket_connect("/ws") as raw:  # nonsense is not a hello either
            w = WS(raw)
            w.send("{not json")
            assert w.error()["code"] == "malformed"
            with pytest.raises(ConnectionError, match=str(CLOSE_NO_HELLO)):
                w.recv(timeout=3)
        with client.websocket_connect("/ws") as raw:  # a page that says hello stays
            w = WS(raw)
            w.hello()
            time.sleep(0.6)
            w.works()


def test_a_websocket_that_stops_answering_pings_is_closed_and_its_session_detached(
        quick: LiveServer) -> None:
    store: SessionStore = quick.app.state.sessions
    before = set(map(id, store))  # other tests' sessions are kept for their grace
    with raw_socket(quick.port) as (sock, head):
        assert b" 101 " in head.split(b"\r\n")[0]
        sock.sendall(mask_frame(json.dumps({"type": "hello"})))
        # the store holds a new session a moment before the connection attaches to it
        session = poll(lambda: next((s for s in store
                                     if id(s) not in before and s.outbox is not None), None),
                       5, "the session to open and attach")
        time.sleep(1.0)  # never reads, never answers a ping
        data, _ = read_until_closed(sock, 5)
    frames = server_frames(data)
    assert any(op == 0x9 for op, _ in frames)  # it was pinged
    close = [payload for op, payload in frames if op == 0x8]
    assert close and struct.unpack("!H", close[0][:2])[0] == 1011  # keepalive ping timeout
    poll(lambda: session.outbox is None, 5, "the session to be detached")


# ---- how many: per address and in all ---------------------------------------------


def test_websockets_per_address_are_capped_and_the_next_is_told_why() -> None:
    with TestClient(make_app(max_websockets_per_address=2)) as client, \
            client.websocket_connect("/ws") as r1, client.websocket_connect("/ws") as r2:
        WS(r1).hello()
        WS(r2).hello()
        with client.websocket_connect("/ws") as r3:
            w = WS(r3)
            err = w.error()
            assert err["code"] == "limit" and err["limit"] == "max_websockets_per_address"
            with pytest.raises(ConnectionError, match=str(CLOSE_TRY_LATER)):
                w.recv()
        WS(r1).works()
        # the operator sees it: /metrics's bpl_refused_total, by limit
        assert ('bpl_refused_total{limit="max_websockets_per_address",worker='
                in client.get("/metrics").text)


def test_websockets_in_all_are_capped() -> None:
    with TestClient(make_app(max_websockets=1)) as client, \
            client.websocket_connect("/ws") as r1:
        WS(r1).hello()
        with client.websocket_connect("/ws") as r2:
            err = WS(r2).error()
            assert err["code"] == "limit" and err["limit"] == "max_websockets"
        WS(r1).works()


def test_behind_a_trusted_proxy_each_forwarded_address_has_its_own_cap() -> None:
    with LiveServer(Settings(max_websockets_per_address=1)) as srv, \
            ws_client(srv, "10.0.0.1") as a1, ws_client(srv, "10.0.0.2") as b1:
        for c in (a1, b1):
            c.send(json.dumps({"type": "hello"}))
            assert first_message(c)["type"] == "run"
        with ws_client(srv, "10.0.0.1") as a2:
            err = first_message(a2)
            assert err["type"] == "error" and err["limit"] == "max_websockets_per_address"
        # this machine itself (no X-Forwarded-For) is in unlimited_addresses
        with ws_client(srv) as l1, ws_client(srv) as l2:
            for c in (l1, l2):
                c.send(json.dumps({"type": "hello"}))
                assert first_message(c)["type"] == "run"


def test_x_forwarded_for_from_an_untrusted_peer_is_ignored() -> None:
    settings = Settings(max_websockets_per_address=1, trusted_proxies=["192.0.2.1"],
                        unlimited_addresses=[])
    with LiveServer(settings) as srv, ws_client(srv, "10.0.0.1") as c1:
        c1.send(json.dumps({"type": "hello"}))
        assert first_message(c1)["type"] == "run"
        with ws_client(srv, "10.0.0.2") as c2:  # counted as 127.0.0.1, like the first
            assert first_message(c2)["limit"] == "max_websockets_per_address"



def test_a_flood_past_the_cap_is_refused_at_the_handshake_and_holds_no_slot() -> None:
    """The first sockets past an address's cap are told why (error + 1013), as a page
    needs; past TOLD_PER_MINUTE of those (a script) the handshake itself is refused
    and the socket closed at once, so 1,000 silent sockets cannot hold uvicorn's
    connection slots for their close handshakes (/healthz got 503 meanwhile)."""
    from server.guards import TOLD_PER_MINUTE

    with LiveServer(Settings(max_websockets_per_address=1)) as srv, \
            ws_client(srv, "10.0.0.1") as first:
        first.send(json.dumps({"type": "hello"}))
        assert first_message(first)["type"] == "run"
        told = refused = 0
        for _ in range(TOLD_PER_MINUTE + 5):
            with raw_socket(srv.port, extra=("X-Forwarded-For: 10.0.0.1",)) as (sock, head):
                status = head.split(b"\r\n")[0]
                if b" 101 " in status:
                    told += 1  # never answers the close: the server waits for it
                else:
                    assert b" 403 " in status
                    sock.settimeout(2)
                    assert sock.recv(4096) == b""  # closed by the server at once
                    refused += 1
        assert (told, refused) == (TOLD_PER_MINUTE, 5)
        # another address is still told why
        with ws_client(srv, "10.0.0.2") as other:
            other.send(json.dumps({"type": "hello"}))
            assert first_message(other)["type"] == "run"
