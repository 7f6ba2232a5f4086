"""The loss-landscape view on the wire: its shape, its centre (the current loss), its
path (one point per iteration run) and next step, its cost bound, its class."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from engine import landscape as ls
from server.live.session import Session
from server.live.views import Pacing
from server.protocol import RunSettings, client_adapter
from server.run import landscape as run_landscape
from server.run.cost import landscape_point_s
from server.settings import Settings
from tests.server.conftest import WS, Msg, join, make_app, share, teacher_and_student

SMALL = {"dataset": "xor", "hidden": [3], "n_samples": 40, "batch_size": 4, "seed": 5}


def open_landscape(ws: WS, **req: Any) -> Msg:
    ws.send({"type": "landscape", **req})
    return ws.recv_type("landscape", where=lambda m: m["open"])


def step_iterations(ws: WS, n: int) -> None:
    for _ in range(n):
        ws.send({"type": "step", "unit": "iteration"})
    ws.handled()


def test_the_message_has_its_shape_and_its_centre_is_the_current_loss() -> None:
    from fastapi.testclient import TestClient

    with TestClient(make_app(map_hz=1000)) as client, client.websocket_connect("/ws") as raw:
        ws = WS(raw)
        ws.hello()
        ws.send({"type": "configure", "config": SMALL})
        ws.recv_type("run")
        step_iterations(ws, 6)
        train_loss = [m for m in ws.seen if m["type"] == "metrics"][-1]["points"][-1]
        assert train_loss["iteration"] == 6
        m = open_landscape(ws, size=15)
    assert m["iteration"] == 6 and m["mode"] == "random" and m["data"] == "train"
    assert m["size"] == 15 and m["requested"] == 15 and m["limit"] is None
    grid = np.array(m["loss"], dtype=float)
    assert grid.shape == (15, 15)
    # the centre is the current point: the run's training-set loss (the chart's)
    assert m["center"] == train_loss["train_loss"]
    assert grid[7, 7] == pytest.approx(m["center"], rel=1e-6)  # (float32 on the wire)
    assert m["min"] <= m["center"] <= m["max"]
    assert [a["name"] for a in m["axes"]] == ["random1", "random2"]
    assert m["span"] == run_landscape.DEFAULT_SPAN["random"]
    # the path: iterations 0…6, one point per iteration run, the current point last
    path = m["path"]
    assert path["iterations"] == list(range(7))
    assert len(path["xy"]) == len(path["loss"]) == 7
    assert path["xy"][-1] == [0.0, 0.0] and path["loss"][-1] == m["center"]
    assert m["cap"] == run_landscape.PATH_CAP
    # the next step, as an arrow from the centre
    step = m["step"]
    assert step["norm"] > 0 and 0 < step["in_plane"] <= 1
    assert math.hypot(*step["xy"]) > 0
    assert m["lr"] == 0.03


def session_at(iterations: int, **cfg: Any) -> Session:
    s = Session(Settings(), RunSettings(**{**SMALL, **cfg}))
    s.history.train(iterations)
    return s


def settle(s: Session) -> dict[str, Any]:
    """Run the landscape's pieces (paced sends, path replays) until none is left; the
    last message sent."""
    t = 1e6
    while "landscape" in s.views.dirty:
        t += 1000.0  # (past any pacing interval)
        s.views.flush(Pacing(), t)
    return s.views.last["landscape"]


def landscape_of(s: Session, **req: Any) -> dict[str, Any]:
    msg = client_adapter.validate_python({"type": "landscape", **req})
    s.views.handle(msg)
    assert s.views.landscape is not None
    return settle(s)


def test_the_path_is_the_runs_weights_and_the_arrow_its_next_update() -> None:
    s = session_at(25)
    st = s.stepper
    m = landscape_of(s, mode="weights", a={"id": "L1.W", "index": [0, 2]},
                     b={"id": "L2.b", "index": [0]}, size=9)
    # replayed weights: fresh runs stopped at each iteration give the same numbers
    w0 = st.net.params["L1.W"][0, 2]
    b0 = st.net.params["L2.b"][0]
    for k in (0, 7, 24):
        other = session_at(k).stepper
        x, y = m["path"]["xy"][k]
        assert x == other.net.params["L1.W"][0, 2] - w0
        assert y == other.net.params["L2.b"][0] - b0
    assert m["axes"][0] == {"kind": "weight", "id": "L1.W", "index": [0, 2], "value": w0}
    # the arrow: the update the next iteration then makes, in these two coordinates
    recs = st.step_iteration()
    upd = recs[-1].values
    assert m["step"]["xy"][0] == pytest.approx(upd["L1.W.step"][0, 2], rel=1e-9)
    assert m["step"]["xy"][1] == pytest.approx(upd["L2.b.step"][0], rel=1e-9)


def test_the_path_keeps_at_most_its_cap_and_comes_back_after_a_seek() -> None:
    s = session_at(260)
    first = s.views
    msg = client_adapter.validate_python({"type": "landscape", "size": 7})
    first.handle(msg)
    # the first message comes at once, with the path as far as one piece of work goes
    assert first.last["landscape"]["path"]["iterations"][-1] == 260
    m = settle(s)  # the rest of the path comes with the next pieces
    assert m["path"]["iterations"] == list(range(60, 261))
    s.history.seek((30, 0))
    s.views.after_train()
    m = settle(s)
    assert m["path"]["iterations"] == list(range(31))


def test_mid_iteration_the_arrow_is_this_iterations_update() -> None:
    s = session_at(10)
    s.history.step_phase()  # forward of iteration 10
    s.history.step_phase()  # loss
    m = landscape_of(s, mode="step", size=7)
    assert [a["name"] for a in m["axes"]] == ["step", "across"]
    before = s.stepper.net.params["L2.W"].copy()
    s.history.step_phase()
    s.history.step_phase()  # the update
    moved = s.stepper.net.params["L2.W"] - before
    norm = m["step"]["norm"]
    # (the arrow's length is the whole step's; L2.W's part is in it)
    assert norm >= np.linalg.norm(moved) > 0


def test_a_request_past_the_piece_bound_is_coarsened_then_refused_naming_it() -> None:
    # a grid a side of 31 does not fit 1 ms: coarser, and the message says why
    s = Session(Settings(max_piece_ms=1), RunSettings(**SMALL))
    m = landscape_of(s, size=31)
    assert m["size"] < 31 and m["size"] % 2 == 1 and m["limit"] == "max_piece_ms"
    assert m["size"] ** 2 * landscape_point_s(s.stepper) <= 1e-3
    # a big data set through a wide network: not even the smallest grid fits 25 ms
    big = Session(Settings(), RunSettings(dataset="spiral", n_samples=2000, hidden=[64, 64],
                                          batch_size=10))
    msg = client_adapter.validate_python({"type": "landscape"})
    big.views.handle(msg)
    out = [big.views.last.get("landscape")]
    assert out[0] == {"type": "landscape", "open": False}
    assert big.views.landscape is None


def test_the_refusal_reaches_the_page_as_a_limit_error() -> None:
    from fastapi.testclient import TestClient

    with TestClient(make_app()) as client, client.websocket_connect("/ws") as raw:
        ws = WS(raw)
        ws.hello()
        ws.send({"type": "configure", "config": {"dataset": "spiral", "n_samples": 2000,
                                                 "hidden": [64, 64], "batch_size": 10}})
        ws.recv_type("run")
        ws.send({"type": "landscape", "size": 31})
        err = ws.recv_type("error")
        closed = ws.recv_type("landscape")
    assert err["code"] == "limit" and err["limit"] == "max_piece_ms"
    assert "max_piece_ms=25" in err["message"] and "7×7" in err["message"]
    assert closed == {"type": "landscape", "open": False}


def test_bad_requests_are_refused_and_closing_says_so() -> None:
    from fastapi.testclient import TestClient

    with TestClient(make_app()) as client, client.websocket_connect("/ws") as raw:
        ws = WS(raw)
        ws.hello()
        ws.send({"type": "landscape", "size": 30})
        assert "odd" in ws.error()["message"]
        ws.send({"type": "landscape", "mode": "weights", "a": {"id": "L1.W", "index": [0, 0]}})
        assert "'a' and 'b'" in ws.error()["message"]
        ws.send({"type": "landscape", "mode": "weights", "a": {"id": "L9.W", "index": [0, 0]},
                 "b": {"id": "L1.b", "index": [0]}})
        assert "unknown parameter 'L9.W'" in ws.error()["message"]
        open_landscape(ws, size=7)
        ws.send({"type": "landscape", "open": False})
        assert ws.recv_type("landscape") == {"type": "landscape", "open": False}


def test_it_is_resent_when_the_weights_change_and_follows_a_new_run() -> None:
    from fastapi.testclient import TestClient

    with TestClient(make_app(map_hz=1000)) as client, client.websocket_connect("/ws") as raw:
        ws = WS(raw)
        ws.hello()
        first = open_landscape(ws, size=7)
        ws.send({"type": "step", "unit": "iteration"})
        again = ws.recv_type("landscape")
        assert again["iteration"] == first["iteration"] + 1
        ws.send({"type": "configure", "config": {**SMALL, "seed": 9}})
        ws.recv_type("run")
        other = ws.recv_type("landscape")
    assert other["iteration"] == 0 and other["path"]["iterations"] == [0]
    assert other["center"] != first["center"]  # another seed: another point, another slice


def test_a_class_gets_the_teachers_landscape() -> None:
    with teacher_and_student(make_app(map_hz=1000)) as (_, t, s):
        t.send({"type": "configure", "config": SMALL})
        t.recv_type("run")
        code = share(t)
        join(s, code)
        mine = open_landscape(t, size=9)
        theirs = s.recv_type("landscape", where=lambda m: m["open"])
        assert theirs == mine
        s.send({"type": "landscape", "open": False})
        assert s.recv_type("error")["code"] == "read_only"


def test_directions_are_the_same_for_everyone_with_the_seed() -> None:
    a, b = session_at(3), session_at(3)
    ma, mb = landscape_of(a, size=7), landscape_of(b, size=7)
    assert ma["loss"].tolist() == mb["loss"].tolist()
    c = session_at(3, seed=6)
    assert landscape_of(c, size=7)["loss"].tolist() != ma["loss"].tolist()
    plane = ls.random_plane(a.stepper.net.params, 5)
    ev = ls.Evaluator(a.stepper.net, a.stepper.data.x_train, a.stepper.data.t_train)
    np.testing.assert_allclose(ma["loss"], ev.grid(plane, 7, 1.0), rtol=1e-6)


def test_a_path_out_of_reach_stops_asking_for_pieces() -> None:
    s = session_at(2000)
    for b in s.history.branches.values():  # as a thinned history: iteration 0's checkpoint only
        for it in [k for k in b.checkpoints if k]:
            del b.checkpoints[it]
    s.views.handle(client_adapter.validate_python({"type": "landscape", "size": 7,
                                                   "span": 0.5}))
    settle(s)  # ends: no piece is asked for again and again
    m = s.views.last["landscape"]
    assert m["path"]["iterations"] == [2000]  # 2,000 iterations to replay: not in a piece
    assert "landscape" not in s.views.dirty
