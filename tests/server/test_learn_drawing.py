"""'Learn this as a 3': one iteration on the learner's drawing with the class they chose.

What a learner would notice: the step is an ordinary iteration on a batch of one (its
new weights are one SGD step on that sample, its phases play one by one and pause after
the update), the drawing's probability of that class rises, and the step is part of the
run's history: a rewind across it, a saved run file and a class's copy give the same
weights bit for bit. A drawing that cannot be learned gets an error saying why, and
nothing of the run changes."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from engine import realdata
from engine.stepper import Stepper
from server.live import session as session_module
from server.live import views as views_module
from server.live.session import Session
from server.protocol import RunFile, client_adapter
from server.run import history as history_module
from server.run.history import History, records_equal
from server.run.runconfig import run_config
from server.run.runfile import RunFileError, branches_from_file, run_file
from tests.server.conftest import WS, attached_session, join, share, teacher_and_student

DIGITS: dict[str, Any] = {"dataset": "digits", "hidden": (8,), "lr": 0.1, "batch_size": 16,
                          "seed": 5}


def three() -> list[float]:
    """A 3 as scikit-learn has it: 64 pixels 0…16."""
    X, y, _ = realdata.table("digits")
    return [float(v) for v in X[int(np.flatnonzero(y == 3)[4])]]


def send(s: Session, msg: dict[str, Any]) -> list[dict[str, Any]]:
    s.handle(client_adapter.validate_python(msg))
    return s.outbox.drain()  # type: ignore[union-attr]


def play_out(s: Session) -> list[dict[str, Any]]:
    """Tick the session until its play stops (the learned iteration's update)."""
    out: list[dict[str, Any]] = []
    for _ in range(40):
        if not s.playing:
            break
        s.tick(0.5)  # one phase a tick at the learning speed
        out += s.outbox.drain()  # type: ignore[union-attr]
    assert not s.playing, "the learned iteration did not stop"
    s.views.dirty.add("drawn")
    s.views.due_now("drawn")  # (the prediction now, not at the views' pace)
    s.flush_views()
    return out + s.outbox.drain()  # type: ignore[union-attr]


def params(st: Stepper) -> dict[str, np.ndarray]:
    return {k: v.copy() for k, v in st.net.params.items()}


def same_bits(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(a[k].tobytes() == b[k].tobytes() for k in a)


def learned_session(iterations: int = 12) -> tuple[Session, list[dict[str, Any]]]:
    """A digits run trained ``iterations``, then 'learn this as 3' on a drawn 3, played;
    the messages it sent from the learn on."""
    s, _ = attached_session(**DIGITS)
    s.history.train(iterations)
    send(s, {"type": "draw", "pixels": three()})
    return s, send(s, {"type": "learn", "pixels": three(), "label": 3}) + play_out(s)


def test_learning_a_drawing_is_one_sgd_step_on_that_one_sample() -> None:
    s, _ = attached_session(**DIGITS)
    s.history.train(12)
    before = params(s.stepper)
    (drawn,) = [m for m in send(s, {"type": "draw", "pixels": three()}) if m["type"] == "drawn"]
    msgs = send(s, {"type": "learn", "pixels": three(), "label": 3})
    assert s.playing and s.speed == session_module.LEARN_SPEED  # the phases play...
    assert not [m for m in msgs if m["type"] == "frame"]
    msgs += play_out(s)
    frames = [m for m in msgs if m["type"] == "frame"]
    assert [f["phase"] for f in frames] == ["forward", "loss", "backward", "update"]
    assert {f["iteration"] for f in frames} == {12} and s.stepper.iteration == 13  # ...and stop
    # by hand: x standardised as the training split, tanh, softmax, cross-entropy, SGD
    d = s.stepper.data
    x = (np.array([three()]) - d.x_shift) / d.x_scale
    t = np.eye(10)[[3]]
    W1, b1, W2, b2 = (before[k] for k in ("L1.W", "L1.b", "L2.W", "L2.b"))
    z1 = x @ W1 + b1
    a1 = np.tanh(z1)
    z2 = a1 @ W2 + b2
    y = np.exp(z2 - z2.max()) / np.exp(z2 - z2.max()).sum()
    delta2 = y - t  # ∂L/∂z2 for one sample
    delta1 = (delta2 @ W2.T) * (1 - a1**2)
    want = {"L1.W": W1 - 0.1 * x.T @ delta1, "L1.b": b1 - 0.1 * delta1[0],
            "L2.W": W2 - 0.1 * a1.T @ delta2, "L2.b": b2 - 0.1 * delta2[0]}
    for k, w in want.items():
        np.testing.assert_allclose(s.stepper.net.params[k], w, rtol=1e-12, atol=1e-14)
    fwd = frames[0]["values"]
    np.testing.assert_array_equal(fwd["x"], x)
    assert np.array_equal(fwd["t"], t) and "batch" not in fwd  # the drawing, not a batch of data
    np.testing.assert_allclose(frames[2]["values"]["L1.dW"], x.T @ delta1, rtol=1e-12)
    # the probability of 3 for the drawing rose
    after = [m for m in msgs if m["type"] == "drawn"][-1]
    assert after["iteration"] == 13 and after["pixels"] == three()
    assert after["outputs"][3] > drawn["outputs"][3] + 0.01
    # the run's own batches are untouched: the next iteration takes the batch it would have
    ref = Stepper(run_config(s.config))
    ref.train(12)
    nxt = send(s, {"type": "step", "unit": "iteration"})
    batch = next(m for m in nxt if m["type"] == "frame" and m["phase"] == "forward")["values"]
    assert np.array_equal(batch["batch"], ref.step_iteration()[0].values["batch"])
    # a marker on the timeline names the class
    tl = [m for m in nxt if m["type"] == "timeline"][-1]
    assert {"iteration": 12, "kind": "learn", "phase": "forward",
            "learn": {"label": 3}} in tl["markers"]
    # the prediction follows the weights until the pad is cleared (draw with no pixels)
    for pixels, follows in ((three(), True), ([], False)):
        send(s, {"type": "draw", "pixels": pixels})
        s.views.due_now("drawn")
        msgs = send(s, {"type": "step", "unit": "iteration"})
        assert any(m["type"] == "drawn" for m in msgs) == follows


def test_a_learn_mid_iteration_finishes_it_first() -> None:
    s, _ = attached_session(**DIGITS)
    send(s, {"type": "step", "unit": "phase"})
    msgs = send(s, {"type": "learn", "pixels": three(), "label": 3})
    assert [f["phase"] for f in msgs if f["type"] == "frame"] == ["loss", "backward", "update"]
    assert s.history.active.commands[-1].pos == (1, 0) and s.playing


def test_rewinding_across_a_learned_drawing_and_forward_again_gives_the_same_bits() -> None:
    s, first = learned_session()
    s.history.train(6)
    head = params(s.stepper)
    send(s, {"type": "seek", "iteration": 5})
    assert not same_bits(params(s.stepper), head)
    send(s, {"type": "seek", "iteration": 19})
    assert same_bits(params(s.stepper), head)
    # the learned iteration itself comes back as it was first computed
    shown = s.history.seek((13, 0))
    firsts = [m for m in first if m["type"] == "frame"]
    for rec, f in zip(shown, firsts, strict=True):
        assert rec.phase == f["phase"]
        for k, v in f["values"].items():
            assert np.array_equal(np.asarray(rec.values[k]), np.asarray(v)), k
    # a checkpoint taken with the drawing given (the replay of a fresh history) replays
    h = History.copy_of(s.history, Stepper(run_config(s.config)), Stepper(run_config(s.config)),
                        interval=4)
    h.interval = 4
    h.active.checkpoints = {0: h.active.checkpoints[0]}
    h.seek((12, 1))  # past the learn's position: checkpoint 12 holds its given batch
    assert h.active.checkpoints[12].snap["given"] is not None
    h.seek((2, 0))
    recs = h.seek((13, 0))
    assert all(records_equal(a, b) for a, b in zip(recs, shown, strict=True))
    h.seek((19, 0))
    assert same_bits(params(h.stepper), head)


def test_a_run_file_saved_after_learning_replays_to_the_same_weights() -> None:
    s, _ = learned_session()
    s.history.train(3)
    head = params(s.stepper)
    text = json.dumps(run_file(s.history))
    (cmd,) = json.loads(text)["branches"][0]["commands"]
    assert cmd == {"iteration": 12, "phase": "forward",
                   "learn": {"pixels": [int(v) for v in three()], "label": 3}}
    s2, _ = attached_session()
    send(s2, {"type": "load", "run": json.loads(text)})
    send(s2, {"type": "seek", "iteration": 16})
    assert s2.stepper.iteration == 16 and same_bits(params(s2.stepper), head)
    # a file whose drawing does not fit its run is refused by name
    bad = json.loads(text)
    bad["branches"][0]["commands"][0]["learn"]["label"] = 12
    file = RunFile.model_validate(bad)
    with pytest.raises(RunFileError) as e:
        branches_from_file(file, Stepper(run_config(file.settings)), max_batch=1000)
    assert e.value.field == "run.branches.0.commands.0.learn.label"


def test_a_class_sees_the_drawing_learned_and_a_copy_has_the_same_weights(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session_module, "LEARN_SPEED", 4.0)  # (four phases in a second)
    with teacher_and_student() as (_, t, student):
        t.send({"type": "configure", "config": {**DIGITS, "hidden": [8]}})
        t.recv_type("run")
        join(student, share(t))
        t.send({"type": "draw", "pixels": three()})
        t.send({"type": "learn", "pixels": three(), "label": 3})
        fwd = student.recv_type("frame", where=lambda m: m["phase"] == "forward")
        assert "batch" not in fwd["values"] and len(fwd["values"]["x"]) == 1
        student.recv_type("frame", where=lambda m: m["phase"] == "update")
        student.recv_type("state", where=lambda m: not m["playing"] and m["iteration"] == 1)
        student.recv_type("timeline", where=lambda m: any(
            mk["kind"] == "learn" and mk["learn"]["label"] == 3 for mk in m["markers"]))
        drawn = student.recv_type("drawn", where=lambda m: m["iteration"] == 1)
        assert drawn["pixels"] == three()  # the class sees what was drawn
        student.send({"type": "learn", "pixels": three(), "label": 3})
        assert student.error()["code"] == "read_only"
        # a student's own copy replays the learned drawing
        student.send({"type": "fork"})
        student.recv_type("follow", where=lambda m: not m["active"])
        student.recv_type("run")
        theirs = student.recv_type("timeline", where=lambda m: "params" in m)["params"]
        t.send({"type": "hello"})
        ours = t.recv_type("timeline", where=lambda m: "params" in m)["params"]
        assert theirs == ours


def test_a_drawing_that_cannot_be_learned_gets_an_error_and_nothing_changes(
        monkeypatch: pytest.MonkeyPatch) -> None:
    s, _ = attached_session(**DIGITS)
    s.history.train(3)
    before = params(s.stepper)

    def refused(msg: dict[str, Any], reason: str, field: str) -> dict[str, Any]:
        (err,) = [m for m in send(s, msg) if m["type"] == "error"]
        assert (err["code"], err["reason"], err["field"]) == ("learn", reason, field), err
        assert s.stepper.iteration == 3 and s.stepper.given is None and not s.playing
        assert not s.history.active.commands and same_bits(params(s.stepper), before)
        return err

    err = refused({"type": "learn", "pixels": three()[:63], "label": 3}, "size", "pixels")
    assert (err["expected"], err["found"]) == (64, 63)
    err = refused({"type": "learn", "pixels": three(), "label": 10}, "label", "label")
    assert err["limit"] == 9
    # out of 0…16, or not a finite number: refused by the protocol, naming the pixel
    for bad in (17.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match=r"pixels\.5"):
            client_adapter.validate_python({"type": "learn", "label": 3,
                                            "pixels": [*three()[:5], bad, *three()[6:]]})
    # the change budget: a drawing counts three changes
    monkeypatch.setattr(history_module, "MAX_COMMANDS", 2)
    (err,) = [m for m in send(s, {"type": "learn", "pixels": three(), "label": 3})
              if m["type"] == "error"]
    assert (err["code"], err["limit"]) == ("limit", "history_commands")
    assert s.stepper.given is None and not s.history.active.commands
    # data that is not a picture
    for cfg in ({"dataset": "xor"}, {"dataset": "iris"}):
        other, _ = attached_session(**cfg)
        (err,) = [m for m in send(other, {"type": "learn", "pixels": three(), "label": 1})
                  if m["type"] == "error"]
        assert (err["code"], err["reason"]) == ("learn", "not_picture")
        assert not other.history.active.commands and not other.playing


def test_a_non_finite_pixel_on_the_wire_is_refused_and_the_session_goes_on() -> None:
    with teacher_and_student() as (_, t, _student):
        t.send({"type": "configure", "config": {**DIGITS, "hidden": [8]}})
        t.recv_type("run")
        pixels = json.dumps([*three()[:5], float("nan"), *three()[6:]])  # a bare NaN
        t.send('{"type": "learn", "label": 3, "pixels": ' + pixels + "}")
        err = t.error()
        assert err["code"] == "invalid" and err["field"] == "pixels.5"
        WS.works(t)


def test_the_inspector_shows_the_chain_rule_with_the_drawings_own_numbers(
        monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]

    def later() -> float:  # a second between any two looks: the inspector goes out at once
        now[0] += 1.0
        return now[0]

    monkeypatch.setattr(views_module.time, "monotonic", later)
    s, _ = attached_session(**DIGITS)
    s.history.train(5)
    send(s, {"type": "inspect", "id": "L1.W", "index": [20, 2]})
    send(s, {"type": "learn", "pixels": three(), "label": 3})
    send(s, {"type": "pause"})
    for _ in range(3):  # forward, loss, backward of the drawing's iteration
        msgs = send(s, {"type": "step", "unit": "phase"})
    m = [m for m in msgs if m["type"] == "inspect"][-1]
    d = s.stepper.data
    x = (np.array(three()) - d.x_shift) / d.x_scale
    bwd = s.views.capture.phases["backward"]
    assert m["mode"] == "batch" and m["batch_size"] == 1 and m["next_phase"] == "update"
    (row,) = m["rows"]
    assert row["sample"] is None  # a drawing, no row of the data
    assert row["factors"][2] == x[20]  # ∂z/∂w: the drawing's own standardised pixel
    assert m["grad"] == bwd["L1.dW"][20, 2] and m["check"]["rel_error"] < 1e-6
