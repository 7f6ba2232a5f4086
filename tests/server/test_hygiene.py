"""Hygiene an operator or a browser notices: SIGTERM closes sockets with 1001, pages
carry a Content-Security-Policy and friends, no API schema is public, and the session
id (which controls a session) is never in a log line or a URL."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from server.guards import CONTENT_SECURITY_POLICY
from server.logs import JsonFormatter, KeyValueFormatter, session_tag
from tests.helpers.net import free_port, poll
from tests.server.conftest import WS, join, make_app, share

ROOT = Path(__file__).resolve().parents[2]


# ---- SIGTERM: going away --------------------------------------------------------------


def test_sigterm_closes_every_socket_with_1001_going_away() -> None:
    port = free_port()
    env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port)}
    proc = subprocess.Popen([sys.executable, "-m", "server.serve"], cwd=ROOT, env=env,
                            stderr=subprocess.DEVNULL)
    try:
        def accepts() -> ClientConnection | None:
            try:
                return connect(f"ws://127.0.0.1:{port}/ws", open_timeout=2)
            except OSError:  # not listening yet
                return None

        with poll(accepts, 15, "the server to accept a WebSocket", every=0.05) as playing, \
                connect(f"ws://127.0.0.1:{port}/ws", open_timeout=2) as idle:
            playing.send(json.dumps({"type": "hello"}))
            playing.send(json.dumps({"type": "play", "speed": 30}))
            while json.loads(playing.recv(timeout=5))["type"] != "frame":
                pass
            idle.send(json.dumps({"type": "hello"}))
            idle.recv(timeout=5)
            proc.send_signal(signal.SIGTERM)
            for ws in (playing, idle):
                with pytest.raises(ConnectionClosed) as closed:
                    while True:
                        ws.recv(timeout=5)
                assert closed.value.rcvd is not None
                assert closed.value.rcvd.code == 1001  # going away, not 1012
        assert proc.wait(timeout=10) in (0, -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# ---- headers, and what is not served ----------------------------------------------------


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(make_app()) as c:
        yield c


@pytest.mark.parametrize("path", ["/", "/static/js/main.js", "/healthz"])
def test_responses_carry_csp_nosniff_and_a_referrer_policy(client: TestClient,
                                                          path: str) -> None:
    r = client.get(path)
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "no-referrer"


def test_the_page_has_no_inline_script_style_or_handler() -> None:
    """What the policy forbids must not be in the markup: the browser test
    (tests/browser/test_csp.py) checks the page really runs under it."""
    for page in (ROOT / "templates").glob("*.html"):
        html = page.read_text()
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert "src=" in tag, f"{page.name}: inline script {tag}"
        assert "<style" not in html, page.name
        assert not re.search(r"\sstyle\s*=", html), page.name
        assert not re.search(r"\son[a-z]+\s*=", html), page.name
    for js in (ROOT / "static" / "js").rglob("*.js"):
        src = js.read_text()
        # h(tag, {style: ...}) and setAttribute('style', ...) are inline style attributes;
        # element.style.x = ... (CSSOM) is allowed
        assert not re.search(r"[{,]\s*style\s*:", src), f"{js.name}: a style attribute"
        assert "setAttribute('style'" not in src and 'setAttribute("style"' not in src
        assert not re.search(r"\son[a-z]+=[\"']", src), f"{js.name}: an inline handler"
        assert "eval(" not in src and "new Function(" not in src, js.name


@pytest.mark.parametrize("path", ["/openapi.json", "/docs", "/redoc", "/docs/oauth2-redirect"])
def test_no_api_schema_or_docs_page_is_public(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 404


def test_csp_constant_is_what_pages_send(client: TestClient) -> None:
    assert client.get("/").headers["content-security-policy"] == CONTENT_SECURITY_POLICY


# ---- the session id: never in a log line, never in a URL ---------------------------------


def test_session_ids_never_reach_the_logs_only_their_tags_do() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    kv_out = io.StringIO()
    kv_handler = logging.StreamHandler(kv_out)
    kv_handler.setFormatter(KeyValueFormatter())
    logger = logging.getLogger("backprop_lab")
    level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    logger.addHandler(kv_handler)
    try:
        app = make_app()
        with TestClient(app) as c, c.websocket_connect("/ws") as r1, \
                c.websocket_connect("/ws") as r2:
            t, s = WS(r1), WS(r2)
            teacher = t.hello()["session"]
            t.send({"type": "configure", "config": {"hidden": [500]}})  # an error, logged
            t.error()
            code = share(t)
            join(s, code)
            s.send({"type": "fork"})  # a copy: logged with its source
            student = s.recv_type("run", where=lambda m: m["session"] is not None)["session"]
            c.post("/runs/run.json", data={"session": teacher})
            sessions = app.state.sessions
            for sess in list(sessions):
                r1.portal.call(sessions.remove, sess, "test")
    finally:
        logger.removeHandler(handler)
        logger.removeHandler(kv_handler)
        logger.setLevel(level)
    logs = out.getvalue() + kv_out.getvalue()
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert {"session start", "sharing start", "follow", "run copied", "session end"} <= {
        e["event"] for e in events}
    for sid in (teacher, student):
        assert sid not in logs
        assert session_tag(sid) in logs
    assert all(re.fullmatch(r"[0-9a-f]{8}", e["session"]) for e in events
               if isinstance(e.get("session"), str))


def test_downloads_take_the_session_id_in_a_post_body_not_the_url(client: TestClient) -> None:
    with client.websocket_connect("/ws") as raw:
        w = WS(raw)
        sid = w.hello()["session"]
        w.step_frame("iteration")
        for name in ("run.json", "metrics.csv", "weights.csv"):
            r = client.post(f"/runs/{name}", data={"session": sid})
            assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
            assert r.headers["cache-control"] == "no-store"
            # the old URL form, with the id in the path, is gone
            assert client.get(f"/runs/{sid}/{name}").status_code in (404, 405)
            assert client.get(f"/runs/{name}").status_code == 405
        assert client.post("/runs/run.json", data={"session": "nope"}).status_code == 404
        assert client.post("/runs/run.json", data={}).status_code == 404
        big = client.post("/runs/run.json", content=b"session=" + b"x" * 5000,
                          headers={"content-type": "application/x-www-form-urlencoded"})
        assert big.status_code == 413
