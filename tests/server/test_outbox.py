"""The per-connection outbox: bounded, coalescing to the latest state, never blocking
its producers, and closable with a code for the socket."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from typing import Any

import pytest

from server.live.outbox import Outbox, OutboxClosedError, gathered_wakes
from server.live.session import Session
from server.protocol import Play
from server.settings import Settings


def frame(i: int) -> dict:
    return {"type": "frame", "phase": "forward", "iteration": i}


def test_frames_beyond_the_limit_drop_oldest_first_and_keep_the_latest() -> None:
    ob = Outbox(limit=8)
    for i in range(1000):
        ob.put(frame(i), droppable=True)
    assert len(ob) == 8
    assert [m["iteration"] for m in ob.drain()] == list(range(992, 1000))
    assert ob.dropped == 992


def test_keyed_messages_replace_the_pending_one_and_survive_a_frame_flood() -> None:
    ob = Outbox(limit=8)
    ob.put({"type": "run", "n": 0}, key="run")
    for i in range(100):
        ob.put({"type": "state", "iteration": i}, key="state")
        ob.put(frame(i), droppable=True)
    msgs = ob.drain()
    states = [m for m in msgs if m["type"] == "state"]
    assert states == [{"type": "state", "iteration": 99}]  # one, the latest
    assert any(m["type"] == "run" for m in msgs)
    assert len(msgs) <= 8


def test_merge_concatenates_pending_series() -> None:
    ob = Outbox()
    def merge(a: dict, b: dict) -> dict:
        return {**b, "points": a["points"] + b["points"]}
    for i in range(5):
        ob.put({"type": "metrics", "points": [i]}, key="metrics", merge=merge)
    assert ob.drain() == [{"type": "metrics", "points": [0, 1, 2, 3, 4]}]


def test_an_error_flood_does_not_evict_the_latest_state() -> None:
    ob = Outbox(limit=6)
    ob.put({"type": "state", "iteration": 3}, key="state")
    for i in range(50):
        ob.put({"type": "error", "code": "invalid", "n": i})
    msgs = ob.drain()
    assert {"type": "state", "iteration": 3} in msgs
    assert len(msgs) == 6


def test_get_waits_then_close_delivers_what_is_queued_then_raises() -> None:
    async def scenario() -> list:
        ob = Outbox()
        got: list = []

        async def reader() -> None:
            try:
                while True:
                    got.append(await ob.get())
            except OutboxClosedError as e:
                got.append((e.code, e.reason))

        task = asyncio.create_task(reader())
        await asyncio.sleep(0)  # one turn of the loop: the reader runs up to its get()
        assert got == [] and not task.done()  # ...and waits there
        ob.put({"type": "error", "code": "idle"})
        ob.close(4000, "idle")
        ob.put({"type": "state"})  # ignored after close
        await asyncio.wait_for(task, 1)
        return got

    assert asyncio.run(scenario()) == [{"type": "error", "code": "idle"}, (4000, "idle")]


def test_a_playing_session_never_queues_more_than_the_limit() -> None:
    """The clock keeps producing for a client that reads nothing: memory stays bounded."""
    s = Session(Settings())
    ob = Outbox(limit=16)
    s.attach(ob)
    s.handle(Play(type="play", speed=100))
    for _ in range(300):
        s.tick(1 / 60)
        assert len(ob) <= 16
    assert s.stepper.iteration >= 100
    msgs = ob.drain()
    assert {"frame", "state"} <= {m["type"] for m in msgs}
    # superseded frames were replaced: the reader gets the latest iteration, in order
    frames = [(m["iteration"], m["phase"]) for m in msgs if m["type"] == "frame"]
    last = s.stepper.iteration - 1
    assert frames == [(last, p) for p in ("forward", "loss", "backward", "update")]


@pytest.mark.parametrize("limit", [4, 64])
def test_peak_is_recorded(limit: int) -> None:
    ob = Outbox(limit=limit)
    for i in range(limit * 3):
        ob.put(frame(i), droppable=True)
    assert ob.peak == limit


def test_a_session_never_takes_more_than_its_share_of_a_tick() -> None:
    """Fairness on the shared clock: a huge run at top speed slows itself down."""
    s = Session(Settings(tick_budget_ms=0.001))  # any iteration is over budget
    s.attach(Outbox())
    s.handle(Play(type="play", speed=1000))
    for _ in range(10):
        s.tick(1 / 60)
    assert s.stepper.iteration <= 11  # one iteration per tick, not ~17


def test_a_late_tick_is_not_caught_up_in_a_burst() -> None:
    """An overloaded clock makes runs play slower, never in bursts that overload it more."""
    s = Session(Settings())
    s.attach(Outbox())
    s.handle(Play(type="play", speed=30))
    s.tick(0.25)  # a tick 250 ms late would owe 7 iterations
    assert s.stepper.iteration <= 2


def test_bookkeeping_stays_bounded_for_a_fast_reader() -> None:
    ob = Outbox(limit=8)
    for i in range(10_000):
        ob.put(frame(i), droppable=True)
        ob.put({"type": "state", "i": i}, key="state", droppable=True)
        ob.drain()
    assert len(ob._droppable) <= 4 * 8 + 1


def test_wakes_gathered_on_the_engine_thread_reach_every_waiting_reader_at_once() -> None:
    """A tick's messages wake their send loops with one hand-over to the event loop at
    the tick's end, and a tick that fails still wakes them (no learner left waiting)."""

    async def main() -> tuple[list[int], list[list[int]], int]:
        loop = asyncio.get_running_loop()
        handovers = 0
        plain = loop.call_soon_threadsafe

        def counted(*args: Any, **kw: Any) -> Any:
            nonlocal handovers
            handovers += 1
            return plain(*args, **kw)

        loop.call_soon_threadsafe = counted  # type: ignore[method-assign]
        boxes = [Outbox(limit=8) for _ in range(3)]
        got: list[int] = []

        async def reader(ob: Outbox) -> None:
            got.append((await ob.get())["iteration"])

        tasks = [asyncio.create_task(reader(ob)) for ob in boxes]
        await asyncio.sleep(0.01)  # every reader waits
        seen_inside: list[list[int]] = []

        def tick(fail: bool) -> None:
            with contextlib.suppress(RuntimeError), gathered_wakes():
                for i, ob in enumerate(boxes):
                    ob.put(frame(i))
                time.sleep(0.05)  # the loop is free meanwhile: nobody was woken yet
                seen_inside.append(list(got))
                if fail:
                    raise RuntimeError("a tick that fails")

        engine = threading.Thread(target=tick, args=(True,))
        engine.start()
        while engine.is_alive():
            await asyncio.sleep(0.005)
        await asyncio.wait_for(asyncio.gather(*tasks), 2)
        return got, seen_inside, handovers

    got, seen_inside, handovers = asyncio.run(main())
    assert seen_inside == [[]]
    assert sorted(got) == [0, 1, 2]
    assert handovers == 1  # one for the three outboxes


def test_nested_gathered_wakes_hand_over_at_the_outer_end_and_a_closed_loop_is_no_error(
) -> None:
    """A piece of work that runs inside a tick's block (nested) does not wake the loop
    early; an event loop that closed meanwhile (a server shutting down) is skipped."""

    async def main() -> tuple[list[int], list[int]]:
        ob = Outbox(limit=8)
        got: list[int] = []

        async def reader() -> None:
            got.append((await ob.get())["iteration"])

        task = asyncio.create_task(reader())
        await asyncio.sleep(0.01)
        after_inner: list[int] = []

        def tick() -> None:
            with gathered_wakes():
                with gathered_wakes():
                    ob.put(frame(7))
                time.sleep(0.05)  # the inner block has ended: still nobody woken
                after_inner.extend(got)

        engine = threading.Thread(target=tick)
        engine.start()
        while engine.is_alive():
            await asyncio.sleep(0.005)
        await asyncio.wait_for(task, 2)
        return got, after_inner

    got, after_inner = asyncio.run(main())
    assert after_inner == [] and got == [7]

    async def closed_later() -> Outbox:
        ob = Outbox(limit=8)
        task = asyncio.create_task(ob.get())
        await asyncio.sleep(0.01)
        task.cancel()
        return ob

    ob = asyncio.run(closed_later())  # its loop is closed now
    ob._waiting = True  # (as if a send loop still waited on it)
    with gathered_wakes():
        ob.put(frame(1))
    assert len(ob) == 1  # kept, and no error from the closed loop


def test_a_tick_s_messages_go_out_at_once_where_the_connection_can_take_them() -> None:
    """At a tick's end, on the event loop, a connection that can send without waiting
    takes its messages at once (deliver_now) and its send loop sleeps on; later messages
    still wake the send loop; one that cannot (or takes more than its batch), and a
    held or closed outbox, leave them to the send loop: none is lost or reordered."""

    async def main() -> dict[str, Any]:
        sent: dict[str, list[list[int]]] = {"now": [], "loop": []}
        can = {"now": True}
        ob = Outbox(limit=64)

        def deliver_now() -> bool:
            if not can["now"]:
                return False
            entries = ob.take_now(3)
            if entries is None:
                return False
            if entries:
                sent["now"].append([m["iteration"] for m in entries])
            return True

        ob.deliver_now = deliver_now

        async def send_loop() -> None:
            while True:
                try:
                    m = await ob.get()
                except OutboxClosedError:
                    return
                sent["loop"].append([m["iteration"]])

        task = asyncio.create_task(send_loop())
        await asyncio.sleep(0.01)

        def tick(its: range) -> None:
            with gathered_wakes():
                for i in its:
                    ob.put(frame(i))

        async def on_engine(its: range) -> None:
            engine = threading.Thread(target=tick, args=(its,))
            engine.start()
            while engine.is_alive():
                await asyncio.sleep(0.005)
            await asyncio.sleep(0.02)

        await on_engine(range(0, 2))  # taken at once; the send loop sleeps on
        after_first = {k: list(v) for k, v in sent.items()}
        await on_engine(range(2, 7))  # three at once, the other two wake the send loop
        can["now"] = False
        await on_engine(range(7, 9))  # cannot send at once: the send loop sends them
        can["now"] = True
        with ob.hold():
            held = ob.take_now(3)
        ob.close()
        closed = ob.take_now(3)
        await asyncio.wait_for(task, 2)
        return {"first": after_first, "sent": sent, "held": held, "closed": closed}

    out = asyncio.run(main())
    assert out["first"] == {"now": [[0, 1]], "loop": []}
    assert out["sent"]["now"] == [[0, 1], [2, 3, 4]]
    assert out["sent"]["loop"] == [[5], [6], [7], [8]]
    assert out["held"] is None and out["closed"] is None
