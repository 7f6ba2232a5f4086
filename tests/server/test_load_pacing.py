"""Under a class's load the streaming keeps its rate: derived views and metrics space
themselves out as the clock serves more sessions, and a session the clock is late for
plays slower instead of running iterations nobody sees."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from server.live import views
from server.live.clock import Clock
from server.live.outbox import Outbox
from server.live.session import Session
from server.protocol import client_adapter
from tests.server.conftest import attached_session


def make_session(**cfg: Any) -> tuple[Session, Outbox]:
    return attached_session(outbox=4096, **cfg)


def maps_sent_in_2_5_seconds(crowd: int, monkeypatch: pytest.MonkeyPatch) -> int:
    now = [1000.0]
    monkeypatch.setattr(views.time, "monotonic", lambda: now[0])
    s, ob = make_session(dataset="xor")
    s.crowd = crowd
    sent = 0
    for _ in range(250):  # 100 stepped iterations per simulated second, 2.5 s
        now[0] += 0.01
        s.views._cost["maps"] = 0.0005  # 0.5 ms per maps message, as for the default net
        s.handle(client_adapter.validate_python({"type": "step", "unit": "iteration"}))
        s.views._cost["maps"] = 0.0005
        s.tick(0.01)
        sent += sum(m["type"] == "maps" for m in ob.drain())
    return sent


def test_maps_go_out_less_often_when_the_clock_serves_a_crowd(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    alone = maps_sent_in_2_5_seconds(1, monkeypatch)
    crowded = maps_sent_in_2_5_seconds(100, monkeypatch)
    assert 20 <= alone <= 26  # map_hz = 10 bounds it
    # 100 sessions × 0.5 ms / 5 % of a core → one maps message a second each
    assert crowded == 2  # (the first went out with the run)


def metrics_points(crowd: int) -> tuple[int, int]:
    s, ob = make_session(dataset="xor")
    s.handle(client_adapter.validate_python({"type": "play", "speed": 30}))
    s.crowd = crowd
    points = []
    for _ in range(600):  # 10 s of play at 30 it/s on the 60 Hz clock
        s._metrics_cost = 2e-4  # a point's cost as measured on a quiet machine (not this one's)
        s.tick(1 / 60)
        points += [p for m in ob.drain() if m["type"] == "metrics" for p in m["points"]]
    assert points[-1]["iteration"] > s.stepper.iteration - 100  # the chart keeps up
    return len(points), s.stepper.iteration


def test_metrics_points_thin_out_in_a_crowd_but_keep_coming() -> None:
    alone, iterations = metrics_points(1)
    assert iterations == 300
    assert 95 <= alone <= 101  # metrics_hz = 10: one point every 3 iterations
    crowded, _ = metrics_points(500)
    assert 3 <= crowded < 0.8 * alone


def test_a_session_the_clock_is_late_for_shows_every_iteration_it_plays() -> None:
    s, ob = make_session(dataset="xor")
    s.handle(client_adapter.validate_python({"type": "play", "speed": 30}))
    ob.drain()
    updates = []
    for _ in range(20):  # served every third tick only (an overloaded clock)
        s.tick(3 / 60)
        updates += [m["iteration"] for m in ob.drain()
                    if m["type"] == "frame" and m["phase"] == "update"]
    # one iteration per visit, each one sent: the run plays slower than asked but
    # no iteration is computed without the learner seeing it
    assert s.stepper.iteration == 20
    assert updates == list(range(20))  # (a frame carries the iteration it belongs to)


def test_on_time_play_still_catches_up_clock_jitter() -> None:
    s, _ = make_session(dataset="xor")
    s.handle(client_adapter.validate_python({"type": "play", "speed": 30}))
    for dt in [1 / 60, 1.4 / 60, 0.6 / 60] * 40:  # late and early ticks, on average on time
        s.tick(dt)
    assert s.stepper.iteration == 60  # 2 s at 30 it/s


def test_the_clock_tells_each_session_how_many_it_serves() -> None:
    sessions = [make_session(dataset="xor")[0] for _ in range(3)]
    for s in sessions:
        s.handle(client_adapter.validate_python({"type": "play", "speed": 30}))
    sessions[2].handle(client_adapter.validate_python({"type": "pause"}))
    sessions[2].views.dirty.clear()  # paused with nothing to send: not on the clock
    clock = Clock(sessions, 60)  # type: ignore[arg-type]
    clock.tick(0.0)
    assert [s.crowd for s in sessions[:2]] == [2, 2]


def test_a_class_pressing_play_together_takes_turns_on_the_clock() -> None:
    pairs = [make_session(dataset="xor") for _ in range(4)]
    for s, _ in pairs:  # all within one tick, as the bench and a teacher's "now, play"
        s.handle(client_adapter.validate_python({"type": "play", "speed": 30}))
    for _, ob in pairs:
        ob.drain()
    busy = []
    for _ in range(60):  # 1 s on the 60 Hz clock
        n = 0
        for s, ob in pairs:
            s.tick(1 / 60)
            n += sum(m["type"] == "frame" and m["phase"] == "update" for m in ob.drain())
        busy.append(n)
    # half the class steps on each tick instead of all of it every second tick
    assert all(n == 2 for n in busy)
    assert [s.stepper.iteration for s, _ in pairs] == [30] * 4


def updates_in_two_seconds(monkeypatch: pytest.MonkeyPatch, **cfg: Any
                           ) -> tuple[int, int, float]:
    """(ticks that played, update frames sent, MB of frames sent) of a run played at
    full speed for two seconds of a 60 Hz clock (a fake monotonic time)."""
    from server.live import session as session_module
    from server.run.cost import JSON_BYTES_PER_VALUE, count_values

    now = [1000.0]
    monkeypatch.setattr(session_module.time, "monotonic", lambda: now[0])
    s, ob = make_session(**cfg)
    s.handle(client_adapter.validate_python({"type": "play", "speed": 1000}))
    ob.drain()
    played = updates = 0
    size = 0.0
    for _ in range(120):
        now[0] += 1 / 60
        before = s.stepper.iteration
        s.tick(1 / 60)
        played += s.stepper.iteration > before
        for m in ob.drain():
            if m["type"] == "frame":
                updates += m["phase"] == "update"
                size += JSON_BYTES_PER_VALUE * count_values(m["values"]) / 2**20
    return played, updates, size


def test_fast_play_of_a_large_network_sends_frames_within_the_stream_budget(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A large network's fast-play frames are mostly its weight-sized arrays (~1 MB a
    tick here): sent every tick they flooded the event loop that serves every learner
    (bench/abuse.py's `gc` row: twelve such runs left the learner beside them a third
    of its frame rate). Its picture now moves a few times a second, within
    max_stream_mb_per_s; a small network's moves every tick."""
    played, updates, mb = updates_in_two_seconds(
        monkeypatch, hidden=(128, 128), batch_size=32, n_samples=200)
    assert played == 120
    assert mb <= 4.0 * 3 + 1.5  # two seconds of budget, the first second's full bucket
    assert updates < played / 4
    assert updates >= 4  # still moving
    played, updates, _ = updates_in_two_seconds(monkeypatch, dataset="xor")
    assert updates == played == 120


def test_a_large_network_paused_shows_the_iteration_it_stopped_at(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The stream budget holds back most of a large network's frames at speed; paused
    just after a held-back iteration, the page showed an earlier one (the banner said
    "Iteration 1499" over Numbers and a lesson at 1500). The pause sends the frames of
    the iteration it stopped at, before its state; a small network's were sent already."""
    from server.live import session as session_module

    now = [1000.0]
    monkeypatch.setattr(session_module.time, "monotonic", lambda: now[0])
    for cfg, held in ((dict(hidden=(128, 128), batch_size=32, n_samples=200), True),
                      (dict(dataset="xor"), False)):
        s, ob = make_session(**cfg)
        s.handle(client_adapter.validate_python({"type": "play", "speed": 1000}))
        last = -1
        for ticks in range(1, 601):  # (until an iteration whose frames were held back)
            now[0] += 1 / 60
            s.tick(1 / 60)
            last = max([last] + [m["iteration"] for m in ob.drain()
                                 if m["type"] == "frame" and m["phase"] == "update"])
            if ticks > 30 and (last < s.stepper.iteration - 1) == held:
                break
        assert (last < s.stepper.iteration - 1) == held, cfg
        s.handle(client_adapter.validate_python({"type": "pause"}))
        after = ob.drain()
        frames = [m for m in after if m["type"] == "frame" and m["phase"] == "update"]
        state = next(m for m in after if m["type"] == "state")
        if held:  # the held-back iteration's frames, then the state: the same iteration
            assert last < s.stepper.iteration - 1 and len(frames) == 1, (last, frames)
            assert frames[0]["iteration"] == s.stepper.iteration - 1 == state["iteration"] - 1
            assert after.index(frames[0]) < after.index(state)
        else:  # (its last frames went out as played)
            assert frames == [] and last == s.stepper.iteration - 1


def test_a_spacing_that_wavers_makes_no_extra_points() -> None:
    """The crowd's spacing follows measured costs, so it wavers (3, 8, 3, ...) on a busy
    machine: the points stay at least the smallest period apart, and a run sent back
    before its last point is due at once."""
    import itertools
    import random

    from server.live.traces import NEVER, due

    wavering = random.Random(1)
    last, points = NEVER, []
    for it in range(1, 301):
        ok, last = due(it, last, wavering.choice([3, 4, 8]))
        if ok:
            points.append(it)
    assert points[0] == 1  # the first is due at once
    assert all(b - a >= 3 for a, b in itertools.pairwise(points))
    assert 300 / 8 <= len(points) <= 300 / 3 + 1
    assert due(2, last, 3)[0]  # jumped back
    # in a session whose measured metrics cost wavers the same way
    s, ob = make_session(dataset="xor")
    s.handle(client_adapter.validate_python({"type": "play", "speed": 30}))
    seen = []
    for _ in range(300):
        s._metrics_cost = wavering.choice([0.0001, 0.006, 0.012])  # every 3, 4 or 8
        s.tick(1 / 60)
        seen += [p["iteration"] for m in ob.drain() if m["type"] == "metrics"
                 for p in m["points"] if "train_loss" in p]
    assert len(seen) > 10 and all(b - a >= 3 for a, b in itertools.pairwise(seen))


def test_a_run_rests_on_the_ticks_its_next_iteration_is_not_due() -> None:
    """At 30 it/s on the 60 Hz clock a run plays every other tick: on the others the
    clock leaves it be (its time goes to the next tick), and it still plays 30 it/s.
    A slower run rests at most one tick at a time (its views wait at most a period)."""
    fast, ob = make_session(dataset="xor")
    slow, _ = make_session(dataset="xor")
    fast.handle(client_adapter.validate_python({"type": "play", "speed": 30}))
    slow.handle(client_adapter.validate_python({"type": "play", "speed": 10}))
    ticked: dict[str, list[int]] = {fast.id: [], slow.id: []}
    for s in (fast, slow):
        inner = s.tick

        def tick(dt: float, s: Session = s, inner: Any = inner) -> None:
            ticked[s.id].append(k)
            inner(dt)

        s.tick = tick  # type: ignore[method-assign]
    # (a fake timer: a tick that took over the budget on a busy machine would skip the
    # second run in line, and this test is about pacing, not the budget)
    clock = Clock([fast, slow], 60, timer=lambda: 0.0)  # type: ignore[arg-type]
    ob.drain()
    start = fast.stepper.iteration
    frames = 0
    for k in range(1, 121):  # two seconds
        clock.tick(k / 60)
        frames += sum(m["type"] == "frame" and m["phase"] == "update" for m in ob.drain())
    assert fast.stepper.iteration - start in (59, 60, 61)  # 30 it/s
    assert 55 <= len(ticked[fast.id]) <= 62  # every other tick, not all 120
    assert frames == fast.stepper.iteration - start  # each iteration's frames went out
    gaps = [b - a for a, b in itertools.pairwise(ticked[slow.id])]
    assert max(gaps) <= 2 and 55 <= len(ticked[slow.id]) <= 62
    # at 60 it/s it plays on every tick, and paused it is left alone
    fast.handle(client_adapter.validate_python({"type": "play", "speed": 60}))
    ticked[fast.id].clear()
    start = fast.stepper.iteration
    for k in range(121, 181):
        clock.tick(k / 60)
    assert len(ticked[fast.id]) == 60 and fast.stepper.iteration - start in (59, 60, 61)
    fast.handle(client_adapter.validate_python({"type": "pause"}))
    fast.views.dirty.clear()
    ticked[fast.id].clear()
    for k in range(181, 191):
        clock.tick(k / 60)
    assert ticked[fast.id] == []


def test_fast_play_sends_the_counters_whenever_the_epoch_changes() -> None:
    """Between the counters' ``state`` messages (metrics_hz) the page counts iterations
    from the frames; the epoch it cannot count, so a ``state`` goes with the frames of
    every iteration that starts an epoch."""
    s, ob = make_session(dataset="xor", batch_size=0)  # the whole split: an epoch each
    s.handle(client_adapter.validate_python({"type": "play", "speed": 30}))
    ob.drain()
    epochs = []
    for k in range(1, 41):
        s.tick(1 / 30)
        got = ob.drain()
        frames = [m for m in got if m["type"] == "frame" and m["phase"] == "update"]
        states = [m for m in got if m["type"] == "state"]
        if frames:
            assert states, k  # every iteration is an epoch's first here
            assert states[-1]["epoch"] == s.stepper.epoch
            assert states[-1]["iteration"] == frames[-1]["iteration"] + 1
            epochs.append(states[-1]["epoch"])
    assert len(epochs) >= 35 and epochs == sorted(set(epochs))


def test_phase_by_phase_play_sends_the_counters_when_an_epoch_starts() -> None:
    """Playing phase by phase the counters go out after each update, and with the
    forward pass that draws a new epoch's first batch (the page counts the phases)."""
    s, ob = make_session(dataset="xor", batch_size=0)  # the whole split: an epoch each
    s.handle(client_adapter.validate_python({"type": "play", "speed": 2}))
    ob.drain()
    forwards = 0
    for _ in range(40):
        s.tick(1 / 16)  # (half a phase a tick at 2 it/s)
        got = ob.drain()
        for i, m in enumerate(got):
            if m["type"] == "frame" and m["phase"] == "forward" and m["iteration"] > 0:
                forwards += 1  # (not the run's first batch: epoch 0 still)
                states = [x for x in got[i + 1:] if x["type"] == "state"]
                assert states and states[0]["epoch"] == s.stepper.epoch
                assert states[0]["next_phase"] == "loss"
    assert forwards >= 4
