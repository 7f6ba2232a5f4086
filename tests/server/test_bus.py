"""The in-memory bus (server/live/bus.py): what ``make run`` uses alone, and, with one
hub handed to several buses, what two workers of a site see of each other — the same
rules as Redis's (two workers never hold one code; a teacher's page with the share key
takes its class along; a class's stream reaches every subscribed worker in order).
And two apps of this process on one hub: a class across them, without Redis."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from server.app import create_app
from server.live.bus import CODE_TTL_S, BusDownError, MemoryBus, MemoryHub
from server.settings import Settings
from tests.server.conftest import WS, join


class Inbox:
    """A bus handler that keeps what it is given."""

    def __init__(self) -> None:
        self.classes: list[tuple[str, bytes]] = []
        self.worker: list[bytes] = []
        self.ups = 0

    def on_class(self, code: str, data: bytes) -> None:
        self.classes.append((code, data))

    def on_worker(self, data: bytes) -> None:
        self.worker.append(data)

    def on_up(self) -> None:
        self.ups += 1


async def two(hub: MemoryHub) -> tuple[MemoryBus, Inbox, MemoryBus, Inbox]:
    a, b = MemoryBus("a", hub), MemoryBus("b", hub)
    ia, ib = Inbox(), Inbox()
    await a.start(ia)
    await b.start(ib)
    return a, ia, b, ib


async def settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


def test_alone_it_shares_with_no_one_and_is_up_at_once() -> None:
    async def go() -> None:
        bus, inbox = MemoryBus("0"), Inbox()
        assert bus.local
        await bus.start(inbox)
        assert bus.up and inbox.ups == 1
        assert await bus.claim("K7Q2XM", "s") == ("ok", None)
        assert await bus.owner("K7Q2XM") == "0"
        await bus.stop()
        with pytest.raises(BusDownError):
            await bus.claim("ABCDEF", "s")

    asyncio.run(go())


def test_two_workers_never_hold_the_same_code() -> None:
    async def go() -> None:
        a, _, b, _ = await two(MemoryHub())
        assert not a.local
        assert await a.claim("K7Q2XM", "secret-a") == ("ok", None)
        assert await b.claim("K7Q2XM", "secret-b") == ("taken", "a")
        assert await b.claim("K7Q2XM", "") == ("taken", "a")
        assert await a.claim("K7Q2XM", "secret-a") == ("ok", None)  # its own again
        assert await b.owner("K7Q2XM") == "a"

    asyncio.run(go())


def test_the_owners_share_key_moves_the_class_and_the_old_owner_learns_it_lost() -> None:
    async def go() -> None:
        a, _, b, _ = await two(MemoryHub())
        await a.claim("K7Q2XM", "secret")
        assert await b.claim("K7Q2XM", "secret") == ("moved", "a")
        assert await a.owner("K7Q2XM") == "b"
        assert await a.refresh({"K7Q2XM": "secret"}) == ["K7Q2XM"]
        # and a worker cannot give up a code it no longer holds
        await a.release("K7Q2XM")
        assert await b.owner("K7Q2XM") == "b"
        await b.release("K7Q2XM")
        assert await a.owner("K7Q2XM") is None

    asyncio.run(go())


def test_a_claim_expires_unless_refreshed_and_a_refresh_claims_it_back() -> None:
    async def go() -> None:
        hub = MemoryHub()
        now = [1000.0]
        hub.now = lambda: now[0]
        a, _, b, _ = await two(hub)
        await a.claim("K7Q2XM", "s")
        now[0] += CODE_TTL_S * 0.9
        assert await a.refresh({"K7Q2XM": "s"}) == []
        now[0] += CODE_TTL_S * 0.9
        assert await b.owner("K7Q2XM") == "a"  # refreshed: still held
        now[0] += CODE_TTL_S + 1  # its worker died: the code is free again
        assert await b.owner("K7Q2XM") is None
        hub.values.clear()  # (what a restarted Redis holds)
        assert await a.refresh({"K7Q2XM": "s"}) == []
        assert await b.owner("K7Q2XM") == "a"

    asyncio.run(go())


def test_a_class_stream_reaches_every_subscribed_worker_in_order() -> None:
    async def go() -> None:
        a, ia, b, ib = await two(MemoryHub())
        await b.subscribe("K7Q2XM")
        await a.publish([("K7Q2XM", b"1"), ("K7Q2XM", b"2"), ("OTHERS", b"x")])
        await settle()
        assert ib.classes == [("K7Q2XM", b"1"), ("K7Q2XM", b"2")]
        assert ia.classes == []  # not subscribed
        await b.unsubscribe("K7Q2XM")
        await a.publish([("K7Q2XM", b"3")])
        await settle()
        assert len(ib.classes) == 2

    asyncio.run(go())


def test_requests_reach_the_named_worker_only() -> None:
    async def go() -> None:
        a, ia, _, ib = await two(MemoryHub())
        await a.send("b", b'{"op":"greet"}')
        await a.send("nobody", b"lost")
        await settle()
        assert ib.worker == [b'{"op":"greet"}'] and ia.worker == []

    asyncio.run(go())


# ---- two apps of this process on one hub: a class across workers without Redis --------


@pytest.fixture
def pair() -> Iterator[tuple[TestClient, TestClient]]:
    hub = MemoryHub()
    settings: dict[str, Any] = {"allowed_hosts": ["testserver"], "hello_timeout_s": 60.0}
    a = create_app(Settings(**settings), bus=MemoryBus("0-a", hub))
    b = create_app(Settings(**settings), bus=MemoryBus("1-b", hub))
    with TestClient(a) as ca, TestClient(b) as cb:
        yield ca, cb


def test_a_class_on_one_app_is_followed_from_the_other(
        pair: tuple[TestClient, TestClient]) -> None:
    ca, cb = pair
    with ca.websocket_connect("/ws") as r1, cb.websocket_connect("/ws") as r2:
        t, s = WS(r1), WS(r2)
        t.hello()
        t.send({"type": "share"})
        code = t.recv_type("share", where=lambda m: m["code"] is not None)["code"]
        run = join(s, code)
        assert run["session"] is None
        t.recv_type("share", where=lambda m: m["followers"] == 1)
        t.send({"type": "step", "unit": "iteration"})
        frames = [t.recv_type("frame") for _ in range(4)]
        got = [s.recv_type("frame") for _ in range(4)]
        assert [f["values"] for f in got] == [f["values"] for f in frames]
        t.send({"type": "share", "on": False})
        assert s.recv_type("follow", where=lambda m: not m["active"])["reason"] == "stopped"


def test_an_unknown_code_on_another_app_gives_a_run_of_ones_own(
        pair: tuple[TestClient, TestClient]) -> None:
    _, cb = pair
    with cb.websocket_connect("/ws") as raw:
        s = WS(raw)
        s.send({"type": "hello", "follow": "ZZZZZZ"})
        assert s.error()["code"] == "unknown_code"
        assert s.recv_type("run")["session"]


def test_a_student_on_another_app_is_judged_on_the_teachers_numbers_alone(
        pair: tuple[TestClient, TestClient]) -> None:
    ca, cb = pair
    with ca.websocket_connect("/ws") as r1, cb.websocket_connect("/ws") as r2:
        t, s = WS(r1), WS(r2)
        t.hello()
        t.send({"type": "share"})
        code = t.recv_type("share", where=lambda m: m["code"] is not None)["code"]
        join(s, code)
        t.send({"type": "lesson", "id": "one-neuron", "step": 3})
        assert s.recv_type("lesson_step")["step_id"] == "gradient-sign"
        t.send({"type": "step", "unit": "phase"})
        t.recv_type("frame")
        s.recv_type("frame")
        t.send({"type": "lesson", "id": "one-neuron", "step": 3, "action": "check"})
        s.recv_type("lesson_check", where=lambda m: m["actual"] is not None)  # the reveal
        s.send({"type": "lesson", "id": "one-neuron", "step": 3, "action": "check",
                "prediction": "pos"})
        mine = s.recv_type("lesson_check", where=lambda m: m["prediction"] == "pos")
        assert (mine["verdict"], mine["expected"]) == ("wrong", "neg")
        s.send({"type": "lesson", "id": "one-neuron", "step": 2, "action": "check",
                "prediction": 0.1})
        assert s.error()["field"] == "step"
        t.handled()  # the student's verdict was its own: the teacher saw its reveal only
        assert [m["prediction"] for m in t.seen if m["type"] == "lesson_check"] == [None]
        # and a fork there copies the teacher's run
        s.send({"type": "fork"})
        assert s.recv_type("follow", where=lambda m: not m["active"])["reason"] == "forked"
        copy = s.recv_type("run")
        t.send({"type": "hello"})
        assert copy["params"] == t.recv_type("run")["params"] and copy["session"]


@pytest.fixture
def quick_relay(monkeypatch: pytest.MonkeyPatch) -> None:
    """The relay's waits shortened: a request unanswered in 0.3 s, a retry after 0.1 s."""
    from server.live import relay

    monkeypatch.setattr(relay, "ASK_TIMEOUT_S", 0.3)
    monkeypatch.setattr(relay, "RETRY_S", 0.1)


def test_a_student_whose_class_owner_is_dead_waits_for_the_teacher_to_share_again(
        quick_relay: None) -> None:
    """The teacher's worker died holding the code (its claim outlives it): a student who
    reconnects to another worker waits (was told at once that the class did not answer,
    and given a run of their own), and follows the class when the teacher's page shares
    it again, here, with its key."""
    from server.live.relay import secret_hash

    hub = MemoryHub()
    dead = MemoryBus("9-dead", hub)

    async def die_holding_the_code() -> tuple[str, str | None]:
        await dead.start(Inbox())
        got = await dead.claim("K7Q2XM", secret_hash("the-share-key"))
        await dead.stop()  # (it answers nothing now; its claim lives on)
        return got

    assert asyncio.run(die_holding_the_code()) == ("ok", None)
    settings: dict[str, Any] = {"allowed_hosts": ["testserver"], "hello_timeout_s": 60.0}
    a = create_app(Settings(**settings), bus=MemoryBus("0-a", hub))
    b = create_app(Settings(**settings), bus=MemoryBus("1-b", hub))
    with TestClient(a) as ca, TestClient(b) as cb, ca.websocket_connect("/ws") as r1, \
            cb.websocket_connect("/ws") as r2:
        t, s = WS(r1), WS(r2)
        s.send({"type": "hello", "follow": "K7Q2XM", "batch": True})
        time.sleep(1.0)  # (three unanswered greetings and their retries)
        t.hello()
        t.send({"type": "share", "code": "K7Q2XM", "key": "the-share-key"})
        assert t.recv_type("share", where=lambda m: m["code"] is not None)["code"] == "K7Q2XM"
        follow = s.recv_type("follow", timeout=10)
        assert follow["active"] is True
        assert [m for m in s.seen if m["type"] == "error"] == []
        assert s.recv_type("run")["session"] is None  # the teacher's run, not one of its own


def test_with_redis_away_a_new_student_is_told_at_once(pair: tuple[TestClient, TestClient],
                                                       quick_relay: None) -> None:
    """No owner can be asked while Redis is away: a new student gets the error and a run
    of their own at once, not a wait for a class nobody can answer for."""
    _, cb = pair
    bus = cb.app.state.relay.bus  # type: ignore[attr-defined]
    bus.up = False  # (every call now raises BusDownError, as Redis away does)
    with cb.websocket_connect("/ws") as raw:
        s = WS(raw)
        t0 = time.monotonic()
        s.send({"type": "hello", "follow": "K7Q2XM"})
        err = s.error()
        assert err["code"] == "unknown_code" and "redis away" in err["message"]
        assert s.recv_type("run")["session"]
        assert time.monotonic() - t0 < 2.0
