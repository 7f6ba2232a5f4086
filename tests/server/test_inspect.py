"""Inspector, focus and hand edits, in process: the numbers are the engine's, bad requests
get an error naming what was wrong, and the session keeps working."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from engine import losses
from server.app import create_app
from server.live.outbox import Outbox
from server.live.session import Session
from server.protocol import RunSettings, client_adapter
from server.settings import Settings
from tests.server.conftest import attached_session


def make_session(**cfg: Any) -> tuple[Session, Outbox]:
    return attached_session(**cfg)


def send(s: Session, msg: dict[str, Any]) -> list[dict[str, Any]]:
    s.handle(client_adapter.validate_python(msg))
    assert s.outbox is not None
    return s.outbox.drain()


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
    import server.live.views as views
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


def test_edit_reply_carries_every_layers_batch_means_with_the_new_weight() -> None:
    s, _ = make_session(dataset="xor", hidden=(4, 3))
    frames = {m["phase"]: m for m in of_type(send(s, {"type": "step", "unit": "iteration"}),
                                             "frame")}
    (e,) = of_type(send(s, {"type": "edit", "id": "L1.W", "index": [0, 1], "value": -9.0}),
                   "edit")
    idx = e["batch"]["indices"]
    caches = s.stepper.net.forward(s.stepper.data.x_train[idx], train=False)
    means = e["batch"]["means"]
    assert sorted(means) == ["L1.a", "L1.z", "L2.a", "L2.z", "L3.a", "L3.z"]
    for l, c in enumerate(caches, start=1):
        np.testing.assert_array_equal(means[f"L{l}.z"], c.z.mean(axis=0))
        np.testing.assert_array_equal(means[f"L{l}.a"], c.a.mean(axis=0))
    # the unit the weight feeds differs from what the last forward frame showed
    shown = np.mean(frames["forward"]["values"]["L1.a"], axis=0)
    assert means["L1.a"][1] != shown[1]


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


def test_a_hand_edit_is_part_of_the_run_when_rewound_and_saved() -> None:
    """After a hand edit, rewinding and coming back shows the very numbers first
    computed (the edit is replayed at its place), a saved copy of the run opened in
    another session ends on the same weights, and they differ from the run without
    the edit: the edit is neither lost nor applied twice."""
    from server.run.runfile import run_file

    s, _ = make_session(dataset="spiral", hidden=(5,), seed=7)
    for _ in range(3):
        send(s, {"type": "step", "unit": "iteration"})
    send(s, {"type": "edit", "id": "L1.W", "index": [0, 4], "value": 1.5})
    for _ in range(3):
        send(s, {"type": "step", "unit": "iteration"})
    edited = s.stepper.net.params["L2.W"].copy()
    last = {f["phase"]: f for f in send(s, {"type": "seek", "iteration": 5})
            if f["type"] == "frame"}
    assert set(last) == {"forward", "loss", "backward", "update"}

    send(s, {"type": "seek", "iteration": 1})  # before the edit
    assert s.stepper.net.params["L1.W"][0, 4] != 1.5
    again = {f["phase"]: f for f in send(s, {"type": "seek", "iteration": 5})
             if f["type"] == "frame"}
    for phase, f in last.items():
        for k, v in f["values"].items():
            np.testing.assert_array_equal(np.asarray(again[phase]["values"][k]), np.asarray(v))
    send(s, {"type": "seek", "iteration": 6})
    np.testing.assert_array_equal(s.stepper.net.params["L2.W"], edited)

    copy, _ = make_session()
    send(copy, {"type": "load", "run": run_file(s.history)})
    send(copy, {"type": "seek", "iteration": 6})
    np.testing.assert_array_equal(copy.stepper.net.params["L2.W"], edited)

    plain, _ = make_session(dataset="spiral", hidden=(5,), seed=7)
    for _ in range(6):
        send(plain, {"type": "step", "unit": "iteration"})
    assert not np.array_equal(plain.stepper.net.params["L2.W"], edited)


# ---- inspect -----------------------------------------------------------------------


def frames_of(msgs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {m["phase"]: m["values"] for m in of_type(msgs, "frame")}


def test_inspect_a_weight_shows_the_iterations_own_numbers() -> None:
    s, _ = make_session(dataset="circle", hidden=(3, 2), batch_size=6)
    frames = frames_of(send(s, {"type": "step", "unit": "iteration"}))
    (m,) = of_type(send(s, {"type": "inspect", "id": "L2.W", "index": [1, 0]}), "inspect")
    assert m["kind"] == "weight" and m["mode"] == "batch" and m["batch_size"] == 6
    # the gradient is the backward frame's, the update the update frame's
    assert m["grad"] == frames["backward"]["L2.dW"][1, 0]
    upd = frames["update"]
    assert m["update"]["prev"] == upd["L2.W.prev"][1, 0]
    assert m["update"]["step"] == upd["L2.W.step"][1, 0]
    assert m["update"]["new"] == upd["L2.W"][1, 0] == m["value"]
    # one row per sample: that sample's ∂ℓ/∂a, f'(z) and a⁽¹⁾ᵢ; the mean of their
    # products over the batch is ∂L/∂w
    keys = [f["key"] for f in m["factors"]]
    assert keys == ["dL_da", "da_dz", "dz_dw"] and m["per_sample"]
    a1 = frames["forward"]["L1.a"]
    assert [r["factors"][2] for r in m["rows"]] == [float(v) for v in a1[:, 1]]
    assert [r["sample"] for r in m["rows"]] == list(frames["forward"]["batch"])
    da = frames["backward"]["L2.da"][:, 0] * 6  # ∂ℓ_b/∂a = B·∂L/∂a_b
    assert [r["factors"][0] for r in m["rows"]] == pytest.approx(list(da), rel=1e-12)
    assert sum(r["product"] for r in m["rows"]) / 6 == pytest.approx(m["grad"], rel=1e-12)
    assert m["row_sum"] / 6 == pytest.approx(m["data"], rel=1e-15) and m["reg"] == 0.0
    # ∂L/∂a back to the loss: δ of layer 3 (the output)
    assert [p["layer"] for p in m["path"]] == [3]
    # the finite-difference check agrees
    assert m["check"]["rel_error"] < 1e-6
    assert m["check"]["backprop"] == pytest.approx(m["grad"], rel=1e-12)


def test_the_check_covers_regularization_and_dropout() -> None:
    s, _ = make_session(dataset="moons", hidden=(6, 6), dropout=0.3, l2=0.05, l1=0.01)
    send(s, {"type": "step", "unit": "iteration"})
    frames = frames_of(send(s, {"type": "step", "unit": "iteration"}))
    (m,) = of_type(send(s, {"type": "inspect", "id": "L2.W", "index": [3, 5]}), "inspect")
    assert m["check"]["mode"] == "train"
    assert m["check"]["backprop"] == m["grad"] == frames["backward"]["L2.dW"][3, 5]
    assert m["check"]["rel_error"] < 1e-5
    assert m["reg"] != 0.0


def test_inspect_fills_in_factor_by_factor_as_the_phases_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import server.live.views as views

    clock = iter(range(10**6))  # every send slot is due: one second per reading
    monkeypatch.setattr(views.time, "monotonic", lambda: float(next(clock)))
    s, _ = make_session(dataset="xor", hidden=(4,), batch_size=4)
    send(s, {"type": "step", "unit": "iteration"})
    send(s, {"type": "inspect", "id": "L1.W", "index": [0, 2]})
    (m,) = of_type(send(s, {"type": "step", "unit": "phase"}), "inspect")  # forward only
    row = m["rows"][0]["factors"]
    assert row[2] is not None and row[0] is None and m["grad"] is None and m["update"] is None
    send(s, {"type": "step", "unit": "phase"})  # loss
    (m,) = of_type(send(s, {"type": "step", "unit": "phase"}), "inspect")  # backward
    assert None not in m["rows"][0]["factors"] and m["grad"] is not None
    assert m["update"] is None
    (m,) = of_type(send(s, {"type": "step", "unit": "phase"}), "inspect")  # update
    assert m["update"] is not None


def test_inspect_with_adam_shows_its_moments() -> None:
    s, _ = make_session(dataset="xor", hidden=(4,), optimizer={"name": "adam"}, lr=0.01)
    send(s, {"type": "step", "unit": "iteration"})
    frames = frames_of(send(s, {"type": "step", "unit": "iteration"}))
    (m,) = of_type(send(s, {"type": "inspect", "id": "L1.b", "index": [3]}), "inspect")
    u = m["update"]
    assert u["optimizer"] == "adam"
    assert u["state"]["exp_avg"] == frames["update"]["L1.b.exp_avg"][3]
    assert u["state"]["exp_avg_sq"] == frames["update"]["L1.b.exp_avg_sq"][3]


def test_inspect_a_focused_sample_matches_a_one_sample_engine_step() -> None:
    from engine.stepper import Stepper
    from server.run.runconfig import run_config

    cfg = RunSettings(dataset="spiral", hidden=(5, 4), activation="relu")
    s, _ = make_session(**cfg.model_dump())
    for _ in range(3):
        send(s, {"type": "step", "unit": "iteration"})
    send(s, {"type": "focus", "split": "test", "index": 11})
    (m,) = of_type(send(s, {"type": "inspect", "id": "L2.W", "index": [4, 1]}), "inspect")
    assert m["mode"] == "sample" and m["sample"] == {"split": "test", "index": 11}
    # reference: the engine's own backward on that one sample, with the same weights
    ref = Stepper(run_config(cfg))
    for k, v in s.stepper.net.params.items():
        ref.net.params[k][...] = v
    d = s.stepper.data
    recs = {r.phase: r.values for r in ref.step_batch(d.x_test[11:12], d.t_test[11:12])}
    assert m["grad"] == pytest.approx(recs["backward"]["L2.dW"][4, 1], rel=1e-12, abs=1e-15)
    assert m["factors"][2]["value"] == recs["forward"]["L1.a"][0, 4]
    # ∂ℓ/∂a⁽²⁾₁ expanded over the output layer: Σₖ w⁽³⁾₁ₖ δ⁽³⁾ₖ, δ as the engine computed it
    sm = m["sum"]
    assert sm["layer"] == 3 and [tm["k"] for tm in sm["terms"]] == [0]
    assert sm["terms"][0]["w"] == s.stepper.net.params["L3.W"][1, 0]
    assert sm["terms"][0]["delta"] == pytest.approx(recs["backward"]["L3.delta"][0, 0], rel=1e-12)
    assert sum(tm["product"] for tm in sm["terms"]) == pytest.approx(sm["value"], rel=1e-12)
    assert sm["value"] == m["factors"][0]["value"]
    assert m["check"]["rel_error"] < 1e-6 or abs(m["grad"]) < 1e-12


def test_a_unit_over_a_batch_shows_each_samples_z_and_a_and_sums_its_deltas() -> None:
    s, _ = make_session(dataset="xor", hidden=(4, 3), batch_size=6)
    send(s, {"type": "step", "unit": "iteration"})
    (m,) = of_type(send(s, {"type": "inspect", "id": "L1.a", "index": [2]}), "inspect")
    assert m["mode"] == "batch" and m["batch_size"] == 6 and len(m["rows"]) == 6
    fwd = s.views.capture.phases["forward"]
    bwd = s.views.capture.phases["backward"]
    for r, row in enumerate(m["rows"]):
        assert row["z"] == fwd["L1.z"][r, 2] and row["a"] == fwd["L1.a"][r, 2]
        assert row["a"] == pytest.approx(np.tanh(row["z"]), rel=1e-12)  # a = f(z), per sample
        # the sample's own ∂ℓ_b/∂z = B·∂L/∂z_b
        assert row["product"] == pytest.approx(6 * bwd["L1.delta"][r, 2], rel=1e-12)
    assert m["grad"] == pytest.approx(sum(r["product"] for r in m["rows"]) / 6, rel=1e-12)
    assert m["grad"] == pytest.approx(bwd["L1.db"][2], rel=1e-12)  # Σ_b δ_b = ∂L/∂b
    # the means it also shows are of a, not tanh of the mean z
    assert m["forward"]["a"] == pytest.approx(np.mean([r["a"] for r in m["rows"]]), rel=1e-12)


def test_inspect_a_unit_and_close_it() -> None:
    s, _ = make_session(dataset="xor", hidden=(4, 3))
    send(s, {"type": "step", "unit": "iteration"})
    (f,) = of_type(send(s, {"type": "focus", "split": "train", "index": 2}), "focus")
    (m,) = of_type(send(s, {"type": "inspect", "id": "L2.a", "index": [1]}), "inspect")
    assert m["id"] == "L2.a" and m["index"] == [1] and m["kind"] == "unit"
    assert m["forward"]["z"] == f["values"]["L2.z"][1]
    assert m["value"] == f["values"]["L2.a"][1]
    # its chain ends in δ = ∂ℓ/∂z: the engine's backward on that one sample agrees
    from engine.stepper import Stepper
    from server.run.runconfig import run_config

    ref = Stepper(run_config(s.config))
    for k, v in s.stepper.net.params.items():
        ref.net.params[k][...] = v
    d = s.stepper.data
    recs = {r.phase: r.values for r in ref.step_batch(d.x_train[2:3], d.t_train[2:3])}
    assert m["grad"] == pytest.approx(recs["backward"]["L2.delta"][0, 1], rel=1e-12)
    prod = m["factors"][0]["value"] * m["factors"][1]["value"]
    assert prod == pytest.approx(m["grad"], rel=1e-12)
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


def test_inspect_a_batch_norm_scale_gives_its_gradient_and_check() -> None:
    s, _ = make_session(dataset="circle", hidden=(4, 3), norm="batch", batch_size=8)
    send(s, {"type": "step", "unit": "iteration"})
    frames = frames_of(send(s, {"type": "step", "unit": "iteration"}))
    (m,) = of_type(send(s, {"type": "inspect", "id": "L1.gamma", "index": [2]}), "inspect")
    # ∂L/∂γ = Σ_b ∂L/∂a_b · f'(z̃_b) · û_b: batch statistics in layer 2 tie the samples,
    # so the rows are ∂L/∂… terms and their plain sum is the gradient
    assert m["kind"] == "gamma" and not m["per_sample"]
    assert [f["key"] for f in m["factors"]] == ["dL_da", "da_dzn", "dzn_dgamma"]
    assert m["grad"] == frames["backward"]["L1.dgamma"][2]
    assert m["row_sum"] == pytest.approx(m["grad"], rel=1e-12)
    assert m["check"]["mode"] == "train" and m["check"]["rel_error"] < 1e-5


def test_inspect_before_any_iteration_says_nothing_is_computed_yet() -> None:
    s, _ = make_session(dataset="xor")
    (m,) = of_type(send(s, {"type": "inspect", "id": "L1.W", "index": [0, 0]}), "inspect")
    assert m["batch_size"] == 0 and m["grad"] is None and m["update"] is None
    assert m["check"] is None


def two_iterations_in() -> tuple[Session, dict[str, Any]]:
    """A session two iterations into a run, and iteration 0's frame values by phase."""
    s, _ = make_session(dataset="xor", hidden=(3,), batch_size=4)
    first = {m["phase"]: m["values"]
             for m in of_type(send(s, {"type": "step", "unit": "iteration"}), "frame")}
    send(s, {"type": "step", "unit": "iteration"})
    return s, first


def test_records_shown_by_playback_feed_the_inspector() -> None:
    s, first = two_iterations_in()
    # playback shows iteration 0 again: the same records, as the engine first made them
    from engine.stepper import PhaseRecord

    s.views.show([PhaseRecord(ph, 0, v) for ph, v in first.items()])
    (m,) = of_type(send(s, {"type": "inspect", "id": "L2.W", "index": [1, 0]}), "inspect")
    assert m["iteration"] == 0 and m["grad"] == first["backward"]["L2.dW"][1, 0]


def test_after_a_seek_the_inspector_shows_the_iteration_sought() -> None:
    s, first = two_iterations_in()
    send(s, {"type": "seek", "iteration": 1})  # back to the end of iteration 0
    (m,) = of_type(send(s, {"type": "inspect", "id": "L2.W", "index": [1, 0]}), "inspect")
    assert m["iteration"] == 0 and m["grad"] == first["backward"]["L2.dW"][1][0]


def test_a_hand_edit_leaves_the_frames_already_sent_as_they_were() -> None:
    s, _ = make_session(dataset="xor", hidden=(3,), batch_size=4)
    send(s, {"type": "step", "unit": "iteration"})
    rec = s.views.capture.get("update", "L1.W")
    shown = float(np.asarray(rec)[0, 0])
    send(s, {"type": "edit", "id": "L1.W", "index": [0, 0], "value": 5.0})
    assert float(np.asarray(s.views.capture.get("update", "L1.W"))[0, 0]) == shown
    assert float(s.stepper.net.params["L1.W"][0, 0]) == 5.0


# ---- every explanation true (issue 11) ---------------------------------------------


def inspect_after_each_phase(s: Session, target: dict[str, Any]) -> list[dict[str, Any]]:
    """Inspect ``target``, then step one iteration phase by phase: the inspect message
    sent after each phase (forward, loss, backward, update), with that phase's frames."""
    send(s, {"type": "inspect", **target})
    out = []
    for _ in range(4):
        msgs = send(s, {"type": "step", "unit": "phase"})
        s.views._send("inspect")  # (the paced sender may hold it back: ask for it now)
        assert s.outbox is not None
        out.append({"frame": of_type(msgs, "frame")[0],
                    "inspect": of_type(s.outbox.drain(), "inspect")[-1]})
    return out


def test_with_batch_norm_the_check_verifies_the_gradient_shown_at_every_phase() -> None:
    # a 3-layer tanh net with batch norm: the check used to be computed in evaluation mode
    # (running statistics) after backward, and disagreed with the table's training gradient
    s, _ = make_session(dataset="xor", hidden=(4, 4), activation="tanh", norm="batch",
                        batch_size=10)
    send(s, {"type": "step", "unit": "iteration"})
    steps = inspect_after_each_phase(s, {"id": "L2.W", "index": [1, 0]})
    backward = steps[2]["frame"]["values"]
    for step in steps[2:]:  # after backward, and after the update
        m = step["inspect"]
        assert m["grad"] == backward["L2.dW"][1, 0]
        assert m["check"]["mode"] == "train"
        assert m["check"]["backprop"] == m["grad"]
        assert m["check"]["rel_error"] < 1e-6
        # batch statistics tie the samples: the rows are ∂L/∂z_b · a_b terms summing to it
        assert not m["per_sample"] and [f["key"] for f in m["factors"]] == ["dL_dz", "dz_dw"]
        assert m["row_sum"] == pytest.approx(m["grad"], rel=1e-12)
    assert [st["inspect"]["check"] is None for st in steps] == [True, True, False, False]


def test_a_batch_norm_unit_shows_its_normalisation_and_a_true_activation() -> None:
    s, _ = make_session(dataset="xor", hidden=(4, 4), activation="tanh", norm="batch",
                        batch_size=6)
    send(s, {"type": "step", "unit": "iteration"})
    frames = frames_of(send(s, {"type": "step", "unit": "iteration"}))
    (m,) = of_type(send(s, {"type": "inspect", "id": "L1.a", "index": [2]}), "inspect")
    nb = m["norm"]
    z = frames["forward"]["L1.z"][:, 2]
    assert nb["kind"] == "batch" and nb["stats"] == "batch"
    assert nb["mean"] == pytest.approx(z.mean(), rel=1e-12)
    assert nb["var"] == pytest.approx(z.var(), rel=1e-12)
    assert nb["inv_std"] == pytest.approx(1 / np.sqrt(z.var() + nb["eps"]), rel=1e-12)
    assert nb["gamma"] == s.stepper.net.params["L1.gamma"][2] or "update" in frames
    for r, row in enumerate(m["rows"]):
        assert row["z"] == z[r]
        assert row["u"] == pytest.approx((row["z"] - nb["mean"]) * nb["inv_std"], rel=1e-9)
        assert row["zn"] == pytest.approx(nb["gamma"] * row["u"] + nb["beta"], rel=1e-12)
        assert row["zn"] == frames["forward"]["L1.zn"][r, 2]
        # a = f(z̃): the activation of the normalised value, not of z
        assert row["a"] == pytest.approx(np.tanh(row["zn"]), rel=1e-12)
        assert row["a"] != pytest.approx(np.tanh(row["z"]), rel=1e-6)
        # δ_b through the norm's backward rule, from the means it carries
        g, dzn = nb["gamma"], row["dzn"]
        want = (g * dzn - nb["du_mean"] - row["u"] * nb["duu_mean"]) * nb["inv_std"]
        assert row["product"] == pytest.approx(want, rel=1e-9)
        assert row["product"] == pytest.approx(frames["backward"]["L1.delta"][r, 2], rel=1e-12)


def test_a_focused_sample_with_batch_norm_uses_the_running_statistics() -> None:
    s, _ = make_session(dataset="xor", hidden=(4,), norm="batch", batch_size=8)
    for _ in range(3):
        send(s, {"type": "step", "unit": "iteration"})
    send(s, {"type": "focus", "split": "train", "index": 3})
    (m,) = of_type(send(s, {"type": "inspect", "id": "L1.W", "index": [0, 1]}), "inspect")
    nb = m["norm"]
    assert m["mode"] == "sample" and nb["stats"] == "running"
    assert nb["mean"] == s.stepper.net.buffers["L1.running_mean"][1]
    assert nb["var"] == s.stepper.net.buffers["L1.running_var"][1]
    # fixed statistics: z̃ is affine in z, so ∂z̃/∂z = γ/√(σ² + ε) is one more factor
    keys = [f["key"] for f in m["factors"]]
    assert keys == ["dL_da", "da_dzn", "dzn_dz", "dz_dw"]
    product = float(np.prod([f["value"] for f in m["factors"]]))
    assert product == pytest.approx(m["grad"], rel=1e-12)
    assert m["check"]["mode"] == "eval" and m["check"]["rel_error"] < 1e-6


@pytest.mark.parametrize("clip", [{"clip_norm": 0.01}, {"clip_value": 0.002}])
def test_a_clipped_gradient_says_so_and_its_step_checks_by_hand(clip: dict[str, float]) -> None:
    s, _ = make_session(dataset="xor", hidden=(4,), lr=0.03, **clip)
    frames = frames_of(send(s, {"type": "step", "unit": "iteration"}))
    (m,) = of_type(send(s, {"type": "inspect", "id": "L1.W", "index": [1, 2]}), "inspect")
    u = m["update"]
    g = frames["backward"]["L1.dW"][1, 2]
    assert u["grad"] == g == m["grad"]
    c = u["clip"]
    if "clip_norm" in clip:
        total = frames["update"]["clip.total_norm"]
        assert c["total_norm"] == total and c["max_norm"] == 0.01
        # torch's clip_grad_norm_: max_norm/(‖g‖ + 1e-6)
        assert c["factor"] == pytest.approx(0.01 / (total + 1e-6), rel=1e-12)
        assert c["factor"] < 1
        assert u["grad_used"] == pytest.approx(g * c["factor"], rel=1e-12)
        assert c["value"] is None
    else:
        assert c["value"] == 0.002 and c["factor"] is None
        assert u["grad_used"] == float(np.clip(g, -0.002, 0.002))
    assert c["clipped"] and abs(u["grad_used"]) < abs(g)
    # plain SGD: step = −η·g, with the g the optimizer received
    assert u["step"] == pytest.approx(-0.03 * u["grad_used"], rel=1e-12)
    assert u["prev"] + u["step"] == pytest.approx(u["new"], rel=1e-12)


def test_without_clipping_the_update_says_nothing_of_it() -> None:
    s, _ = make_session(dataset="xor", hidden=(4,))
    send(s, {"type": "step", "unit": "iteration"})
    (m,) = of_type(send(s, {"type": "inspect", "id": "L1.b", "index": [0]}), "inspect")
    assert m["update"]["clip"] is None and m["update"]["grad_used"] == m["grad"]


def test_rmsprop_shows_its_averages_and_buffer_under_their_own_names() -> None:
    s, _ = make_session(dataset="xor", hidden=(4,), lr=0.01, optimizer={
        "name": "rmsprop", "momentum": 0.9, "centered": True})
    frames = frames_of(send(s, {"type": "step", "unit": "iteration"}))
    (m,) = of_type(send(s, {"type": "inspect", "id": "L1.W", "index": [0, 3]}), "inspect")
    u = m["update"]
    upd = frames["update"]
    names = ("square_avg", "grad_avg", "momentum_buffer")
    assert set(u["state"]) == set(names)
    for name in names:
        assert u["state"][name] == upd[f"L1.W.{name}"][0, 3]
    # named by their role in the rule: v the average of g², ḡ of g, b the buffer
    assert u["symbols"] == {"square_avg": "v", "grad_avg": "ḡ", "momentum_buffer": "b"}
    assert "v ← α·v + (1 − α)·g²" in u["rule"] and "θ ← θ − η·b" in u["rule"]
    alpha, eps = u["hyper"]["alpha"], u["hyper"]["eps"]
    g = u["grad_used"]
    # the first step from empty state, by hand from the numbers shown
    assert u["state"]["square_avg"] == pytest.approx((1 - alpha) * g * g, rel=1e-12)
    assert u["state"]["grad_avg"] == pytest.approx((1 - alpha) * g, rel=1e-12)
    d = np.sqrt(u["state"]["square_avg"] - u["state"]["grad_avg"] ** 2) + eps
    assert u["state"]["momentum_buffer"] == pytest.approx(g / d, rel=1e-9)
    assert u["step"] == pytest.approx(-u["lr"] * u["state"]["momentum_buffer"], rel=1e-12)


def test_the_single_neuron_shows_the_textbook_factors_and_the_mean_over_the_batch() -> None:
    # ℓ_b = ½ (y − t)², L = (1/B) Σ_b ℓ_b: each row is the textbook (y − t)·f′(z)·x, and
    # ∂L/∂w is their mean (the rows used to carry (y − t)/B, half the textbook value)
    s, _ = make_session(dataset="single", hidden=(), batch_size=2, loss="mse",
                        output_activation="sigmoid")
    frames = frames_of(send(s, {"type": "step", "unit": "iteration"}))
    (m,) = of_type(send(s, {"type": "inspect", "id": "L1.W", "index": [0, 0]}), "inspect")
    assert m["per_sample"] and m["batch_size"] == 2 and m["loss"] == "mse"
    assert [f["key"] for f in m["factors"]] == ["dL_dy", "da_dz", "dz_dw"]
    x, t = frames["forward"]["x"][:, 0], frames["forward"]["t"][:, 0]
    y = frames["forward"]["L1.a"][:, 0]
    for r, row in enumerate(m["rows"]):
        assert row["y"] == y[r] and row["t"] == t[r]
        textbook = (y[r] - t[r]) * y[r] * (1 - y[r]) * x[r]
        assert row["factors"] == pytest.approx([y[r] - t[r], y[r] * (1 - y[r]), x[r]],
                                               rel=1e-12)
        assert row["product"] == pytest.approx(textbook, rel=1e-12, abs=1e-300)
    mean = (m["rows"][0]["product"] + m["rows"][1]["product"]) / 2
    assert m["grad"] == pytest.approx(mean, rel=1e-12) == frames["backward"]["L1.dW"][0, 0]
    # the frame's ∂L/∂y is (y − t)/B: the 1/B of the mean, not of the rows
    assert frames["loss"]["L1.da"][:, 0] == pytest.approx((y - t) / 2, rel=1e-12)


def test_a_softmax_output_unit_shows_y_minus_t_with_each_samples_one_hot_target() -> None:
    s, _ = make_session(dataset="blobs3", hidden=(3,), batch_size=5)
    frames = frames_of(send(s, {"type": "step", "unit": "iteration"}))
    (m,) = of_type(send(s, {"type": "inspect", "id": "L2.a", "index": [1]}), "inspect")
    assert m["loss"] == "cross_entropy" and m["activation"] == "softmax"
    assert [f["key"] for f in m["factors"]] == ["y_minus_t"]
    y, t = frames["forward"]["L2.a"], frames["forward"]["t"]
    for r, row in enumerate(m["rows"]):
        assert row["target"] == list(t[r]) and sorted(row["target"]) == [0.0, 0.0, 1.0]
        assert row["t"] == t[r, 1] and row["a"] == y[r, 1]
        assert row["product"] == pytest.approx(y[r, 1] - t[r, 1], rel=1e-12)
    assert m["grad"] == pytest.approx(sum(r["product"] for r in m["rows"]) / 5, rel=1e-12)


def test_the_server_only_shapes_the_engines_chain_rule() -> None:
    # one chain rule in the project: server/run/inspect.py asks engine/chain.py for
    # every number and does no arithmetic on arrays of its own
    from pathlib import Path

    src = (Path(__file__).resolve().parents[2] / "server" / "run" / "inspect.py").read_text()
    code = "\n".join(line.split("#", 1)[0] for line in src.splitlines())
    for banned in (" @ ", ".sum(", ".mean(", "np.prod", ".dot(", "np.", "import numpy",
                   "engine.activations", "engine.losses", "import activations",
                   "import losses", ".df(", " / ", " * ", " - "):
        assert banned not in code, banned
