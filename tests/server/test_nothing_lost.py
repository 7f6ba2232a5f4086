"""Nothing lost, on the server's side: starting over keeps the previous run, the page
gets a copy of its run to restore after a restart, a saved run opens where it was
saved, and a teacher gets its class code back."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.server.conftest import WS, make_app

Msg = dict[str, Any]


def stepped(ws: WS, n: int) -> Msg:
    """Step ``n`` iterations; the last update frame."""
    frame: Msg = {}
    for _ in range(n):
        ws.send({"type": "step", "unit": "iteration"})
        frame = ws.recv_type("frame", where=lambda m: m["phase"] == "update")
    ws.handled()
    return frame


def test_a_reset_keeps_the_run_and_one_switch_brings_it_back_with_its_numbers(ws: WS) -> None:
    ws.hello()
    ws.send({"type": "configure", "config": {"dataset": "circle", "hidden": [5], "seed": 4}})
    assert ws.recv_type("run")["runs"] == []  # nothing was done in the default run
    last = stepped(ws, 7)
    ws.send({"type": "reset"})
    run = ws.recv_type("run")
    assert run["state"]["iteration"] == 0
    (kept,) = run["runs"]
    assert kept["iterations"] == 7 and kept["settings"]["dataset"] == "circle"
    stepped(ws, 2)  # the new run moves on
    ws.send({"type": "switch_run", "run": kept["id"]})
    back = ws.recv_type("run")
    assert back["state"]["iteration"] == 7
    assert [r["iterations"] for r in back["runs"]] == [2]  # the other one is kept too
    assert back["params"]["L1.W"] == last["values"]["L1.W"]
    ws.send({"type": "switch_run", "run": 999})
    assert ws.error()["field"] == "run"


def test_a_tab_keeps_at_most_five_earlier_runs(ws: WS) -> None:
    ws.hello()
    for seed in range(1, 8):
        ws.send({"type": "configure", "config": {"seed": seed}})
        ws.recv_type("run")
        stepped(ws, 1)
    ws.send({"type": "reset"})
    runs = ws.recv_type("run")["runs"]
    assert [r["settings"]["seed"] for r in runs] == [7, 6, 5, 4, 3]


def test_the_page_gets_a_copy_that_restores_its_run_after_the_server_lost_it() -> None:
    """A restart (here: another app) does not know the session: the first run says so,
    and a load of the page's copy brings the run back at the same point, number for
    number, on the same branch."""
    with TestClient(make_app()) as client, client.websocket_connect("/ws") as raw:
        ws = WS(raw)
        sid = ws.hello()["session"]
        ws.send({"type": "configure", "config": {"dataset": "spiral", "hidden": [6, 4]}})
        ws.recv_type("run")
        stepped(ws, 5)
        ws.send({"type": "set", "lr": 0.2})
        ws.recv_type("timeline")
        stepped(ws, 4)
        ws.send({"type": "step", "unit": "phase"})  # mid-iteration: forward of 9
        ws.recv_type("state")
        copy = ws.recv_type("save", where=lambda m: m["run"]["position"]["phase"] == "loss")
        before = stepped(ws, 1)  # the learner's next iteration, for comparison
    saved = copy["run"]
    assert saved["position"] == {"iteration": 9, "phase": "loss"}
    assert "metrics" not in saved and saved["branches"][0]["commands"][0]["set"] == {"lr": 0.2}

    with TestClient(make_app()) as client, client.websocket_connect("/ws") as raw:
        ws = WS(raw)
        ws.send({"type": "hello", "session": sid})
        fresh = ws.recv_type("run")
        assert fresh["unknown_session"] is True and fresh["state"]["iteration"] == 0
        ws.send({"type": "load", "run": saved})
        run = ws.recv_type("run")
        assert run["unknown_session"] is False
        assert (run["state"]["iteration"], run["state"]["next_phase"]) == (9, "loss")
        assert run["config"]["lr"] == 0.2
        again = stepped(ws, 1)
    assert again["values"] == before["values"]


def test_a_known_session_is_not_reported_unknown(client: TestClient) -> None:
    with client.websocket_connect("/ws") as raw:
        sid = WS(raw).hello()["session"]
    with client.websocket_connect("/ws") as raw:
        ws = WS(raw)
        ws.send({"type": "hello", "session": sid})
        assert ws.recv_type("run")["unknown_session"] is False


def test_a_class_follower_does_not_get_the_teachers_copy() -> None:
    from tests.server.conftest import join, share, teacher_and_student

    with teacher_and_student() as (_, t, s):
        code = share(t)
        join(s, code)
        t.send({"type": "step", "unit": "iteration"})
        t.recv_type("save")
        s.recv_type("frame", where=lambda m: m["phase"] == "update")
        s.handled()
        assert not any(m["type"] == "save" for m in s.seen)


def test_a_teacher_restored_after_a_restart_gets_its_class_code_back(ws: WS) -> None:
    ws.hello()
    ws.send({"type": "share", "on": True, "code": "k7q2xm"})
    assert ws.recv_type("share")["code"] == "K7Q2XM"


def test_a_pause_in_fast_play_measures_the_iteration_shown(ws: WS) -> None:
    """After fast play the latest metrics point may be iterations back; pausing gives
    the iteration shown its own, so every viewer (and a restored run) reads its numbers."""
    ws.hello()
    ws.send({"type": "play", "speed": 500})
    ws.recv_type("frame", timeout=10, where=lambda m: m["iteration"] > 40)
    ws.send({"type": "pause"})
    state = ws.recv_type("state", where=lambda m: not m["playing"])
    ws.handled()
    measured = {p["iteration"] for m in ws.seen if m["type"] == "metrics" for p in m["points"]}
    assert state["iteration"] in measured


def test_a_hand_edit_updates_the_pages_copy_at_once(ws: WS) -> None:
    ws.hello()
    ws.send({"type": "step", "unit": "iteration"})
    ws.recv_type("save")
    ws.send({"type": "edit", "id": "L1.W", "index": [0, 0], "value": 0.5})
    copy = ws.recv_type("save", where=lambda m: m["run"]["branches"][0]["commands"])
    (branch,) = copy["run"]["branches"]
    assert branch["commands"][-1]["edit"] == {"id": "L1.W", "index": [0, 0], "value": 0.5}
