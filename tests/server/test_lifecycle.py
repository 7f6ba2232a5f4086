"""Sessions come and go: health check, resume after a reload, idle and abandoned
sessions freed, structured logs, and a graceful shutdown that closes sockets cleanly."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from server.live.outbox import Outbox
from server.live.store import CLOSE_IDLE, SessionStore
from server.logs import JsonFormatter, KeyValueFormatter, session_tag
from server.protocol import Play
from server.serve import uvicorn_config
from server.settings import Settings
from tests.helpers.net import free_port, poll
from tests.server.conftest import WS, LiveServer, raw_socket

ROOT = Path(__file__).resolve().parents[2]


def test_healthz_reports_ok_and_the_session_count(client: TestClient) -> None:
    r = client.get("/healthz")
    worker = r.headers["x-bpl-worker"]  # which worker process answered: the only one, 0
    assert r.json() == {"ok": True, "sessions": 0, "worker": worker}
    index, pid, token = worker.split("-")  # (the token: two machines never share a name)
    assert (index, pid) == ("0", str(os.getpid())) and len(token) == 6
    with client.websocket_connect("/ws") as raw:
        WS(raw).hello()
        assert client.get("/healthz").json()["sessions"] == 1


def test_a_reload_resumes_the_same_session_where_it_was(client: TestClient) -> None:
    with client.websocket_connect("/ws") as raw:
        w = WS(raw)
        sid = w.hello()["session"]
        w.step_frame("iteration")
    with client.websocket_connect("/ws") as raw:
        w = WS(raw)
        w.send({"type": "hello", "session": sid})
        run = w.recv_type("run")
        assert run["session"] == sid and run["state"]["iteration"] == 1
    with client.websocket_connect("/ws") as raw:  # an unknown id gets a fresh session
        w = WS(raw)
        w.send({"type": "hello", "session": "not-a-session"})
        assert w.recv_type("run")["session"] != sid


def test_reap_frees_abandoned_and_idle_sessions_but_not_playing_ones() -> None:
    st = Settings(idle_timeout_s=100, disconnect_grace_s=10)
    store = SessionStore(st)
    gone, idle, playing = store.create(), store.create(), store.create()
    t0 = time.monotonic()
    gone.attach(Outbox())
    gone.detach()
    idle_box = Outbox()
    idle.attach(idle_box)
    playing.attach(Outbox())
    playing.handle(Play(type="play", speed=2))

    assert store.reap(now=t0 + 5) == 0  # within the grace period: a reload may come
    assert store.reap(now=t0 + 11) == 1 and store.get(gone.id) is None
    assert len(store) == 2
    assert store.reap(now=t0 + 101) == 1 and store.get(idle.id) is None
    assert store.get(playing.id) is playing
    # the idle learner is told why and its socket is asked to close
    msgs = idle_box.drain()
    assert msgs[-1]["type"] == "error" and msgs[-1]["limit"] == "idle_timeout_s"
    assert idle_box.closed and idle_box.close_code == CLOSE_IDLE


def test_an_idle_connection_is_told_and_closed(client: TestClient) -> None:
    store: SessionStore = client.app.state.sessions  # type: ignore[attr-defined]
    with client.websocket_connect("/ws") as raw:
        w = WS(raw)
        w.hello()
        later = time.monotonic() + store.settings.idle_timeout_s + 1
        raw.portal.call(store.reap, later)  # on the server's loop, as the clock would
        err = w.recv_type("error")
        assert err["code"] == "idle"
        with pytest.raises(ConnectionError, match=str(CLOSE_IDLE)):
            w.recv()
    assert len(store) == 0


def test_log_records_are_one_structured_line_each() -> None:
    rec = logging.LogRecord("backprop_lab.sessions", logging.INFO, __file__, 1,
                            "session end", None, None)
    rec.session = "abc"
    rec.reason = "idle"
    line = JsonFormatter().format(rec)
    assert "\n" not in line
    obj = json.loads(line)
    assert obj["event"] == "session end" and obj["session"] == session_tag("abc")
    assert obj["reason"] == "idle" and obj["level"] == "info"
    kv = KeyValueFormatter().format(rec)
    assert "session end" in kv and f"session={session_tag('abc')}" in kv
    assert "reason=idle" in kv


@contextlib.contextmanager
def served(**env: str) -> Iterator[tuple[subprocess.Popen[str], int, list[dict[str, Any]]]]:
    """``python -m server.serve`` on a free port with ``env`` (``BPL_…`` settings), as
    ``make run`` starts it: ``(process, port, log)``; once the block is left the process
    is gone (killed if it still ran) and ``log`` holds its stderr's lines, each a JSON
    object."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "server.serve"], cwd=ROOT,
                            env={**os.environ, "HOST": "127.0.0.1", "PORT": str(port), **env},
                            stderr=subprocess.PIPE, text=True)
    log: list[dict[str, Any]] = []
    try:
        yield proc, port, log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stderr is not None
        log += [json.loads(line) for line in proc.stderr.read().splitlines() if line]


def test_shutdown_closes_sockets_cleanly_and_logs_the_session() -> None:
    """SIGTERM: the client gets a proper close code, the process exits promptly."""
    with served(BPL_LOG_JSON="true") as (proc, port, events):
        def accepts() -> ClientConnection | None:
            try:
                return connect(f"ws://127.0.0.1:{port}/ws", open_timeout=2)
            except OSError:  # not listening yet
                return None

        with poll(accepts, 15, "the server to accept a WebSocket", every=0.05) as ws:
            ws.send(json.dumps({"type": "hello"}))
            ws.send(json.dumps({"type": "play", "speed": 30}))
            while json.loads(ws.recv(timeout=5))["type"] != "frame":
                pass
            proc.send_signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    ws.recv(timeout=5)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code in (1001, 1012)  # going away / service restart
        # uvicorn re-raises the signal after its graceful shutdown
        assert proc.wait(timeout=10) in (0, -signal.SIGTERM)
    # one kind of line on stderr: uvicorn's start, stop and WebSocket lines are JSON too
    assert "uvicorn.error" in {e["logger"] for e in events}
    names = [e["event"] for e in events if e.get("logger", "").startswith("backprop_lab")]
    assert "session start" in names and "connection end" in names and "server stop" in names
    end = next(e for e in events if e["event"] == "connection end")
    assert end["session"] and end["received"] == 2


def test_per_message_deflate_is_off_however_the_server_is_started() -> None:
    """Compressing numeric frames costs 5-10x the CPU, and limits apply to what arrives."""
    assert uvicorn_config("127.0.0.1", 8000).ws_per_message_deflate is False
    run = next(line for line in (ROOT / "Makefile").read_text().splitlines()
               if "uvicorn" in line or "server.serve" in line)
    assert "server.serve" in run or "--ws-per-message-deflate false" in run
    offer = ("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",)
    with LiveServer(Settings()) as srv, raw_socket(srv.port, extra=offer) as (_, head):
        assert b" 101 " in head.split(b"\r\n")[0]
        assert b"permessage-deflate" not in head.lower()


def test_log_level_quiets_uvicorns_lines_too() -> None:
    """BPL_LOG_LEVEL=WARNING: no request line and no start line on stderr, the app's or
    uvicorn's (uvicorn's stayed at INFO: every probe and file wrote one)."""
    with served(BPL_LOG_LEVEL="WARNING") as (proc, port, lines):
        def answers() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    return True
            except OSError:
                return False

        poll(answers, 15, "the server to answer", every=0.05)
        for _ in range(3):
            answers()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    assert [e for e in lines if e["level"] in ("info", "debug")] == [], lines
