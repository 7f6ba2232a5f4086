"""Caps per client address: one address cannot take every session, a class's seats, or
guess class codes by the thousand (docs/security.md)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from websockets.sync.client import ClientConnection, connect

from server.guards import AddressBuckets, Unlimited, address_key, counted_address
from server.live.store import SessionLimitError, SessionStore
from server.settings import Settings
from tests.helpers.net import poll
from tests.server.conftest import WS, LiveServer, join, make_app, share


def hello(c: ClientConnection, **fields: object) -> list[dict[str, object]]:
    """Send ``hello`` on ``c``; the messages up to its ``run`` (or its error's close)."""
    c.send(json.dumps({"type": "hello", **fields}))
    got: list[dict[str, object]] = []
    while not got or got[-1]["type"] not in ("run", "follow"):
        msg = json.loads(c.recv(timeout=5))
        got += msg if isinstance(msg, list) else [msg]
        if got[-1]["type"] == "error" and got[-1].get("limit") == "max_sessions_per_address":
            break
    return got


@contextmanager
def from_address(srv: LiveServer, address: str) -> Iterator[ClientConnection]:
    """A WebSocket to ``srv`` from ``address`` (named by a proxy on loopback)."""
    with connect(srv.url, open_timeout=5,
                 additional_headers={"X-Forwarded-For": address}) as c:
        yield c


# ---- followers of one class, per address --------------------------------------------


def test_one_address_cannot_take_a_class_s_seats() -> None:
    app = make_app(max_followers_per_address=2)
    with TestClient(app) as client, client.websocket_connect("/ws") as rt, \
            client.websocket_connect("/ws") as r1, client.websocket_connect("/ws") as r2, \
            client.websocket_connect("/ws") as r3:
        t = WS(rt)
        t.hello()
        code = share(t)
        join(WS(r1), code)
        join(WS(r2), code)
        third = WS(r3)
        third.send({"type": "hello", "follow": code})
        err = third.error()
        assert err["code"] == "limit" and err["limit"] == "max_followers_per_address"
        assert err["field"] == "follow"
        assert third.recv_type("run")["session"]  # a run of its own instead
    # a seat from this address frees when one of its pages stops following
    store: SessionStore = app.state.sessions
    with TestClient(app) as client, client.websocket_connect("/ws") as rt:
        t = WS(rt)
        t.hello()
        code = share(t)
        leader = store.shared(code)
        assert leader is not None
        with client.websocket_connect("/ws") as r1, client.websocket_connect("/ws") as r2:
            join(WS(r1), code)
            join(WS(r2), code)
            assert store.followers_from(leader.id, code, "testclient") == 2
        poll(lambda: store.followers_from(leader.id, code, "testclient") == 0, 5,
             "the seats to free")
        with client.websocket_connect("/ws") as r3, client.websocket_connect("/ws") as r4:
            join(WS(r3), code)  # the first two went away: their seats are free again
            join(WS(r4), code)


def test_followers_from_other_addresses_still_join() -> None:
    with LiveServer(Settings(max_followers_per_address=1)) as srv, \
            from_address(srv, "10.0.0.9") as teacher:
        hello(teacher)
        teacher.send(json.dumps({"type": "share"}))
        code = None
        while code is None:
            msg = json.loads(teacher.recv(timeout=5))
            for m in msg if isinstance(msg, list) else [msg]:
                if m["type"] == "share":
                    code = m["code"]
        with from_address(srv, "10.0.0.1") as a1, from_address(srv, "10.0.0.1") as a2, \
                from_address(srv, "10.0.0.2") as b1:
            assert hello(a1, follow=code)[0]["type"] == "follow"
            refused = hello(a2, follow=code)
            assert refused[0]["limit"] == "max_followers_per_address"
            assert hello(b1, follow=code)[0]["type"] == "follow"


# ---- wrong class codes, per address --------------------------------------------------


def test_wrong_codes_are_rate_limited_per_address_and_then_not_looked_up() -> None:
    with LiveServer(Settings(max_code_failures_per_minute=3)) as srv, \
            from_address(srv, "10.0.0.9") as teacher:
        hello(teacher)
        teacher.send(json.dumps({"type": "share"}))
        code = None
        while code is None:
            msg = json.loads(teacher.recv(timeout=5))
            for m in msg if isinstance(msg, list) else [msg]:
                if m["type"] == "share":
                    code = m["code"]
        with from_address(srv, "10.0.0.1") as guesser:
            hello(guesser)
            seen = []
            for guess in ("AAAAAA", "BBBBBB", "CCCCCC", "DDDDDD", code):
                guesser.send(json.dumps({"type": "hello", "follow": guess}))
                while True:
                    msg = json.loads(guesser.recv(timeout=5))
                    m = msg[0] if isinstance(msg, list) else msg
                    if m["type"] == "error":
                        seen.append(m)
                        break
            assert [m["code"] for m in seen] == ["unknown_code"] * 3 + ["rate_limited"] * 2
            limited = seen[-1]  # the right code too: refused without being looked up
            assert limited["limit"] == "max_code_failures_per_minute"
            assert "try again in" in str(limited["message"]) and code not in str(limited)
        with from_address(srv, "10.0.0.2") as other:  # another address is not affected
            assert hello(other, follow=code)[0]["type"] == "follow"


def test_the_code_bucket_refills_over_the_minute() -> None:
    now = [0.0]
    b = AddressBuckets(10, 60.0, clock=lambda: now[0])
    for _ in range(10):
        assert b.allowed("a")
        b.spend("a")
    assert not b.allowed("a") and b.allowed("b")
    assert b.wait_s("a") == pytest.approx(6.0)  # 10 a minute: one every 6 s
    now[0] = 6.0
    assert b.allowed("a")
    b.spend("a")
    assert not b.allowed("a")
    now[0] = 1000.0  # buckets that refilled are forgotten once there are many
    for i in range(1100):
        b.spend(f"x{i}")
    now[0] = 2000.0
    b.spend("y")
    assert len(b) <= 1100


# ---- sessions, per address -----------------------------------------------------------


def test_a_script_cannot_take_every_session_from_one_address() -> None:
    app = make_app(max_sessions_per_address=5)
    store: SessionStore = app.state.sessions
    with TestClient(app) as client:
        for _ in range(5):  # connect, one command, close: the session is kept for a reload
            with client.websocket_connect("/ws") as raw:
                WS(raw).hello()
        with client.websocket_connect("/ws") as raw:
            w = WS(raw)
            w.send({"type": "hello"})
            err = w.error()
            assert err["code"] == "limit" and err["limit"] == "max_sessions_per_address"
            assert "max_sessions_per_address" in err["message"]
            with pytest.raises(ConnectionError, match="1013"):
                w.recv()
        assert len(store) == 5
        with client.websocket_connect("/ws") as raw:  # its own sessions still resume
            sid = next(iter(store)).id
            w = WS(raw)
            w.send({"type": "hello", "session": sid})
            assert w.recv_type("run")["session"] == sid


def test_sessions_per_address_leave_other_addresses_alone() -> None:
    store = SessionStore(Settings(max_sessions_per_address=2))
    a = [store.create(address="10.0.0.1") for _ in range(2)]
    with pytest.raises(SessionLimitError) as full:
        store.create(address="10.0.0.1")
    assert full.value.limit == "max_sessions_per_address"
    store.create(address="10.0.0.2")
    store.create()  # an address the caps leave alone
    store.create()
    store.remove(a[0], "test")
    assert store.sessions_of("10.0.0.1") == 1
    store.create(address="10.0.0.1")


def test_a_fork_past_the_address_s_sessions_is_refused_and_the_student_keeps_watching(
        ) -> None:
    app = make_app(max_sessions_per_address=2)
    with TestClient(app) as client, client.websocket_connect("/ws") as rt, \
            client.websocket_connect("/ws") as r1, client.websocket_connect("/ws") as r2:
        t = WS(rt)
        t.hello()
        code = share(t)
        WS(r1).hello()  # this address's second session
        s = WS(r2)
        join(s, code)
        s.send({"type": "fork"})
        err = s.error()
        assert err["limit"] == "max_sessions_per_address"
        t.send({"type": "step", "unit": "phase"})
        s.recv_type("frame")  # still following


# ---- what an address is ---------------------------------------------------------------


def test_addresses_are_counted_by_ip_and_ipv6_by_its_64_network() -> None:
    assert address_key("10.0.0.1") == "10.0.0.1"
    assert address_key("2001:db8:1:2::5") == address_key("2001:db8:1:2:ffff::9")
    assert address_key("2001:db8:1:2::5") != address_key("2001:db8:1:3::5")
    assert address_key("::ffff:10.0.0.1") == "10.0.0.1"
    assert address_key(None) == "unknown"
    unlimited = Unlimited(["127.0.0.1", "::1", "10.1.0.0/16"])
    assert counted_address({"client": ("127.0.0.1", 5)}, unlimited) is None
    assert counted_address({"client": ("::ffff:127.0.0.1", 5)}, unlimited) is None
    assert counted_address({"client": ("10.1.2.3", 5)}, unlimited) is None
    assert counted_address({"client": ("10.2.0.1", 5)}, unlimited) == "10.2.0.1"


def test_a_full_server_makes_room_by_freeing_the_run_left_longest_ago() -> None:
    """Sessions opened and left (a script, or many closed tabs) do not lock learners out
    until their grace period ends: when the store is full, the one whose page left
    longest ago is freed; sessions still connected are never taken."""
    from server.live.outbox import Outbox
    from server.live.store import SessionLimitError, SessionStore
    from server.settings import Settings

    store = SessionStore(Settings(max_sessions=3, disconnect_grace_s=600))
    a, b, c = store.create(), store.create(), store.create()
    for s in (a, b, c):
        s.attach(Outbox())
    b.detach()
    a.detach()  # a left after b: b goes first
    d = store.create()
    assert store.get(b.id) is None and store.get(a.id) is a and store.get(d.id) is d
    d.attach(Outbox())
    store.create()  # a goes
    assert store.get(a.id) is None
    import pytest
    with pytest.raises(SessionLimitError):
        store.create()  # everyone left is connected


# ---- copies and loads, per address ----------------------------------------------------


def test_one_address_cannot_copy_or_load_runs_by_the_dozen() -> None:
    """Each fork and load replays a run (the heaviest work a command asks for): past
    max_copies_per_minute an address is told when to try again, a student keeps
    watching the class, and a learner's run stays as it was."""
    app = make_app(max_copies_per_minute=2)
    with TestClient(app) as client, client.websocket_connect("/ws") as rt:
        t = WS(rt)
        t.hello()
        code = share(t)
        for _ in range(2):
            with client.websocket_connect("/ws") as rs:
                s = WS(rs)
                join(s, code)
                s.send({"type": "fork"})
                assert s.recv_type("follow", where=lambda m: not m["active"])["reason"] == "forked"
        with client.websocket_connect("/ws") as rs:
            s = WS(rs)
            join(s, code)
            s.send({"type": "fork"})
            err = s.error()
            assert err["code"] == "rate_limited" and err["limit"] == "max_copies_per_minute"
            assert "try again in" in err["message"]
            s.send({"type": "hello"})  # still following the class, read-only
            assert s.recv_type("run")["session"] is None
        # a load counts too: the learner's own run is left as it was
        t.send({"type": "step", "unit": "iteration"})
        saved = t.recv_type("save")["run"]  # the page's own copy of its run
        t.send({"type": "load", "run": saved})
        err = t.error()
        assert err["limit"] == "max_copies_per_minute"
        assert app.state.sessions.shared(code).stepper.iteration == 1
