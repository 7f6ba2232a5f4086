"""A class follows a teacher's run: ``share`` gives a code, ``hello`` with ``follow``
watches the run read-only, ``fork`` makes a follower's own copy.

What a teacher and the students would notice: the students see the teacher's run
as it moves (and the teacher's inspector), cannot change it, never learn the id
that would let them drive it, see it end when sharing stops, and a copy goes on
from exactly where the teacher was, computing the same numbers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from server.live.outbox import Outbox, Shared
from server.live.session import Session
from server.live.sharing import Follower
from server.protocol import RunSettings, encode_bytes
from server.run.history import COMPUTED
from server.settings import Settings
from tests.server.conftest import WS, attached_session, join, make_app, share


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(make_app(max_followers=2, command_burst=200,
                             max_commands_per_second=200)) as c:
        yield c


def teacher(client: TestClient) -> Any:
    return client.websocket_connect("/ws")


def test_followers_watch_the_teachers_run_as_it_plays_without_its_session_id(
        client: TestClient) -> None:
    with teacher(client) as raw, client.websocket_connect("/ws") as raw2:
        t, s = WS(raw), WS(raw2)
        run = t.hello()
        t.send({"type": "step", "unit": "iteration"})
        upd = t.recv_type("frame", where=lambda m: m["phase"] == "update")
        code = share(t)
        srun = join(s, code.lower())  # codes are read aloud: any letter case
        assert srun["session"] is None
        assert srun["params"]["L1.W"] == upd["values"]["L1.W"]  # the run as it is now
        t.recv_type("share", where=lambda m: m["followers"] == 1)
        t.send({"type": "play", "speed": 30})
        its = [s.recv_type("frame", where=lambda m: m["phase"] == "update")["iteration"]
               for _ in range(5)]
        assert its == sorted(its) and its[-1] > its[0]
        t.send({"type": "pause"})
        st = t.recv_type("state", where=lambda m: not m["playing"])
        s.recv_type("state", where=lambda m: not m["playing"]
                    and m["iteration"] == st["iteration"])
        assert all(run["session"] not in json.dumps(m) for m in s.seen)


def test_a_followers_commands_are_refused_and_change_nothing(client: TestClient) -> None:
    with teacher(client) as raw, client.websocket_connect("/ws") as raw2:
        t, s = WS(raw), WS(raw2)
        t.hello()
        join(s, share(t))
        for cmd in ({"type": "step", "unit": "iteration"}, {"type": "play", "speed": 30},
                    {"type": "configure", "config": {"hidden": [3]}}, {"type": "reset"},
                    {"type": "inspect", "id": "L1.W", "index": [0, 0]},
                    {"type": "edit", "id": "L1.W", "index": [0, 0], "value": 3.0},
                    {"type": "share"}):
            s.send(cmd)
            assert s.error()["code"] == "read_only"
        t.send({"type": "hello"})
        assert t.recv_type("state")["iteration"] == 0  # the teacher's run did not move
        s.send({"type": "hello"})  # a hello redraws the run for the follower
        assert s.recv_type("follow")["active"] is True
        assert s.recv_type("run")["session"] is None


def test_the_teachers_errors_stay_with_the_teacher_but_the_inspector_is_shared(
        client: TestClient) -> None:
    with teacher(client) as raw, client.websocket_connect("/ws") as raw2:
        t, s = WS(raw), WS(raw2)
        t.hello()
        join(s, share(t))
        t.send({"type": "configure", "config": {"hidden": [500]}})
        assert t.error()["limit"] == "max_units"
        t.step_frame("iteration")
        t.send({"type": "inspect", "id": "L1.W", "index": [0, 1]})
        mine = t.recv_type("inspect")
        theirs = s.recv_type("inspect")
        assert theirs["id"] == mine["id"] == "L1.W" and theirs == mine
        assert not [m for m in s.seen if m["type"] == "error"]


def test_an_unknown_code_or_a_full_class_gives_a_run_of_ones_own(client: TestClient) -> None:
    with client.websocket_connect("/ws") as raw:
        w = WS(raw)
        w.send({"type": "hello", "follow": "ZZZZZZ"})
        e = w.error()
        assert e["code"] == "unknown_code" and e["field"] == "follow"
        assert w.recv_type("run")["session"]  # its own session
        w.works()
    with teacher(client) as raw, client.websocket_connect("/ws") as r2, \
            client.websocket_connect("/ws") as r3, client.websocket_connect("/ws") as r4:
        t = WS(raw)
        t.hello()
        code = share(t)
        join(WS(r2), code)
        join(WS(r3), code)
        w = WS(r4)
        w.send({"type": "hello", "follow": code})
        assert w.error()["limit"] == "max_followers"  # max_followers=2 here
        assert w.recv_type("run")["session"]
        w.works()


def test_stopping_sharing_lets_the_class_go_and_a_hello_then_opens_ones_own_run(
        client: TestClient) -> None:
    with teacher(client) as raw, client.websocket_connect("/ws") as raw2:
        t, s = WS(raw), WS(raw2)
        t.hello()
        code = share(t)
        join(s, code)
        t.send({"type": "share", "on": False})
        assert t.recv_type("share", where=lambda m: m["code"] is None)["followers"] == 0
        end = s.recv_type("follow", where=lambda m: not m["active"])
        assert end["reason"] == "stopped"
        s.send({"type": "hello", "follow": code})  # the code is gone with the sharing
        assert s.error()["code"] == "unknown_code"
        assert s.recv_type("run")["session"]
        s.works()
        t.works()  # the teacher's session carries on
        assert share(t) == code  # sharing again: the code the class was told


def test_a_freed_teacher_session_ends_the_class_run() -> None:
    app = make_app()
    with TestClient(app) as client, teacher(client) as raw, \
            client.websocket_connect("/ws") as raw2:
        t, s = WS(raw), WS(raw2)
        t.hello()
        join(s, share(t))
        store = app.state.sessions
        (leader,) = [x for x in store if x.audience.code]
        store.remove(leader, "test")
        assert s.recv_type("follow", where=lambda m: not m["active"])["reason"] == "ended"


def test_a_copy_starts_where_the_teacher_is_and_computes_the_same_numbers(
        client: TestClient) -> None:
    with teacher(client) as raw, client.websocket_connect("/ws") as raw2:
        t, s = WS(raw), WS(raw2)
        run = t.hello()
        for _ in range(7):
            t.step_frame("iteration")
        t.send({"type": "set", "lr": 0.2})  # a logged change the copy must replay
        t.recv_type("state")
        t.step_frame("iteration")
        t.send({"type": "step", "unit": "phase"})  # mid-iteration: after forward
        t.recv_type("state", where=lambda m: m["next_phase"] == "loss")
        join(s, share(t))
        s.send({"type": "fork"})
        assert s.recv_type("follow", where=lambda m: not m["active"])["reason"] == "forked"
        mine = s.recv_type("run")
        assert mine["session"] and mine["session"] != run["session"]
        tl = s.recv_type("timeline", where=lambda m: "params" in m)
        assert tl["settings"]["lr"] == 0.2
        st = s.recv_type("state")
        assert (st["iteration"], st["next_phase"]) == (8, "loss")
        # both finish the iteration: the same numbers, bit for bit
        s.send({"type": "step", "unit": "iteration"})
        t.send({"type": "step", "unit": "iteration"})
        ours = s.recv_type("frame", where=lambda m: m["phase"] == "update")
        theirs = t.recv_type("frame", where=lambda m: m["phase"] == "update")
        assert ours["iteration"] == theirs["iteration"] == 8
        for k in ("L1.W", "L2.W", "L1.b"):
            assert np.array_equal(ours["values"][k], theirs["values"][k]), k
        # the copy is the student's own: stepping it does not move the teacher
        s.step_frame("iteration")
        t.send({"type": "hello"})
        assert t.recv_type("state")["iteration"] == 9
        t.recv_type("share", where=lambda m: m["followers"] == 0)


def test_a_shared_runs_messages_are_encoded_once_for_the_whole_class(
        monkeypatch: pytest.MonkeyPatch) -> None:
    s, _ = attached_session()
    boxes = [Outbox(64) for _ in range(3)]
    for ob in boxes:
        s.add_follower(Follower(ob))
        ob.drain()
    s.speed, s.playing = 30.0, True
    s.tick(1 / 30)
    entries = [ob.pop() for ob in boxes]
    assert all(isinstance(e, Shared) for e in entries)
    assert entries[0] is entries[1] is entries[2]  # one object on every outbox
    calls = []

    def counting(msg: Any) -> bytes:
        calls.append(msg)
        return encode_bytes(msg)

    assert isinstance(entries[0], Shared)
    first = entries[0].json(counting)
    assert all(e.json(counting) is first for e in entries if isinstance(e, Shared))
    assert len(calls) == 1
    frames = json.loads(first)
    assert [f["phase"] for f in frames] == ["forward", "loss", "backward", "update"]


def test_a_teacher_reloading_keeps_the_class_and_the_code(client: TestClient) -> None:
    with client.websocket_connect("/ws") as raw2:
        s = WS(raw2)
        with teacher(client) as raw:
            t = WS(raw)
            run = t.hello()
            code = share(t)
            join(s, code)
            t.send({"type": "play", "speed": 30})
            s.recv_type("frame")
        # the teacher's page went away: the class sees the run stop, and stays
        s.recv_type("state", where=lambda m: not m["playing"])
        with teacher(client) as raw:
            t = WS(raw)
            t.send({"type": "hello", "session": run["session"]})
            t.recv_type("run")
            back = t.recv_type("share")
            assert back == {"type": "share", "code": code, "followers": 1, "key": back["key"]}
            assert isinstance(back["key"], str) and len(back["key"]) >= 8
            t.step_frame("iteration")
            s.recv_type("frame", where=lambda m: m["iteration"] > 0)


def test_a_slow_followers_pending_metrics_are_merged_not_lost() -> None:
    from server.live.session import _merge_metrics

    slow, quick = Outbox(16), Outbox(16)
    first = Shared({"type": "metrics", "points": [{"iteration": 3}]})
    second = Shared({"type": "metrics", "points": [{"iteration": 6}]})
    slow.put(first, key="metrics", merge=_merge_metrics)
    quick.put(first, key="metrics", merge=_merge_metrics)
    assert quick.pop() is first  # read at once: the shared entry, encoded once
    slow.put(second, key="metrics", merge=_merge_metrics)
    quick.put(second, key="metrics", merge=_merge_metrics)
    merged = slow.pop()
    assert isinstance(merged, dict)
    assert [p["iteration"] for p in merged["points"]] == [3, 6]
    assert quick.pop() is second
    assert [p["iteration"] for p in first.item["points"]] == [3]  # shared one unchanged


def test_a_copy_replays_the_teachers_last_interval_once_and_a_reload_replays_nothing() -> None:
    """A fork replays from the class run's last checkpoint to where the teacher is; the
    copy's first drawing and a reload of its page show that point without replaying
    it again (each such replay ran at once on the engine thread: with the largest
    network, a pause of a tenth of a second for every learner, per fork)."""
    src, _ = attached_session()
    src.history.advance(150)
    records = src.history.seek((150, 0))  # the teacher rewinds to there, say
    cp = max(i for i in src.history.active.checkpoints if i <= 150)
    assert 0 < 150 - cp < 150
    before = COMPUTED.iterations
    copy = Session(Settings(), RunSettings())
    copy.copy_from(src)
    ob = Outbox(512)
    copy.attach(ob)  # the student's page, drawn
    assert COMPUTED.iterations - before == 150 - cp  # (once: three times before)
    frames = [m for m in ob.drain() if m["type"] == "frame"]
    assert [f["phase"] for f in frames] == ["forward", "loss", "backward", "update"]
    assert all(f["iteration"] == 149 for f in frames)
    for f, rec in zip(frames, records, strict=True):  # what the teacher's seek computed
        assert f["values"].keys() == rec.values.keys()
        assert all(np.array_equal(f["values"][k], v) for k, v in rec.values.items())
    before = COMPUTED.iterations
    copy.attach(Outbox(512))  # a reload
    assert COMPUTED.iterations == before
    copy.history.step_phase()  # it moves on: a seek back replays again, exactly
    again = copy.history.seek((150, 0))
    assert COMPUTED.iterations > before
    for a, b in zip(again, records, strict=True):
        assert all(np.array_equal(a.values[k], v) for k, v in b.values.items())


def test_a_class_s_frames_reach_pages_that_take_them_packed_with_the_same_numbers(
        client: TestClient) -> None:
    """The teacher plays alone; the class's stream is packed once for all followers. A
    student's page that asked for packed frames gets binary messages, another gets
    JSON, and the frames of each iteration are the same numbers on both."""
    with client.websocket_connect("/ws") as r1, client.websocket_connect("/ws") as r2, \
            client.websocket_connect("/ws") as r3:
        t, packed, plain = WS(r1), WS(r2), WS(r3)
        t.hello()
        code = share(t)
        packed.send({"type": "hello", "follow": code, "batch": True, "packed": True})
        packed.recv_type("run")
        join(plain, code)
        t.send({"type": "play", "speed": 30})
        frames: list[dict[int, list[Any]]] = [{}, {}]
        for i, ws in enumerate((packed, plain)):
            while len(frames[i]) < 8:
                f = ws.recv_type("frame")
                assert f["compact"] is True
                frames[i].setdefault(f["iteration"], []).append((f["phase"], f["values"]))
        t.send({"type": "pause"})
    both = sorted(it for it in set(frames[0]) & set(frames[1])
                  if len(frames[0][it]) == len(frames[1][it]) == 4)  # (whole iterations)
    assert len(both) >= 4
    for it in both:
        assert frames[0][it] == frames[1][it]  # (every number: a float64 either way)
        assert [p for p, _ in frames[0][it]] == ["forward", "loss", "backward", "update"]
    # (a layout is kept from the binary messages only, once a connection)
    assert len(packed.layouts) == 1 and not plain.layouts
