"""Inspector, focus and hand edits, in process: the numbers are the engine's, bad requests
get an error naming what was wrong, and the session keeps working."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from engine import losses
from server.app import create_app
from server.outbox import Outbox
from server.protocol import RunSettings, client_adapter
from server.session import Session
from server.settings import Settings


def drain(ob: Outbox) -> list[dict[str, Any]]:
    out = []
    while len(ob):
        out.append(asyncio.run(ob.get()))
    return out


def make_session(**cfg: Any) -> tuple[Session, Outbox]:
    s = Session(Settings(), RunSettings(**cfg))
    ob = Outbox(512)
    s.attach(ob)
    drain(ob)
    return s, ob


def send(s: Session, msg: dict[str, Any]) -> list[dict[str, Any]]:
    s.handle(client_adapter.validate_python(msg))
    assert s.outbox is not None
    return drain(s.outbox)


def of_type(msgs: list[dict[str, Any]], type_: str) -> list[dict[str, Any]]:
    return [m for m in msgs if m["type"] == type_]


# ---- focus -------------------------------------------------------------------------


@pytest.mark.parametrize("split", ["train", "test"])
def test_focus_sends_the_samples_forward_values_in_eval_mode(split: str) -> None:
    s, _ = make_session(dataset="circle", hidden=(3, 2), norm="batch", dropout=0.2)
    send(s, {"type": "step", "unit": "iteration"})
    msgs = send(s, {"type": "focus", "split": split, "index": 7})
    (f,) = of_type(msgs, "focus")
    d = s.stepper.data
    x = (d.x_train if split == "train" else d.x_test)[7:8]
    t = (d.t_train if split == "train" else d.t_test)[7:8]
    caches = s.stepper.net.forward(x, train=False)
    assert f["split"] == split and f["index"] == 7
    np.testing.assert_array_equal(f["values"]["L1.a"], caches[0].a[0])
    np.testing.assert_array_equal(f["values"]["y"], caches[-1].a[0])
    want = losses.compute(s.stepper.net.spec.loss, caches[-1].z, caches[-1].a, t, None)
    assert f["loss"] == float(want.per_sample[0])
    # clearing the focus says so
    (cleared,) = of_type(send(s, {"type": "focus", "index": None}), "focus")
    assert cleared["index"] is None


def test_focus_follows_the_weights_after_each_iteration(monkeypatch: pytest.MonkeyPatch) -> None:
    s, _ = make_session(dataset="xor")
    first = of_type(send(s, {"type": "focus", "split": "train", "index": 0}), "focus")[0]
    import server.views as views
    now = [1e6]
    monkeypatch.setattr(views.time, "monotonic", lambda: now[0])
    later = of_type(send(s, {"type": "step", "unit": "iteration"}), "focus")
    assert later and later[-1]["iteration"] == 1
    assert later[-1]["values"]["y"][0] != first["values"]["y"][0]


# ---- edit --------------------------------------------------------------------------


def test_edit_sets_the_weight_and_reports_the_new_loss() -> None:
    s, _ = make_session(dataset="xor", hidden=(4,))
    send(s, {"type": "step", "unit": "iteration"})
    before = s.stepper.evaluate(s.stepper.data.x_train, s.stepper.data.t_train)[0]
    old = float(s.stepper.net.params["L1.W"][1, 2])
    msgs = send(s, {"type": "edit", "id": "L1.W", "index": [1, 2], "value": 3.25})
    (e,) = of_type(msgs, "edit")
    assert s.stepper.net.params["L1.W"][1, 2] == 3.25
    assert e["applied"] and e["old"] == old and e["value"] == 3.25
    assert e["params"]["L1.W"][1][2] == 3.25
    after = s.stepper.evaluate(s.stepper.data.x_train, s.stepper.data.t_train)[0]
    assert e["train_loss"] == after != before
    # the batch just used, re-run with the new weight
    idx = e["batch"]["indices"]
    assert len(idx) == 10
    y = s.stepper.net.predict(s.stepper.data.x_train[idx])
    np.testing.assert_array_equal(e["batch"]["y"], y)
    # maps follow the edit at once
    assert of_type(msgs, "maps")


def test_edit_mid_iteration_waits_for_the_iteration_to_end() -> None:
    s, _ = make_session(dataset="xor", hidden=(4,))
    send(s, {"type": "step", "unit": "phase"})  # forward done; loss, backward, update to come
    (ack,) = of_type(send(s, {"type": "edit", "id": "L2.b", "index": [0], "value": -0.5}), "edit")
    assert ack["applied"] is False
    assert s.stepper.net.params["L2.b"][0] != -0.5
    send(s, {"type": "step", "unit": "phase"})
    send(s, {"type": "step", "unit": "phase"})
    msgs = send(s, {"type": "step", "unit": "phase"})  # update: the iteration is complete
    (done,) = of_type(msgs, "edit")
    assert done["applied"] and done["iteration"] == 1
    assert s.stepper.net.params["L2.b"][0] == -0.5


def test_an_edit_replays_exactly_from_the_same_seed() -> None:
    def run() -> np.ndarray:
        s, _ = make_session(dataset="spiral", hidden=(5,), seed=7)
        for _ in range(3):
            send(s, {"type": "step", "unit": "iteration"})
        send(s, {"type": "edit", "id": "L1.W", "index": [0, 4], "value": 1.5})
        for _ in range(3):
            send(s, {"type": "step", "unit": "iteration"})
        return s.stepper.net.params["L2.W"].copy()

    np.testing.assert_array_equal(run(), run())


# ---- inspect -----------------------------------------------------------------------


def test_inspect_a_unit_and_close_it() -> None:
    s, _ = make_session(dataset="xor", hidden=(4, 3))
    send(s, {"type": "step", "unit": "iteration"})
    (m,) = of_type(send(s, {"type": "inspect", "id": "L2.a", "index": [1]}), "inspect")
    assert m["id"] == "L2.a" and m["index"] == [1]
    (closed,) = of_type(send(s, {"type": "inspect", "id": None}), "inspect")
    assert closed["id"] is None
    # closed: stepping sends no inspector updates
    assert not of_type(send(s, {"type": "step", "unit": "iteration"}), "inspect")


# ---- bad input ---------------------------------------------------------------------


BAD = [
    ({"type": "inspect", "id": "L7.W", "index": [0, 0]}, "id"),
    ({"type": "inspect", "id": "L1.W", "index": [2, 0]}, "index"),
    ({"type": "inspect", "id": "L1.W", "index": [0]}, "index"),
    ({"type": "inspect", "id": "L3.a", "index": [0]}, "id"),
    ({"type": "inspect", "id": "L0.a", "index": [0]}, "id"),
    ({"type": "focus", "split": "test", "index": 100}, "index"),
    ({"type": "edit", "id": "L1.q", "index": [0, 0], "value": 1.0}, "id"),
    ({"type": "edit", "id": "L2.W", "index": [4, 0], "value": 1.0}, "index"),
]


@pytest.mark.parametrize(("msg", "field"), BAD)
def test_bad_view_requests_get_an_error_naming_the_field(msg: dict[str, Any], field: str) -> None:
    s, _ = make_session(dataset="xor", hidden=(4,))
    params = {k: v.copy() for k, v in s.stepper.net.params.items()}
    (err,) = of_type(send(s, msg), "error")
    assert err["code"] == "invalid" and err["field"] == field
    for k, v in params.items():
        np.testing.assert_array_equal(s.stepper.net.params[k], v)
    assert len(of_type(send(s, {"type": "step", "unit": "iteration"}), "frame")) == 4


def test_non_finite_and_malformed_requests_over_the_socket_keep_the_session() -> None:
    app = create_app(Settings(allowed_hosts=["testserver"]))
    with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "hello"})
        bad = [
            '{"type": "edit", "id": "L1.W", "index": [0, 0], "value": 1e400}',
            '{"type": "edit", "id": "L1.W", "index": [0, 0], "value": NaN}',
            '{"type": "edit", "id": "L1.W", "index": [0, 0], "value": 1e7}',
            '{"type": "edit", "id": "L1.W", "index": [-1, 0], "value": 1}',
            '{"type": "focus", "split": "valid", "index": 0}',
            '{"type": "inspect", "id": "L1.W", "index": [0, 0, 0]}',
        ]
        for text in bad:
            ws.send_text(text)
        errors = 0
        while errors < len(bad):
            m = ws.receive_json()
            if m["type"] == "error":
                assert m["code"] == "invalid"
                errors += 1
        ws.send_json({"type": "edit", "id": "L1.W", "index": [0, 0], "value": 0.75})
        while (m := ws.receive_json())["type"] != "edit":
            pass
        assert m["applied"] and m["value"] == 0.75
        ws.send_json({"type": "step", "unit": "iteration"})
        phases = []
        while len(phases) < 4:
            m = ws.receive_json()
            if m["type"] == "frame":
                phases.append(m["phase"])
        assert phases == ["forward", "loss", "backward", "update"]
