"""The derived views of a playing session (maps, the inspector) keep their pace while
the clock asks for them every tick: a view that is open keeps coming, at its own
interval and no later, and a closed one costs nothing."""

from __future__ import annotations

import time

from tests.server.conftest import attached_session, handle


def test_a_view_sent_by_a_command_is_not_held_past_its_own_interval() -> None:
    """A flush that found nothing due rests until the next view is due; a command that
    sends a view at once (re-targeting the inspector, cheaply) starts its interval
    afresh, and the next flush after that interval sends it."""
    s, ob = attached_session()
    v = s.views
    handle(s, {"type": "inspect", "id": "L1.W", "index": [0, 0]})
    ob.drain()
    t = time.monotonic()
    v._cost["inspect"] = 0.05  # that inspector took 50 ms: the next in 0.5 s at most
    v._sent["inspect"] = t
    v.dirty.add("inspect")
    s.flush_views(now=t + 0.01)  # not due: the flush rests until t + 0.5
    assert not [m for m in ob.drain() if m["type"] == "inspect"]
    handle(s, {"type": "inspect", "id": "L1.W", "index": [0, 1]})  # sent at once, cheap
    t1 = v._sent["inspect"]
    assert [m["index"] for m in ob.drain() if m["type"] == "inspect"] == [[0, 1]]
    handle(s, {"type": "step", "unit": "phase"})  # the inspector is due again
    ob.drain()
    s.flush_views(now=t1 + 0.2)  # past its interval (1 / map_hz, 0.1 s here)
    assert [m["index"] for m in ob.drain() if m["type"] == "inspect"] == [[0, 1]]


def test_an_inspector_opened_during_fast_play_follows_every_iteration_it_can() -> None:
    """In fast play, a closed inspector is never computed; opened mid-play, it comes
    with the iterations as they go, at the views' pace, until it is closed."""
    s, ob = attached_session()
    handle(s, {"type": "play", "speed": 30})
    now = time.monotonic()
    for _ in range(30):  # a second of play with the inspector closed
        now += 1 / 30
        s.tick(1 / 30)
        s.flush_views(now)
    assert not [m for m in ob.drain() if m["type"] == "inspect"]
    assert s.views.sent_count["inspect"] == 0
    handle(s, {"type": "inspect", "id": "L2.W", "index": [1, 0]})
    seen = []
    for _ in range(60):  # two more seconds: it follows the run
        now += 1 / 30
        s.tick(1 / 30)
        s.flush_views(now)
        seen += [m for m in ob.drain() if m["type"] == "inspect"]
    its = [m["iteration"] for m in seen]
    assert len(its) >= 5 and its == sorted(its) and its[-1] > its[0]
    assert seen[-1]["id"] == "L2.W"
    handle(s, {"type": "inspect", "id": None})
    ob.drain()
    for _ in range(10):
        now += 1 / 30
        s.tick(1 / 30)
        s.flush_views(now)
    assert [m for m in ob.drain() if m["type"] == "inspect"] == []
