"""Class mode at its edges (each case was a defect found in review, with the fix it
guards): copies of long, loaded or inspected runs; a full server; a follower moving
between classes; the history budget; what joining costs the class (timeline, maps,
metrics); the charts after a run message."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

import server.run.runfile
from server.live.outbox import Outbox
from server.live.session import Session
from server.live.sharing import Follower
from server.protocol import RunSettings
from server.settings import Settings
from tests.helpers.net import poll
from tests.server.conftest import (
    WS,
    attached_session,
    join,
    make_app,
    share,
    teacher_and_student,
)

CONFIG = {"dataset": "xor", "hidden": [4, 3], "activation": "tanh", "batch_size": 8,
          "seed": 3}


def test_a_copy_of_a_run_being_indexed_keeps_seeks_within_what_is_indexed() -> None:
    file = {"format": "backprop-lab-run", "version": 1, "settings": CONFIG,
            "length": 200_000}
    with teacher_and_student() as (_, t, s):
        t.send({"type": "load", "run": file})
        assert t.recv_type("timeline")["indexed"] < 200_000
        code = share(t)
        join(s, code)
        s.send({"type": "fork"})
        s.recv_type("run", where=lambda m: m["session"] is not None)
        tl = s.recv_type("timeline")
        assert tl["length"] == 200_000
        assert tl["indexed"] < 200_000, "the copy claims a run nobody indexed is indexed"
        # (on a busy machine the copy may not have indexed anything yet: a seek would
        # land at 0, rightly; wait until its own indexer has gone some way)
        tl = s.recv_type("timeline", timeout=60, where=lambda m: m["indexed"] > 0)
        s.send({"type": "seek", "iteration": 190_000})  # no replay of the whole run
        state = s.recv_type("state", timeout=60, where=lambda m: m["iteration"] > 0)
        assert tl["indexed"] <= state["iteration"] < 190_000


def test_a_refused_fork_leaves_the_student_following() -> None:
    with teacher_and_student(make_app(max_sessions=1)) as (_, t, s):
        code = share(t)
        join(s, code)
        s.send({"type": "fork"})
        assert s.error()["limit"] == "max_sessions"
        t.step_frame("iteration")
        s.recv_type("frame", where=lambda m: m["phase"] == "update")  # still watching


def test_the_open_inspector_keeps_working_in_the_copy() -> None:
    with teacher_and_student() as (_, t, s):
        t.step_frame("iteration")
        t.send({"type": "inspect", "id": "L1.W", "index": [0, 1]})
        t.recv_type("inspect")
        code = share(t)
        s.send({"type": "hello", "follow": code, "batch": True})
        assert s.recv_type("inspect")["id"] == "L1.W"
        s.send({"type": "fork"})
        s.recv_type("run", where=lambda m: m["session"] is not None)
        s.send({"type": "step", "unit": "iteration"})
        s.recv_type("frame", where=lambda m: m["phase"] == "update")
        got = s.recv_type("inspect", timeout=2.0)  # the copy's own chain rule
        assert got["id"] == "L1.W" and got["index"] == [0, 1]



def test_a_follower_naming_another_code_follows_that_class() -> None:
    with TestClient(make_app()) as client, client.websocket_connect("/ws") as r1, \
            client.websocket_connect("/ws") as r2, client.websocket_connect("/ws") as r3:
        a, b, s = WS(r1), WS(r2), WS(r3)
        a.hello()
        b.hello()
        code_a, code_b = share(a), share(b)
        s.send({"type": "hello", "follow": code_a, "batch": True})
        assert s.recv_type("follow")["code"] == code_a
        s.send({"type": "hello", "follow": code_b, "batch": True})
        assert s.recv_type("follow")["code"] == code_b


def test_a_page_with_its_own_run_asking_to_follow_is_answered() -> None:
    with teacher_and_student() as (_, t, s):
        code = share(t)
        s.hello()
        s.send({"type": "hello", "follow": code, "batch": True})
        assert s.recv_type("follow")["code"] == code  # it follows now
        assert s.recv_type("run")["session"] is None


def test_a_copys_history_stays_within_max_history_mb() -> None:
    st = Settings(max_history_mb=0.25)
    teacher = Session(st, RunSettings())
    teacher.attach(Outbox(512))
    teacher.history.train(64 * 40)  # ~200 KB of checkpoints, within 256 KB
    assert teacher.history.nbytes() <= teacher.history.budget_bytes
    copy = Session(st, RunSettings())
    copy.attach(Outbox(512))
    copy.copy_from(teacher)
    worst = 0
    for _ in range(40):  # the student plays on from there
        copy.history.train(64)
        worst = max(worst, copy.history.nbytes())
    assert worst <= copy.history.budget_bytes, (worst, copy.history.budget_bytes)


def test_the_teachers_timeline_keeps_moving_while_students_join() -> None:
    with teacher_and_student() as (_, t, s):
        code = share(t)
        t.send({"type": "play", "speed": 30})
        t.recv_type("frame")
        join(s, code)
        lengths: list[int] = []
        end = time.monotonic() + 5.0
        while len(lengths) < 3:  # at TIMELINE_HZ, about 1.5 s of play
            assert time.monotonic() < end, f"teacher's timeline updates in 5 s of play: {lengths}"
            # a page re-greeting every 0.3 s, more often than the timeline is re-sent (a
            # class arriving does the same): the arrivals' pace in real time is the point
            s.send({"type": "hello"})
            t0 = time.monotonic()
            while time.monotonic() - t0 < 0.3:
                m = t.recv()
                if m["type"] == "timeline":
                    lengths.append(m["length"])
        t.send({"type": "pause"})
        assert lengths == sorted(lengths) and lengths[0] < lengths[-1], lengths


def test_students_already_following_get_no_repeated_maps_when_others_join() -> None:
    with teacher_and_student() as (client, t, a):
        code = share(t)
        a.send({"type": "hello", "follow": code, "batch": True})
        a.recv_type("maps")
        session = next(iter(client.app.state.sessions))  # the teacher's
        for _ in range(5):
            with client.websocket_connect("/ws") as rn:
                n = WS(rn)
                n.send({"type": "hello", "follow": code, "batch": True})
                n.recv_type("maps")
            # nothing paced for the class either (a re-send would go out on a tick)...
            poll(lambda: not session.views.dirty, 5, "the teacher's paced views")
        # ...and everything put on the first follower's outbox until now has arrived
        a.handled()
        repeats = sum(m["type"] == "maps" for m in a.seen) - 1
        assert repeats == 0, f"{repeats} identical maps re-sent to a follower"


@pytest.fixture
def client() -> Any:
    with TestClient(make_app(command_burst=200, max_commands_per_second=200)) as c:
        yield c


def series_after_run(ws: WS, session_given: bool) -> list[dict[str, Any]]:
    """The metrics the page holds after the next `run` (as run-model.js keeps them)."""
    ws.recv_type("run", where=lambda m: (m["session"] is not None) == session_given)
    points: list[dict[str, Any]] = []
    try:
        while True:
            m = ws.recv(timeout=1.0)
            if m["type"] == "metrics":
                points = m["points"] if m.get("replace") else points + m["points"]
    except TimeoutError:
        return points


def test_a_copy_keeps_the_loss_chart(client: TestClient) -> None:
    with client.websocket_connect("/ws") as r1, client.websocket_connect("/ws") as r2:
        t, s = WS(r1), WS(r2)
        t.hello()
        for _ in range(5):
            t.step_frame("iteration")
        code = share(t)
        s.send({"type": "hello", "follow": code, "batch": True})
        assert len(s.recv_type("metrics")["points"]) == 5  # the follower sees the chart
        s.send({"type": "fork"})
        assert len(series_after_run(s, session_given=True)) == 5


def test_the_teacher_reconnecting_keeps_the_classes_loss_chart(client: TestClient) -> None:
    with client.websocket_connect("/ws") as r2:
        s = WS(r2)
        with client.websocket_connect("/ws") as r1:
            t = WS(r1)
            sid = t.hello()["session"]
            for _ in range(5):
                t.step_frame("iteration")
            code = share(t)
            s.send({"type": "hello", "follow": code, "batch": True})
            assert len(s.recv_type("metrics")["points"]) == 5
        with client.websocket_connect("/ws") as r1:
            t = WS(r1)
            t.send({"type": "hello", "session": sid})
            assert len(series_after_run(s, session_given=False)) == 5


def test_fork_of_a_run_longer_than_a_loadable_file_gives_a_copy(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server.run.runfile, "MAX_LOAD_ITERATIONS", 50)
    app = make_app(command_burst=200, max_commands_per_second=200)
    with teacher_and_student(app) as (_, t, s):
        for _ in range(60):
            t.send({"type": "step", "unit": "iteration"})
        t.recv_type("state", where=lambda m: m["iteration"] == 60)
        code = share(t)
        join(s, code)
        s.send({"type": "fork"})
        mine = s.recv_type("run", where=lambda m: m["session"] is not None)
        assert s.recv_type("state")["iteration"] == 60
        s.works()
        assert len(app.state.sessions) == 2
        assert app.state.sessions.get(mine["session"]).outbox is not None


def test_a_class_joining_at_once_shares_one_metrics_series() -> None:
    s, _ = attached_session()
    s.audience.code = "ABCDEF"
    for _ in range(4):
        s.history.step_iteration()
        s._queue_metrics({"lr": 0.03})
    boxes = [Outbox(64) for _ in range(20)]
    for ob in boxes:
        s.add_follower(Follower(ob))
    series = []
    for ob in boxes:
        while (e := ob.pop()) is not None:
            item = e.item if hasattr(e, "item") else e
            if isinstance(item, dict) and item["type"] == "metrics":
                series.append(e)
    assert len(series) == 20 and all(e is series[0] for e in series)  # built once
    assert len(series[0].item["points"]) == 4


def test_a_large_class_gets_fewer_maps_a_second_than_one_learner() -> None:
    from server.live.views import CLASS_MAPS_PER_S

    s, ob = attached_session()
    s.audience.code = "ABCDEF"
    boxes = [Outbox(64) for _ in range(int(CLASS_MAPS_PER_S))]  # → one maps a second
    for b in boxes:
        s.add_follower(Follower(b))
    ob.drain()
    sent = []
    t0 = time.monotonic() + 10.0  # past the maps the attach sent
    for i in range(60):  # 2 s of iterations at 30 it/s, each changing the weights
        s.history.step_iteration()
        s.views.dirty.add("maps")
        before = s.views.sent_count["maps"]
        s.flush_views(now=t0 + i / 30)
        if s.views.sent_count["maps"] > before:
            sent.append(i)
    assert len(sent) == 2, sent  # a learner alone would get map_hz (10) a second
    assert any(m["type"] == "maps" for m in ob.drain())  # the teacher's page gets them too


def test_a_wrong_code_later_keeps_the_run_the_connection_has() -> None:
    with TestClient(make_app()) as client, client.websocket_connect("/ws") as r1:
        w = WS(r1)
        sid = w.hello()["session"]
        w.step_frame("iteration")
        w.send({"type": "hello", "follow": "ZZZZZZ"})
        assert w.error()["code"] == "unknown_code"
        w.send({"type": "hello"})
        run = w.recv_type("run")
        assert run["session"] == sid and run["state"]["iteration"] == 1  # still its own


def test_a_class_keeps_a_run_whose_teacher_went_away_and_can_still_copy_it() -> None:
    app = make_app(disconnect_grace_s=0.01)
    with TestClient(app) as client, client.websocket_connect("/ws") as r2:
        s = WS(r2)
        with client.websocket_connect("/ws") as r1:
            t = WS(r1)
            t.hello()
            t.step_frame("iteration")
            code = share(t)
            join(s, code)
        s.recv_type("state", where=lambda m: not m["playing"])  # the teacher left
        past_grace = time.monotonic() + 1.0
        assert app.state.sessions.reap(now=past_grace) == 0  # but watched
        s.send({"type": "fork"})
        s.recv_type("follow", where=lambda m: m["reason"] == "forked")
        assert s.recv_type("state")["iteration"] == 1
        assert app.state.sessions.reap(now=past_grace) == 1  # nobody watches it now
