"""Playback over the session socket: seek and step back send exactly the frames first
sent; a change in the past branches; a saved run file loads and replays identically;
a reconnecting page resumes at the same point; metrics and weights download as CSV."""

from __future__ import annotations

import csv
import io
import json
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from engine.stepper import Stepper
from server.protocol import RunSettings, encode
from server.run.runconfig import run_config
from tests.server.conftest import WS, make_app

CONFIG = {"dataset": "xor", "hidden": [4, 3], "activation": "tanh", "batch_size": 8,
          "lr": 0.1, "seed": 11}
Msg = dict[str, Any]


def configure(ws: WS, **over: object) -> Msg:
    ws.send({"type": "configure", "config": {**CONFIG, **over}})
    run = ws.recv_type("run")
    ws.recv_type("timeline")
    return run


def step_frames(ws: WS, n: int) -> dict[tuple[int, str], Msg]:
    out = {}
    for _ in range(n):
        f = ws.step_frame()
        out[(f["iteration"], f["phase"])] = f
        ws.recv_type("state")
    return out


def frames_until_timeline(ws: WS) -> tuple[list[Msg], Msg, Msg]:
    """A jump's reply: its timeline (with the weights in use), the frames of the
    iteration shown, then the state."""
    tl = ws.recv_type("timeline", where=lambda m: "params" in m)
    frames: list[Msg] = []
    while True:
        m = ws.recv()
        if m["type"] == "frame":
            frames.append(m)
        elif m["type"] == "state":
            return frames, m, tl


def test_seek_and_step_back_send_exactly_the_frames_first_sent(ws: WS) -> None:
    configure(ws)
    first = step_frames(ws, 4 * 9 + 3)  # to iteration 9, before update
    ws.send({"type": "seek", "iteration": 4, "phase": "backward"})
    frames, state, tl = frames_until_timeline(ws)
    assert [(f["iteration"], f["phase"]) for f in frames] == [
        (4, "forward"), (4, "loss"), (4, "backward")]
    for f in frames:
        assert f == first[(f["iteration"], f["phase"])]
    assert state["iteration"] == 4 and state["next_phase"] == "update"
    assert tl["length"] == 9 and tl["end_phase"] == "update" and tl["iteration"] == 4
    # the weights in use at that point come along (the page's are iteration 9's)
    assert tl["params"]["L2.W"] == first[(4, "update")]["values"]["L2.W.prev"]

    ws.send({"type": "step", "unit": "phase", "direction": "back"})
    frames, state, _ = frames_until_timeline(ws)
    assert frames[-1] == first[(4, "loss")] and state["next_phase"] == "backward"

    ws.send({"type": "step", "unit": "phase"})  # forward again: the same backward
    assert ws.recv_type("frame") == first[(4, "backward")]

    ws.send({"type": "seek", "iteration": 7})  # after 7 whole iterations
    frames, state, _ = frames_until_timeline(ws)
    assert [f["phase"] for f in frames] == ["forward", "loss", "backward", "update"]
    assert all(f == first[(6, f["phase"])] for f in frames)
    assert state["iteration"] == 7 and state["next_phase"] == "forward"

    ws.send({"type": "seek", "iteration": 10_000})  # past the end: clamped to the end
    _, state, _ = frames_until_timeline(ws)
    assert (state["iteration"], state["next_phase"]) == (9, "update")


def test_a_setting_changed_in_the_past_branches_and_both_futures_stay(ws: WS) -> None:
    configure(ws)
    old = step_frames(ws, 4 * 12)
    ws.send({"type": "seek", "iteration": 6})
    frames_until_timeline(ws)
    ws.send({"type": "set", "lr": 0.7})
    run = ws.recv_type("run")
    assert run["config"]["lr"] == 0.7 and run["state"]["iteration"] == 6
    tl = ws.recv_type("timeline")
    assert [b["id"] for b in tl["branches"]] == [0, 1] and tl["branch"] == 1
    assert tl["branches"][1]["change"]["set"] == {"lr": 0.7}
    assert any(m["kind"] == "set" and m["iteration"] == 6 for m in tl["markers"])
    assert tl["settings"]["lr"] == 0.7
    metrics = ws.recv_type("metrics")
    assert metrics["replace"] is True
    assert [p["iteration"] for p in metrics["points"]] == list(range(1, 7))
    new = step_frames(ws, 4 * 3)
    assert new[(7, "update")] != old[(7, "update")]
    assert new[(6, "forward")] == old[(6, "forward")]  # forward ran before the new rate

    ws.send({"type": "checkout", "branch": 0})
    run = ws.recv_type("run")
    assert run["config"]["lr"] == 0.1
    tl = ws.recv_type("timeline")
    assert tl["branch"] == 0 and tl["length"] == 12
    ws.send({"type": "seek", "iteration": 8, "phase": "update"})
    frames, _, _ = frames_until_timeline(ws)
    assert frames[-1] == old[(8, "update")]

    ws.send({"type": "checkout", "branch": 9})
    assert "no branch 9" in ws.error()["message"]
    ws.works()


def test_a_branch_switch_keeps_the_health_charts_series_from_before_the_fork(ws: WS) -> None:
    """Per layer ‖∂L/∂W‖ and ‖ΔW‖/‖W‖ come back with a switch: before the fork the
    parent's points, exactly as first sent; after it the branch's own."""
    configure(ws)
    sent: dict[int, Msg] = {}
    for _ in range(10):
        ws.send({"type": "step", "unit": "iteration"})
        for p in ws.recv_type("metrics")["points"]:
            sent[p["iteration"]] = p
    assert len(sent[10]["gnorm"]) == 3 and len(sent[10]["update_ratio"]) == 3
    ws.send({"type": "seek", "iteration": 5})
    frames_until_timeline(ws)
    ws.send({"type": "set", "lr": 0.9})
    ws.recv_type("run")
    points = ws.recv_type("metrics", where=lambda m: m.get("replace"))["points"]
    assert [p["iteration"] for p in points] == [1, 2, 3, 4, 5]
    for p in points:
        for key in ("gnorm", "update_ratio"):
            assert p[key] == sent[p["iteration"]][key], (p["iteration"], key)
    branch: dict[int, Msg] = {}
    for _ in range(3):
        ws.send({"type": "step", "unit": "iteration"})
        for p in ws.recv_type("metrics")["points"]:
            branch[p["iteration"]] = p
    # the new rate's own steps, then gradients (iteration 6's came before its update)
    assert branch[6]["update_ratio"] != sent[6]["update_ratio"]
    assert branch[7]["gnorm"] != sent[7]["gnorm"]

    ws.send({"type": "checkout", "branch": 0})
    ws.recv_type("run")
    points = ws.recv_type("metrics", where=lambda m: m.get("replace"))["points"]
    assert [p["iteration"] for p in points] == list(range(1, 11))
    assert all(p["gnorm"] == sent[p["iteration"]]["gnorm"] for p in points)
    ws.send({"type": "checkout", "branch": 1})
    ws.recv_type("run")
    points = ws.recv_type("metrics", where=lambda m: m.get("replace"))["points"]
    assert [p["gnorm"] for p in points] == [sent[i]["gnorm"] for i in range(1, 6)] + [
        branch[i]["gnorm"] for i in range(6, 9)]


def test_a_saved_run_loads_and_replays_identically(client: TestClient) -> None:
    with client.websocket_connect("/ws") as raw:
        ws = WS(raw)
        sid = ws.hello()["session"]
        configure(ws, optimizer={"name": "sgd", "momentum": 0.5})
        first = step_frames(ws, 4 * 5 + 1)
        ws.send({"type": "set", "lr": 0.4, "optimizer": {"name": "adam"}})
        ws.recv_type("timeline")
        first.update(step_frames(ws, 4 * 5))
        saved = client.post("/runs/run.json", data={"session": sid})
    assert saved.status_code == 200
    assert "attachment" in saved.headers["content-disposition"]
    file = saved.json()
    assert file["format"] == "backprop-lab-run" and file["version"] == 2
    assert file["settings"]["seed"] == 11 and file["branch"] == 0
    (root,) = file["branches"]
    assert root["length"] == 10 and root["end_phase"] == "loss"
    assert root["parent"] is None and root["base"] == 0
    assert root["commands"] == [{"iteration": 5, "phase": "loss",
                                 "set": {"lr": 0.4, "optimizer": {"name": "adam"}}}]
    assert len(saved.content) < 20_000  # small: no frames

    with client.websocket_connect("/ws") as raw:
        ws = WS(raw)
        ws.hello()
        ws.send({"type": "load", "run": file})
        run = ws.recv_type("run")
        # it opens where it was saved, with the settings in force there
        assert run["config"]["optimizer"] == {"name": "adam"} and run["config"]["lr"] == 0.4
        assert run["state"]["iteration"] == 10 and run["state"]["next_phase"] == "loss"
        tl = ws.recv_type("timeline")
        assert tl["length"] == 10 and (tl["iteration"], tl["phase"]) == (10, "loss")
        ws.send({"type": "seek", "iteration": 0})  # and replays from the start exactly
        frames_until_timeline(ws)
        again = step_frames(ws, 4 * 10 + 1)
        assert again.keys() == first.keys()
        for key, f in first.items():
            assert again[key] == f, key
        ws.send({"type": "seek", "iteration": 2, "phase": "update"})
        frames, _, _ = frames_until_timeline(ws)
        assert frames[-1] == first[(2, "update")]


def step_iterations(ws: WS, n: int) -> dict[tuple[int, str], Msg]:
    """Step ``n`` whole iterations (one command each: within the rate limit), their frames."""
    out = {}
    for _ in range(n):
        ws.send({"type": "step", "unit": "iteration"})
        while True:
            m = ws.recv()
            if m["type"] == "frame":
                out[(m["iteration"], m["phase"])] = m
            elif m["type"] == "state":
                break
    return out


def load_reply(ws: WS) -> tuple[Msg, Msg]:
    """A load's ``run`` and the first ``timeline`` after it."""
    run = ws.recv_type("run")
    return run, ws.recv_type("timeline")


def test_a_saved_run_brings_back_every_branch_and_the_one_the_learner_was_on(
        client: TestClient) -> None:
    """Three futures (a change at 6, another at 8 on that branch, an edit at the end of
    the first) saved while on the second: a load reopens that one, lists all three
    with their forks, and each replays exactly as first computed."""
    with client.websocket_connect("/ws") as raw:
        ws = WS(raw)
        sid = ws.hello()["session"]
        configure(ws)
        first: dict[int, dict[tuple[int, str], Msg]] = {0: step_iterations(ws, 12)}
        ws.send({"type": "seek", "iteration": 6})
        frames_until_timeline(ws)
        ws.send({"type": "set", "lr": 0.7})  # branch 1
        ws.recv_type("metrics")
        first[1] = step_iterations(ws, 4)
        ws.send({"type": "seek", "iteration": 8})
        frames_until_timeline(ws)
        ws.send({"type": "set", "optimizer": {"name": "adam"}})  # branch 2, from branch 1
        ws.recv_type("metrics")
        first[2] = step_iterations(ws, 3)
        ws.send({"type": "checkout", "branch": 0})
        ws.recv_type("metrics")
        ws.send({"type": "seek", "iteration": 12})
        frames_until_timeline(ws)
        ws.send({"type": "edit", "id": "L1.W", "index": [0, 1], "value": 0.25})
        ws.recv_type("edit")
        first[0].update(step_iterations(ws, 1))
        ws.send({"type": "checkout", "branch": 1})
        _, tl = load_reply(ws)
        assert tl["branch"] == 1
        saved_tl = {b["id"]: b for b in tl["branches"]}
        file = client.post("/runs/run.json", data={"session": sid}).json()
    assert file["version"] == 2 and file["branch"] == 1
    by_id = {b["id"]: b for b in file["branches"]}
    assert sorted(by_id) == [0, 1, 2]
    assert by_id[1]["parent"] == 0 and by_id[1]["fork"] == {"iteration": 6, "phase": "forward"}
    assert by_id[1]["base"] == 0 and len(by_id[1]["commands"]) == 1
    assert by_id[2]["parent"] == 1 and by_id[2]["base"] == 1  # lr 0.7 shared, not repeated
    assert [c["set"] for c in by_id[2]["commands"]] == [{"optimizer": {"name": "adam"}}]
    assert [c.get("edit") for c in by_id[0]["commands"]] == [
        {"id": "L1.W", "index": [0, 1], "value": 0.25}]

    with client.websocket_connect("/ws") as raw:
        ws = WS(raw)
        ws.hello()
        ws.send({"type": "load", "run": file})
        run, tl = load_reply(ws)
        # branch 1 where the learner left it (at 8, where branch 2 forked), after its
        # change at 6
        assert run["config"]["lr"] == 0.7
        assert tl["branch"] == 1 and tl["iteration"] == 8 and tl["length"] == 10
        for b in tl["branches"]:
            want = saved_tl[b["id"]]
            assert {k: b[k] for k in ("parent", "fork", "length", "change")} == {
                k: want[k] for k in ("parent", "fork", "length", "change")}
        ws.send({"type": "seek", "iteration": 0})
        frames_until_timeline(ws)
        again = step_iterations(ws, 10)
        assert all(again[k] == first[1][k] for k in again if k in first[1])
        assert all(again[k] == first[0][k] for k in again if k[0] < 6)
        for branch, (it, phase) in ((2, (10, "update")), (0, (12, "update")),
                                    (1, (9, "loss")), (2, (8, "forward")), (0, (4, "loss"))):
            ws.send({"type": "checkout", "branch": branch})
            _, tl = load_reply(ws)
            assert tl["branch"] == branch
            ws.send({"type": "seek", "iteration": it, "phase": phase})
            frames, _, _ = frames_until_timeline(ws)
            assert frames[-1] == first[branch][(it, phase)], branch


def test_a_version_1_run_file_still_loads(ws: WS) -> None:
    file = {"format": "backprop-lab-run", "version": 1, "settings": CONFIG, "length": 4,
            "end_phase": "loss",
            "commands": [{"iteration": 2, "phase": "backward", "set": {"lr": 0.5}}]}
    ws.send({"type": "load", "run": file})
    _, tl = load_reply(ws)
    assert tl["length"] == 4 and tl["end_phase"] == "loss"
    assert [b["id"] for b in tl["branches"]] == [0] and tl["markers"][0]["kind"] == "set"
    frames = step_frames(ws, 4 * 3)
    ref = Stepper(run_config(RunSettings.model_validate(CONFIG)))
    ref.train(2)
    ref.step_phase()
    ref.step_phase()
    ref.set_hyper(lr=0.5)
    ref.step_phase()
    upd = ref.step_phase()
    assert frames[(2, "update")]["values"] == json.loads(encode(upd.values))
    # a version 1 file with branches, a version 2 one without, or a lost current branch
    for bad, field in (({**file, "branches": [{"id": 0}]}, "run.branches"),
                       ({**file, "version": 2}, "run.branches"),
                       ({**file, "version": 2, "commands": [], "length": 0, "branch": 3,
                         "branches": [{"id": 0, "length": 4}]}, "run.branch")):
        ws.send({"type": "load", "run": bad})
        assert ws.error()["field"] == field


def test_a_bad_run_file_is_refused_clearly_and_the_session_goes_on(ws: WS) -> None:
    configure(ws)
    good = {"format": "backprop-lab-run", "version": 1, "settings": CONFIG, "length": 5}
    ws.send({"type": "load", "run": {**good, "version": 7}})
    assert ws.error()["field"] == "run.version"
    ws.send({"type": "load", "run": {**good, "commands": [
        {"iteration": 9, "phase": "forward", "set": {"lr": 0.2}}]}})
    err = ws.error()
    assert "past the run's length" in err["message"] and err["field"] == "run.commands.0"
    ws.send({"type": "load", "run": {**good, "commands": [
        {"iteration": 1, "edit": {"id": "L1.W", "index": [5, 0], "value": 1.0}}]}})
    assert "outside L1.W" in ws.error()["message"]
    ws.send({"type": "load", "run": {**good, "settings": {**CONFIG, "hidden": [999]}}})
    assert ws.error()["code"] == "limit"
    ws.works()


def test_a_reconnecting_page_resumes_at_the_same_point(client: TestClient) -> None:
    with client.websocket_connect("/ws") as raw:
        ws = WS(raw)
        sid = ws.hello()["session"]
        configure(ws)
        first = step_frames(ws, 4 * 6 + 3)
        ws.send({"type": "step", "unit": "phase", "direction": "back"})
        frames_until_timeline(ws)
    with client.websocket_connect("/ws") as raw:
        ws = WS(raw)
        ws.send({"type": "hello", "session": sid})
        run = ws.recv_type("run")
        assert run["session"] == sid
        assert (run["state"]["iteration"], run["state"]["next_phase"]) == (6, "backward")
        frames, _, tl = frames_until_timeline(ws)
        assert frames == [first[(6, "forward")], first[(6, "loss")]]
        assert tl["length"] == 6
        assert ws.step_frame() == first[(6, "backward")]


def test_metrics_and_weights_download_as_csv_and_only_for_their_session(
        client: TestClient) -> None:
    with client.websocket_connect("/ws") as raw:
        ws = WS(raw)
        sid = ws.hello()["session"]
        configure(ws)
        step_frames(ws, 4 * 3)
        ws.send({"type": "step", "unit": "phase"})
        ws.recv_type("state")
        m = client.post("/runs/metrics.csv", data={"session": sid})
        w = client.post("/runs/weights.csv", data={"session": sid})
        other = client.post("/runs/weights.csv", data={"session": "not-a-session"})
    rows = list(csv.DictReader(io.StringIO(m.text)))
    assert m.headers["content-type"].startswith("text/csv")
    assert [int(r["iteration"]) for r in rows] == [1, 2, 3]
    assert all(float(r["train_loss"]) > 0 for r in rows)
    wrows = list(csv.DictReader(io.StringIO(w.text)))
    assert len(wrows) == 2 * 4 + 4 + 4 * 3 + 3 + 3 * 1 + 1
    assert {r["id"] for r in wrows} == {"L1.W", "L1.b", "L2.W", "L2.b", "L3.W", "L3.b"}
    assert {r["iteration"] for r in wrows} == {"3"}
    assert other.status_code == 404 and "L1.W" not in other.text


def test_history_of_a_session_is_bounded_by_the_setting() -> None:
    with TestClient(make_app(max_history_mb=0.05)) as client, \
            client.websocket_connect("/ws") as raw:
        ws = WS(raw)
        ws.hello()
        configure(ws)
        ws.send({"type": "play", "speed": 1000})
        ws.recv_type("timeline", timeout=10, where=lambda t: t["length"] > 800)
        ws.send({"type": "pause"})
        session = next(iter(client.app.state.sessions))  # type: ignore[attr-defined]
        h = session.history
        assert h.interval > 64
        assert sum(cp.nbytes for cp in h.active.checkpoints.values()) <= 0.05 * 2**20


def test_a_long_loaded_run_is_indexed_in_the_background_so_far_seeks_are_exact(
        client: TestClient) -> None:
    file = {"format": "backprop-lab-run", "version": 1, "settings": CONFIG, "length": 3000,
            "commands": [{"iteration": 1234, "phase": "backward", "set": {"lr": 0.05}}]}
    with client.websocket_connect("/ws") as raw:
        ws = WS(raw)
        ws.hello()
        ws.send({"type": "load", "run": file})
        load_reply(ws)
        session = next(s for s in client.app.state.sessions  # type: ignore[attr-defined]
                       if s.outbox is not None)
        h = session.history
        deadline = time.monotonic() + 20
        while h.indexer is not None and time.monotonic() < deadline:
            time.sleep(0.05)
            ws.works()  # the session answers while its run is being indexed
        assert h.indexer is None
        assert max(h.active.checkpoints) == 3000 - 3000 % h.interval
        ws.send({"type": "seek", "iteration": 2990, "phase": "update"})
        frames, state, tl = frames_until_timeline(ws)
    ref = Stepper(run_config(RunSettings.model_validate(CONFIG)))
    ref.train(1234)
    ref.step_phase()
    ref.step_phase()
    ref.set_hyper(lr=0.05)
    ref.train(2990 - 1235)  # finishes iteration 1234 first
    want = [(r.iteration, r.phase, json.loads(encode(r.values))) for r in ref.step_iteration()]
    assert [(f["iteration"], f["phase"], f["values"]) for f in frames] == want
    assert state["iteration"] == 2991 and tl["length"] == 3000


def test_a_page_back_from_a_drop_the_server_missed_takes_its_session_back(
        client: TestClient) -> None:
    with client.websocket_connect("/ws") as raw_old:
        old = WS(raw_old)
        sid = old.hello()["session"]
        configure(old)
        step_frames(old, 4 * 3 + 1)
        # the old socket is still open as far as the server knows
        with client.websocket_connect("/ws") as raw_new:
            new = WS(raw_new)
            new.send({"type": "hello", "session": sid})
            run = new.recv_type("run")
            assert run["session"] == sid
            assert (run["state"]["iteration"], run["state"]["next_phase"]) == (3, "loss")
            try:
                while True:
                    old.recv(timeout=2)
            except ConnectionError as e:
                assert "4001" in str(e)
            new.works()


def test_seeks_stay_within_what_a_loading_run_has_indexed(ws: WS) -> None:
    file = {"format": "backprop-lab-run", "version": 1, "settings": CONFIG,
            "length": 2_000_000}
    ws.send({"type": "load", "run": file})
    err = ws.error()
    assert err["field"] == "run.length" and "longer than this server replays" in err["message"]
    ws.send({"type": "load", "run": {**file, "length": 200_000}})
    tl = ws.recv_type("timeline")
    assert tl["length"] == 200_000 and tl["indexed"] < 200_000
    ws.send({"type": "seek", "iteration": 190_000})
    _, state, tl = frames_until_timeline(ws)
    assert state["iteration"] <= tl["indexed"] + 1 < 190_000
    ws.works()


def test_a_loaded_runs_charts_come_back_as_it_is_indexed(ws: WS) -> None:
    """A saved run opened again gets its charts back: the metrics are recomputed by
    the engine while the run is indexed, and sent whole once it is."""
    file = {"format": "backprop-lab-run", "version": 1, "settings": CONFIG, "length": 3000}
    ws.send({"type": "load", "run": file})
    load_reply(ws)
    series = ws.recv_type("metrics", timeout=30, where=lambda m: m.get("replace"))
    its = [p["iteration"] for p in series["points"]]
    assert its == sorted(its) and its[-1] == 3000 and len(its) >= 500
    assert all(p["train_loss"] is not None and p["lr"] == CONFIG.get("lr", 0.03)
               for p in series["points"])
    # and the trace between them: each iteration's batch loss, rate and gradient norms
    trace = [p["iteration"] for p in series["trace"]]
    assert trace == sorted(trace) and len(trace) >= 1000
    assert all(p["lr"] == CONFIG.get("lr", 0.03) and p["batch_loss"] > 0
               for p in series["trace"])


@pytest.mark.parametrize(("length", "position"), [(20, None), (150, 150), (150, 70)])
def test_a_loaded_runs_charts_cover_it_from_the_start(
        ws: WS, length: int, position: int | None) -> None:
    """Opened at its saved position or not, short or long, a loaded run's series runs
    from iteration 1 to its end, once per iteration, in order."""
    file: dict[str, Any] = {"format": "backprop-lab-run", "version": 1, "settings": CONFIG,
                            "length": length}
    if position is not None:
        file["position"] = {"iteration": position, "phase": "forward"}
    ws.send({"type": "load", "run": file})
    run = ws.recv_type("run")
    assert run["state"]["iteration"] == (position or 0)
    # (a replace series comes with the run, and the whole one once it is indexed)
    series = ws.recv_type("metrics", timeout=30, where=lambda m: m.get("replace")
                          and m["points"][-1]["iteration"] == length)
    its = [p["iteration"] for p in series["points"]]
    assert its == list(range(1, length + 1))


def test_the_state_at_iteration_0_carries_the_numbers_of_the_weights_in_use() -> None:
    """Before any update the Numbers show the train and test loss and accuracy of the
    weights in use (``state.start``): a fresh run's, evaluated as a metrics point is;
    after a hand edit at iteration 0, the edited weights' (the edit's own numbers),
    not the first ones; none once the run has moved on."""
    from engine import metrics

    settings = RunSettings(dataset="xor", hidden=(4,), seed=5)
    fresh = metrics.collect(Stepper(run_config(settings)))
    with TestClient(make_app()) as client, client.websocket_connect("/ws") as raw:
        ws = WS(raw)
        ws.hello()
        ws.configure(settings.model_dump(mode="json"))
        start = ws.recv_type("state")["start"]
        assert start == {k: fresh[k] for k in ("train_loss", "train_acc", "test_loss",
                                               "test_acc")}
        ws.send({"type": "edit", "id": "L1.W", "index": [0, 0], "value": 3.0})
        edit = ws.recv_type("edit")
        ws.send({"type": "pause"})  # (a state of the same position, the edit in force)
        start = ws.recv_type("state")["start"]
        assert start["train_loss"] == edit["train_loss"] != fresh["train_loss"]
        assert start["test_acc"] == edit["test_acc"]
        ws.send({"type": "step", "unit": "phase"})
        for _ in range(3):
            ws.send({"type": "step", "unit": "phase"})
        after = ws.recv_type("state", where=lambda m: m["iteration"] == 1)
        assert "start" not in after
