"""The chain rule as data: each row's factors multiply to that sample's share, the
shares add up to the engine's gradient, the finite-difference check verifies that
very gradient at every phase (batch norm and dropout included), and asking never
disturbs the run."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

from engine import chain
from engine.model import NORM_EPS
from engine.stepper import RunConfig, Stepper

CONFIGS: list[dict[str, Any]] = [
    {},
    {"activation": "relu", "dropout": 0.3, "l2": 0.05, "l1": 0.01},
    {"norm": "batch", "hidden": (4, 4), "residual": True},
    {"norm": "batch", "dropout": 0.2},
    {"norm": "batch", "batch_size": 1},
    {"norm": "layer", "activation": "gelu"},
    {"dataset": "sine", "loss": "mse", "output_activation": "tanh"},
    {"dataset": "circle"},
]


def stepper(**kw: Any) -> Stepper:
    cfg: dict[str, Any] = dict(dataset="blobs3", hidden=(4, 3), activation="tanh",
                               batch_size=6, seed=9)
    cfg.update(kw)
    return Stepper(RunConfig(**cfg))


def stepped(**kw: Any) -> Stepper:
    st = stepper(**kw)
    st.step_iteration()
    return st


def targets(st: Stepper) -> list[tuple[str, tuple[int, ...]]]:
    """The last entry of every parameter, and a unit of every layer."""
    out = [(k, tuple(n - 1 for n in v.shape)) for k, v in st.net.params.items()]
    return out + [(f"L{l}.a", (0,)) for l in range(1, st.net.depth + 1)]


def test_weight_rows_multiply_to_each_samples_share_and_average_to_dW() -> None:
    st = stepped()
    e = chain.explain(st, "L1.W", (1, 2))
    assert [f["key"] for f in e["factors"]] == ["dL_da", "da_dz", "dz_dw"]
    last = st.last_iteration
    assert last is not None and last.caches is not None and last.grads is not None
    c = last.caches[0]
    assert c.da is not None and c.dfz is not None
    for r, row in enumerate(e["rows"]):
        da, dfz, a_prev = row["factors"]
        # ∂ℓ_b/∂a = B·∂L/∂a_b: one sample's own loss, as a textbook writes it
        assert da == pytest.approx(6 * c.da[r, 2], rel=1e-12)
        assert dfz == c.dfz[r, 2] and a_prev == c.a_prev[r, 1]
        assert row["product"] == pytest.approx(da * dfz * a_prev, rel=1e-12)
    assert e["per_sample"] and e["batch_size"] == 6 and len(e["rows"]) == 6
    assert e["grad"] == float(last.grads["L1.W"][1, 2])
    assert e["data"] == pytest.approx(sum(r["product"] for r in e["rows"]) / 6, rel=1e-12)
    assert e["data"] + e["reg"] == pytest.approx(e["grad"], rel=1e-12)
    json.dumps(e)  # JSON-friendly all the way down


def test_sample_mode_expands_da_over_the_next_layer() -> None:
    st = stepped()
    d = st.data
    tr = chain.trace_sample(st.net, d.x_test[4], d.t_test[4])
    e = chain.explain_trace(tr, "L1.W", (0, 1))
    assert e["mode"] == "eval" and e["batch_size"] == 1 and e["loss_value"] is not None
    sm = e["sum"]
    assert sm["layer"] == 2 and len(sm["terms"]) == 3
    for term in sm["terms"]:
        assert term["product"] == pytest.approx(term["w"] * term["delta"], rel=1e-12)
    assert sm["value"] == pytest.approx(sum(t["product"] for t in sm["terms"]), rel=1e-12)
    assert e["rows"][0]["factors"][0] == sm["value"]
    assert e["rows"][0]["product"] == pytest.approx(e["grad"], rel=1e-12)
    assert e["check"]["mode"] == "eval" and e["check"]["rel_error"] < 1e-6


def test_mse_output_rows_carry_y_minus_t_and_f_prime() -> None:
    st = stepped(dataset="sine", hidden=(3,), output_activation="tanh", loss="mse")
    e = chain.explain(st, "L2.b", (0,))
    assert [f["key"] for f in e["factors"]] == ["dL_dy", "da_dz", "dz_db"]
    for row in e["rows"]:
        assert row["factors"][0] == pytest.approx(row["y"] - row["t"], rel=1e-12)
        assert row["factors"][1] == pytest.approx(1 - row["y"] ** 2, rel=1e-12)


@pytest.mark.parametrize("kw", CONFIGS)
def test_every_phase_the_check_verifies_the_gradient_shown(kw: dict[str, Any]) -> None:
    st = stepper(**kw)
    st.train(2)
    phases: dict[str, dict[str, Any]] = {}
    for ph in ("forward", "loss", "backward", "update"):
        rec = st.step_phase()
        phases[ph] = rec.values
        tr = chain.trace_records(st.net, phases, rec.iteration, st.config.l1, st.config.l2)
        assert tr is not None
        # what the records carry, the trace has bit for bit
        for l, c in enumerate(tr.caches, start=1):
            assert c.z.tobytes() == np.asarray(phases["forward"][f"L{l}.z"]).tobytes()
            assert c.a.tobytes() == np.asarray(phases["forward"][f"L{l}.a"]).tobytes()
            if "backward" in phases:
                want = np.asarray(phases["backward"][f"L{l}.delta"]).tobytes()
                assert c.delta is not None and c.delta.tobytes() == want
        for id, index in targets(st):
            e = chain.explain_trace(tr, id, index)
            if ph in ("forward", "loss"):
                assert e["grad"] is None and e["check"] is None
                continue
            assert e["data"] + e["reg"] == pytest.approx(e["grad"], rel=1e-9, abs=1e-15)
            if e["kind"] == "unit":
                continue
            assert e["grad"] == float(np.asarray(phases["backward"][chain.grad_id(id)])[index])
            c = e["check"]
            assert c["analytic"] == e["grad"] and c["mode"] == "train"
            assert c["rel_error"] < 1e-5 or c["abs_error"] < 1e-9, (id, ph, c)


def test_factors_of_phases_not_run_yet_are_none() -> None:
    st = stepped(dataset="xor", hidden=(4,))
    rec = st.step_phase()  # forward only
    tr = chain.trace_records(st.net, {"forward": rec.values}, rec.iteration)
    assert tr is not None
    e = chain.explain_trace(tr, "L1.W", (0, 2))
    for row in e["rows"]:
        assert row["factors"][:2] == [None, None] and row["factors"][2] is not None
        assert row["product"] is None
    assert e["grad"] is None and e["row_sum"] is None and e["path"] == []
    assert chain.trace_records(st.net, {}, 0) is None


def test_a_batch_norm_unit_carries_its_statistics_and_backward_means() -> None:
    st = stepped(norm="batch", hidden=(4, 4))
    e = chain.explain(st, "L2.z", (3,))
    last = st.last_iteration
    assert last is not None and last.caches is not None
    z = last.caches[1].z[:, 3]
    nb = e["norm"]
    assert nb["stats"] == "batch" and nb["eps"] == NORM_EPS
    assert nb["mean"] == pytest.approx(z.mean(), rel=1e-12)
    assert nb["var"] == pytest.approx(z.var(), rel=1e-12)
    for row in e["rows"]:
        assert row["a"] == pytest.approx(math.tanh(row["zn"]), rel=1e-12)
        want = (nb["gamma"] * row["dzn"] - nb["du_mean"] - row["u"] * nb["duu_mean"]) \
            * nb["inv_std"]
        assert row["product"] == pytest.approx(want, rel=1e-9)
    assert not e["per_sample"]


def test_asking_does_not_disturb_the_run() -> None:
    a = stepped(dropout=0.4, norm="batch")
    b = stepped(dropout=0.4, norm="batch")
    for id, index in (("L1.W", (0, 0)), ("L2.b", (1,)), ("L1.gamma", (2,)), ("L2.a", (1,))):
        chain.explain(a, id, index)
        d = a.data
        chain.explain_trace(chain.trace_sample(a.net, d.x_train[0], d.t_train[0]), id, index)
    for st in (a, b):
        st.train(5)
    for k in a.net.params:
        assert a.net.params[k].tobytes() == b.net.params[k].tobytes()
    for k in a.net.buffers:
        assert a.net.buffers[k].tobytes() == b.net.buffers[k].tobytes()


def test_update_explains_clipping_and_the_optimizers_state() -> None:
    st = stepper(dataset="xor", hidden=(4,), clip_norm=0.05, clip_value=0.01,
                 optimizer="adam", lr=0.01)
    phases = {r.phase: r.values for r in st.step_iteration()}
    opt = st.optimizer
    u = chain.explain_update(phases, "L1.W", (1, 1), opt.name, opt.hyper, 0.05)
    assert u is not None
    g = float(phases["backward"]["L1.dW"][1, 1])
    c = u["clip"]
    assert u["grad"] == g and c["value"] == 0.01
    assert c["total_norm"] == phases["update"]["clip.total_norm"]
    want = float(np.clip(g, -0.01, 0.01)) * min(1.0, c["factor"])
    assert u["grad_used"] == pytest.approx(want, rel=1e-12)
    assert u["state"]["exp_avg"] == pytest.approx(0.1 * u["grad_used"], rel=1e-12)
    assert u["symbols"] == {"exp_avg": "m", "exp_avg_sq": "v"}
    assert u["prev"] + u["step"] == pytest.approx(u["new"], rel=1e-12)
    assert chain.explain_update({}, "L1.W", (1, 1), opt.name, opt.hyper) is None


def test_every_optimizers_rule_is_the_variant_in_effect_in_the_catalogs_symbols() -> None:
    from engine import catalog

    for entry in catalog.OPTIMIZERS:
        rule = chain.update_rule(entry.name, entry.defaults())
        assert rule[-1].startswith("θ ← θ"), entry.name
        for b in entry.state:  # each state buffer in effect appears under its symbol
            if b.when is None:
                assert any(b.symbol in line for line in rule), (entry.name, b.name)
    plain = chain.update_rule("rmsprop", {"momentum": 0.0, "centered": False})
    both = chain.update_rule("rmsprop", {"momentum": 0.9, "centered": True})
    assert plain == ["v ← α·v + (1 − α)·g²", "d = √v + ε", "θ ← θ − η·g/d"]
    assert both[-2:] == ["b ← μ·b + g/d", "θ ← θ − η·b"] and "ḡ ← α·ḡ + (1 − α)·g" in both
    st = stepper(dataset="xor", hidden=(3,), optimizer="rmsprop",
                 optimizer_params=(("momentum", 0.9), ("centered", True)))
    phases = {r.phase: r.values for r in st.step_iteration()}
    u = chain.explain_update(phases, "L1.b", (0,), "rmsprop", st.optimizer.hyper)
    assert u is not None and u["rule"] == both
    assert u["symbols"] == {"square_avg": "v", "grad_avg": "ḡ", "momentum_buffer": "b"}
    assert list(u["state"]) == list(catalog.optimizer("rmsprop").state_names(st.optimizer.hyper))


def test_explain_works_after_fast_training_and_names_bad_requests() -> None:
    st = Stepper(RunConfig(dataset="xor", hidden=(3,)))
    with pytest.raises(ValueError, match="no captured iteration"):
        chain.explain(st, "L1.W", (0, 0))
    st.train(4)
    e = chain.explain(st, "L1.W", (0, 0))
    assert e["iteration"] == 3 and math.isfinite(e["check"]["numeric"])
    with pytest.raises(ValueError, match="outside"):
        chain.explain(st, "L1.W", (5, 0))
    with pytest.raises(ValueError, match="layer 7"):
        chain.explain(st, "L7.W", (0, 0))
    with pytest.raises(ValueError, match="not a parameter"):
        chain.explain(st, "L1.gamma", (0,))
