"""Per-address caps hold for the whole site, not for each worker (server/live/tally.py).

Two apps of this process on one in-memory hub behave as two workers of a site (as in
test_bus.py); both see the TestClient's address, ``testclient``. Each cap is filled on
one worker and the next attempt is made on the other, which must refuse it as the
first would. Then the same through a real Redis: the bus's own call, and two real
worker processes behind one port."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from websockets.exceptions import ConnectionClosed

from server.app import create_app
from server.live.bus import MemoryBus, MemoryHub
from server.live.redisbus import RedisBus
from server.live.store import SessionStore
from server.settings import Settings
from tests.helpers.net import poll
from tests.helpers.site import Client, Redis, Site
from tests.server.conftest import WS, join, share

SYNC_S = 0.05
ADDRESS = "testclient"


def two_workers(**limits: Any) -> tuple[Any, Any, MemoryHub]:
    hub = MemoryHub()
    settings = Settings(allowed_hosts=["testserver"], hello_timeout_s=60.0,
                        address_sync_s=SYNC_S, **limits)
    return (create_app(settings, bus=MemoryBus("0-a", hub)),
            create_app(settings, bus=MemoryBus("1-b", hub)), hub)


def store(app: Any) -> SessionStore:
    s: SessionStore = app.state.sessions
    return s


def heard(app: Any, kind: str, key: str, n: float) -> None:
    """Wait until ``app``'s worker has heard the other count ``n`` of ``key`` (a
    bucket's shortfall refills a little meanwhile: to within a tenth)."""
    poll(lambda: abs(store(app).tally.elsewhere(kind, key) - n) < 0.1, 5,
         f"the other worker's {kind} count of {key} to reach {n}")


@contextlib.contextmanager
def two_sessions(client: TestClient) -> Iterator[None]:
    """Two sockets of this address on ``client``'s worker, each with a session."""
    with client.websocket_connect("/ws") as r1, client.websocket_connect("/ws") as r2:
        WS(r1).hello()
        WS(r2).hello()
        yield


@pytest.fixture
def pair_of(request: pytest.FixtureRequest) -> Iterator[tuple[TestClient, TestClient]]:
    a, b, _ = two_workers(**request.param)
    with TestClient(a) as ca, TestClient(b) as cb:
        yield ca, cb


@pytest.mark.parametrize("pair_of", [{"max_websockets_per_address": 2}], indirect=True)
def test_websockets_from_one_address_are_capped_across_workers(
        pair_of: tuple[TestClient, TestClient]) -> None:
    ca, cb = pair_of
    with two_sessions(ca):
        heard(cb.app, "websockets", ADDRESS, 2)
        with cb.websocket_connect("/ws") as r3:
            err = WS(r3).error()
            assert err["code"] == "limit" and err["limit"] == "max_websockets_per_address"
    # both closed on the first worker: the second hears it and lets the address in again
    heard(cb.app, "websockets", ADDRESS, 0)
    with cb.websocket_connect("/ws") as r4:
        WS(r4).hello()


@pytest.mark.parametrize("pair_of", [{"max_sessions_per_address": 2}], indirect=True)
def test_sessions_of_one_address_are_capped_across_workers(
        pair_of: tuple[TestClient, TestClient]) -> None:
    ca, cb = pair_of
    with two_sessions(ca):
        heard(cb.app, "sessions", ADDRESS, 2)
        with cb.websocket_connect("/ws") as r3:
            w = WS(r3)
            w.send({"type": "hello"})
            err = w.error()
            assert err["code"] == "limit" and err["limit"] == "max_sessions_per_address"


@pytest.mark.parametrize("pair_of", [{"max_code_failures_per_minute": 2}], indirect=True)
def test_wrong_class_codes_are_counted_across_workers(
        pair_of: tuple[TestClient, TestClient]) -> None:
    ca, cb = pair_of
    with ca.websocket_connect("/ws") as r1:
        g = WS(r1)
        for guess in ("AAAAAA", "BBBBBB"):
            g.send({"type": "hello", "follow": guess})
            assert g.error()["code"] == "unknown_code"
        heard(cb.app, "code_failures", ADDRESS, 2)
    with cb.websocket_connect("/ws") as r2:
        g = WS(r2)
        g.send({"type": "hello", "follow": "CCCCCC"})
        err = g.error()  # refused before the code is looked up, on the other worker too
        assert err["code"] == "rate_limited"
        assert err["limit"] == "max_code_failures_per_minute"
        assert "try again in" in str(err["message"])


@pytest.mark.parametrize("pair_of", [{"max_followers_per_address": 2}], indirect=True)
def test_a_class_s_seats_from_one_address_are_counted_across_workers(
        pair_of: tuple[TestClient, TestClient]) -> None:
    ca, cb = pair_of
    with ca.websocket_connect("/ws") as rt, ca.websocket_connect("/ws") as r1, \
            cb.websocket_connect("/ws") as r2, cb.websocket_connect("/ws") as r3:
        t = WS(rt)
        t.hello()
        code = share(t)
        join(WS(r1), code)  # one on the teacher's worker
        join(WS(r2), code)  # one on the other
        heard(cb.app, "followers", f"{code} {ADDRESS}", 1)
        third = WS(r3)
        third.send({"type": "hello", "follow": code})
        err = third.error()
        assert err["code"] == "limit" and err["limit"] == "max_followers_per_address"
        assert third.recv_type("run")["session"]  # a run of its own instead


def test_a_worker_that_stops_telling_drops_out_of_the_counts() -> None:
    a, b, hub = two_workers(max_websockets_per_address=1)
    with TestClient(b) as cb, TestClient(a) as ca, ca.websocket_connect("/ws") as r1:
        WS(r1).hello()
        heard(b, "websockets", ADDRESS, 1)
        a.state.relay.bus.up = False  # a can no longer tell (its Redis went away) ...
        fails = store(a).tally.failures
        poll(lambda: store(a).tally.failures > fails, 5, "a to find it cannot tell")
        hub.now = lambda: time.monotonic() + 1.0  # ... and more than three periods pass
        heard(b, "websockets", ADDRESS, 0)  # a is forgotten, though it still counts one
        with cb.websocket_connect("/ws") as r2:
            WS(r2).hello()


def test_a_worker_that_stops_says_it_holds_nothing() -> None:
    a, b, _ = two_workers(max_websockets_per_address=1)
    with TestClient(b) as cb:
        with TestClient(a) as ca, ca.websocket_connect("/ws") as r1:
            WS(r1).hello()
            heard(b, "websockets", ADDRESS, 1)
        # a stopped (its socket closed first): b hears at once, not after three periods
        heard(b, "websockets", ADDRESS, 0)
        with cb.websocket_connect("/ws") as r2:
            WS(r2).hello()


def test_the_workers_code_buckets_refill_at_the_site_s_rate() -> None:
    a, b, _ = two_workers(max_code_failures_per_minute=6)
    with TestClient(a), TestClient(b):
        poll(lambda: store(a).code_failures.workers == 2 == store(b).code_failures.workers,
             5, "each worker to hear the other")
        bucket = store(a).code_failures
        for _ in range(6):
            bucket.spend("10.0.0.1")
        # 6 a minute for the site: each of the two refills one token in 20 s, not 10
        assert bucket.wait_s("10.0.0.1") == pytest.approx(20.0, abs=0.5)


def test_alone_nothing_is_told_and_no_cap_changes() -> None:
    app = create_app(Settings(allowed_hosts=["testserver"], max_websockets_per_address=2))
    with TestClient(app) as client, client.websocket_connect("/ws") as r1, \
            client.websocket_connect("/ws") as r2:
        WS(r1).hello()
        WS(r2).hello()
        assert store(app).tally.syncs == 0
        assert store(app).tally.collect()["websockets"] == {ADDRESS: 2.0}
        with client.websocket_connect("/ws") as r3:
            assert WS(r3).error()["limit"] == "max_websockets_per_address"


# ---- through a real Redis ---------------------------------------------------------------


def test_redis_carries_each_worker_s_counts_and_forgets_a_silent_one(redis: Redis) -> None:
    async def go() -> None:
        a, b = RedisBus(redis.url, "a"), RedisBus(redis.url, "b")
        try:
            assert await a.tally({"sessions": {"10.0.0.1": 2.0}}, 0.5) == []
            assert await b.tally({"websockets": {"10.0.0.1": 1.0}}, 0.5) == [
                {"sessions": {"10.0.0.1": 2.0}}]
            assert await a.tally({}, 0.5) == [{"websockets": {"10.0.0.1": 1.0}}]
            await asyncio.sleep(0.7)  # b says nothing for longer than the time to live
            assert await a.tally({}, 0.5) == []
        finally:
            await a.stop()
            await b.stop()

    asyncio.run(go())


def admitted(site: Site, where: str) -> Client:
    """A socket let in on a worker whose name starts with ``where``. Landing there takes a
    few tries, each closed at once on another worker; on a busy machine the other worker's
    count can still hold those closed tries for a sync or two, so the wanted socket may be
    refused "try again later" (1013), as a page would be, and tries again as a page does."""
    for _ in range(20):
        c = site.socket(lambda w: w.startswith(where))
        try:
            c.send({"type": "hello"})
            c.recv_type("run")
            return c
        except ConnectionClosed as e:
            c.close()
            if e.rcvd is None or e.rcvd.code != 1013:
                raise
            time.sleep(0.3)
    raise AssertionError(f"no socket let in on worker {where}")


def test_two_worker_processes_cap_one_address_s_websockets_together(redis: Redis) -> None:
    site = Site(redis, env={"BPL_MAX_WEBSOCKETS_PER_ADDRESS": "3",
                            "BPL_UNLIMITED_ADDRESSES": "", "BPL_ADDRESS_SYNC_S": "0.1"})
    held: list[Client] = []
    try:
        for where in ("0-", "0-", "1-"):  # two on worker 0, one on worker 1: three in all
            held.append(admitted(site, where))

        def refused_on_worker_1() -> bool:
            # counted alone, worker 1 would take two more; told worker 0's two, none
            c = site.socket(lambda w: w.startswith("1-"))
            try:
                m = c.recv(1.0)  # a refused socket is told at once, unasked
            except TimeoutError:
                return False  # let in: worker 1 has not heard yet
            finally:
                c.close()
            return m["type"] == "error" and m.get("limit") == "max_websockets_per_address"

        poll(refused_on_worker_1, 10, "worker 1 to count worker 0's sockets", every=0.2)
    finally:
        for c in held:
            c.close()
        site.close()
