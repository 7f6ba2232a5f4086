"""A client that stops reading costs bounded memory and never delays the others.

Real uvicorn on a free port (in a thread of this process, so the test can look at
the sessions); the stalled client is a raw socket with a tiny receive buffer that
asks for big frames and then reads nothing.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time

import numpy as np
import psutil
from websockets.sync.client import connect

from server.live.session import Session
from server.settings import Settings
from tests.helpers.net import mask_frame, poll
from tests.server.conftest import LiveServer, raw_socket

BIG = {"hidden": [48, 48], "batch_size": 200, "n_samples": 400, "dataset": "circle"}


def stalled_session(srv: LiveServer) -> Session:
    for s in srv.app.state.sessions:
        if tuple(s.config.hidden) == (48, 48):
            return s
    raise AssertionError("the stalled client's session is not there")


def count_updates(ws, seconds: float) -> int:  # type: ignore[no-untyped-def]
    """Update frames (one per iteration) that arrive at a reading client in ``seconds``."""
    n = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        msg = ws.recv(timeout=2)
        if msg.startswith('{"type":"frame","phase":"update"'):
            n += 1
    return n


def test_a_stalled_reader_stays_bounded_while_another_client_keeps_its_rate(
    live: LiveServer,
) -> None:
    limit = live.app.state.settings.outbox_limit
    me = psutil.Process()
    with raw_socket(live.port) as (sock, head):
        assert b" 101 " in head.split(b"\r\n")[0]
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        for msg in ({"type": "hello"}, {"type": "configure", "config": BIG},
                    {"type": "play", "speed": 60}):
            sock.sendall(mask_frame(json.dumps(msg)))
        # ...and never read again

        with connect(live.url, open_timeout=5, max_size=None) as ws:
            ws.send(json.dumps({"type": "hello"}))
            ws.send(json.dumps({"type": "play", "speed": 30}))
            count_updates(ws, 1.5)  # the stalled client fills every buffer meanwhile
            stalled = stalled_session(live)
            assert stalled.playing and stalled.outbox is not None
            rss0 = me.memory_info().rss
            it0 = stalled.stepper.iteration
            lengths = []
            t0 = time.monotonic()
            n = 0
            while time.monotonic() - t0 < 2.0:
                n += count_updates(ws, 0.2)
                assert stalled.outbox is not None
                lengths.append(len(stalled.outbox))
            rate = n / (time.monotonic() - t0)
            grown = (me.memory_info().rss - rss0) / 2**20
            ob = stalled.outbox
            assert ob is not None
            iterations = stalled.stepper.iteration - it0

    # the stalled session kept playing (its frames coalesced, none piled up)...
    assert iterations > 40, iterations
    assert max(lengths) <= limit and ob.peak <= limit
    assert ob.dropped > 100
    # ...its unsent frames (~0.5 MB of arrays an iteration) did not accumulate...
    assert grown < 25, f"server memory grew by {grown:.1f} MB"
    # ...and the reading client still got its iterations at 30 a second (a stalled send
    # blocking the clock would stop it; the margin is for a busy 2-core machine)
    assert rate > 20, f"reading client got {rate:.1f} iterations/s"


def test_a_client_that_stops_reading_is_cut_off_and_its_session_paused() -> None:
    """A send that cannot complete within send_timeout_s closes the connection; the
    session is detached (kept for a reload) and stops playing, so it costs nothing."""
    with LiveServer(Settings(send_timeout_s=1.0, outbox_max_mb=1.0)) as srv, \
            raw_socket(srv.port) as (sock, head):
        assert b" 101 " in head.split(b"\r\n")[0]
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        for msg in ({"type": "hello"}, {"type": "configure", "config": BIG},
                    {"type": "play", "speed": 60}):
            sock.sendall(mask_frame(json.dumps(msg)))
        poll(lambda: any(tuple(s.config.hidden) == (48, 48) for s in srv.app.state.sessions),
             5, "the stalled client's session")
        stalled = stalled_session(srv)
        poll(lambda: stalled.playing, 5, "play to start")
        # the client never reads: once its buffers are full a send blocks, and is cut
        poll(lambda: stalled.outbox is None, 15, "the stalled connection to be cut")
        assert not stalled.playing
        assert stalled.detached_at is not None  # kept for a reload, not freed
        assert stalled in list(srv.app.state.sessions)
        # and the server's end of the TCP connection is gone too (aborted: closing it
        # would wait forever to flush the frame the client does not read), so it holds
        # no descriptor, no connection slot and no buffered megabytes
        mine = sock.getsockname()
        poll(lambda: not server_ends(srv.port, mine), 3, "the server to drop the socket")


def server_ends(port: int, peer: tuple[str, int]) -> list[str]:
    """States of this process's TCP sockets on ``port`` connected to ``peer`` (the
    server's end of that client's connection; the server runs in this process)."""
    return [c.status for c in psutil.Process().net_connections(kind="tcp")
            if c.laddr and c.laddr.port == port and c.raddr
            and (c.raddr.ip, c.raddr.port) == peer]


def test_a_peer_that_never_answers_a_close_loses_its_socket_within_the_close_timeout(
) -> None:
    """A WebSocket the server closes (here: no hello in time, 4002) whose peer never
    replies is dropped after ws_close_timeout_s, not after uvicorn's fixed ten seconds:
    a script opening such sockets cannot hold uvicorn's connection slots."""
    with LiveServer(Settings(hello_timeout_s=0.3, ws_close_timeout_s=0.5)) as srv, \
            raw_socket(srv.port) as (sock, head):
        assert b" 101 " in head.split(b"\r\n")[0]
        mine = sock.getsockname()
        poll(lambda: bool(server_ends(srv.port, mine)), 2, "the server's end")
        t0 = time.monotonic()
        poll(lambda: not server_ends(srv.port, mine), 5, "the server to drop the socket")
        assert time.monotonic() - t0 < 3.0
        sock.settimeout(2)
        data = b""
        with contextlib.suppress(OSError):
            while chunk := sock.recv(4096):
                data += chunk
        assert data[:1] == b"\x88" and int.from_bytes(data[2:4], "big") == 4002


def test_the_outbox_of_a_slow_reader_is_bounded_in_bytes() -> None:
    """Frames of a big network are dropped oldest first once the queued bytes pass
    outbox_max_mb, however few messages that is."""
    from server.live.outbox import Outbox, approx_bytes

    ob = Outbox(limit=64, max_bytes=2**20)
    frame = {"type": "frame", "values": {"L1.a": np.zeros((200, 128))}}  # ~0.5 MB encoded
    for _ in range(20):
        ob.put(frame, droppable=True)
    assert ob.bytes <= 2**20 and ob.peak_bytes <= 2**20
    assert len(ob) == 2**20 // approx_bytes(frame)
    assert ob.dropped == 20 - len(ob)
