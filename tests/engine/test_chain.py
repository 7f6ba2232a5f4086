"""The chain rule as data: the factors multiply out to the engine's gradient,
the finite-difference check agrees, and asking never disturbs the run."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from engine import chain
from engine.stepper import RunConfig, Stepper


def stepped(**kw: object) -> Stepper:
    cfg = dict(dataset="blobs3", hidden=(4, 3), activation="tanh", batch_size=6, seed=9)
    cfg.update(kw)
    st = Stepper(RunConfig(**cfg))  # type: ignore[arg-type]
    st.step_iteration()
    return st


def test_weight_factors_multiply_to_the_per_sample_gradient_and_average_to_dW() -> None:
    st = stepped()
    e = chain.explain(st, "L1.W", (1, 2), sample=3)
    a_prev, delta = (f["value"] for f in e["sample"]["factors"])
    assert e["sample"]["value"] == pytest.approx(a_prev * delta, rel=1e-12)
    last = st.last_iteration
    assert last is not None and last.grads is not None
    assert e["batch"]["total"] == float(last.grads["L1.W"][1, 2])
    assert e["batch"]["mean"] == pytest.approx(e["batch"]["total"], rel=1e-12)
    assert len(e["batch"]["per_sample"]) == 6
    assert e["batch"]["per_sample"][3] == pytest.approx(e["sample"]["value"])
    json.dumps(e)  # JSON-friendly all the way down


def test_each_delta_is_f_prime_times_the_weighted_sum_back_to_the_loss() -> None:
    st = stepped()
    e = chain.explain(st, "L1.W", (0, 1), sample=2)
    deltas = e["deltas"]
    # the target unit, then every unit of layers 2 and 3
    assert [(d["layer"], d["unit"]) for d in deltas] == (
        [(1, 1)] + [(2, k) for k in range(3)] + [(3, k) for k in range(3)])
    by = {(d["layer"], d["unit"]): d for d in deltas}
    for d in deltas:
        if d["kind"] == "hidden":
            terms = d["sum"]["terms"]
            assert d["sum"]["value"] == pytest.approx(sum(t["product"] for t in terms))
            for t in terms:
                nxt = by[(d["layer"] + 1, t["delta_index"][1])]
                assert t["delta"] == pytest.approx(nxt["value"])
                assert t["product"] == pytest.approx(t["w"] * t["delta"])
            assert d["value"] == pytest.approx(d["factors"][0]["value"] * d["sum"]["value"])
        else:  # softmax + cross-entropy: δ = y − t
            assert d["value"] == pytest.approx(d["factors"][0]["value"])
    assert e["sample"]["factors"][1]["value"] == pytest.approx(by[(1, 1)]["value"])


def test_mse_output_delta_carries_f_prime() -> None:
    st = stepped(dataset="sine", hidden=(3,), output_activation="tanh", loss="mse")
    e = chain.explain(st, "L2.b", (0,), sample=1)
    out = e["deltas"][0]
    names = [f["name"] for f in out["factors"]]
    assert names == ["y - t", "f'(z)"]
    assert out["value"] == pytest.approx(out["factors"][0]["value"] * out["factors"][1]["value"])


@pytest.mark.parametrize("kw", [
    {},
    {"activation": "relu", "dropout": 0.3, "l2": 0.05, "l1": 0.01},
    {"norm": "batch", "hidden": (4, 4), "residual": True},
    {"norm": "layer", "activation": "gelu"},
])
@pytest.mark.parametrize("target", [("L1.W", (0, 1)), ("L2.b", (2,)), ("L3.W", (1, 0))])
def test_finite_difference_check_agrees(kw: dict, target: tuple[str, tuple[int, ...]]) -> None:
    st = stepped(**kw)
    e = chain.explain(st, target[0], target[1], sample=0)
    c = e["check"]
    assert c["rel_error"] < 1e-6 or c["abs_error"] < 1e-9, c
    assert c["analytic"] == e["batch"]["total"]
    assert e["batch"]["data"] + e["batch"]["reg"] == pytest.approx(e["batch"]["total"])


def test_asking_does_not_disturb_the_run() -> None:
    a = stepped(dropout=0.4, norm="batch")
    b = stepped(dropout=0.4, norm="batch")
    for id, index in (("L1.W", (0, 0)), ("L2.b", (1,)), ("L1.gamma", (2,)), ("L2.a", (1,))):
        chain.explain(a, id, index, sample=1)
    for st in (a, b):
        st.train(5)
    for k in a.net.params:
        assert a.net.params[k].tobytes() == b.net.params[k].tobytes()
    for k in a.net.buffers:
        assert a.net.buffers[k].tobytes() == b.net.buffers[k].tobytes()


def test_unit_chain_gives_delta_and_da() -> None:
    st = stepped()
    e = chain.explain(st, "L2.a", (1,), sample=4)
    assert e["kind"] == "unit" and "check" not in e
    first = e["deltas"][0]
    assert e["sample"]["value"] == pytest.approx(first["value"])
    assert e["sample"]["da"] == pytest.approx(first["sum"]["value"])
    last = st.last_iteration
    assert last is not None and last.caches is not None
    delta = last.caches[1].delta
    assert delta is not None
    assert first["value"] == pytest.approx(float(delta[4, 1]) * 6)


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
    with pytest.raises(ValueError, match="outside the batch"):
        chain.explain(st, "L1.W", (0, 0), sample=999)
    assert np.isfinite(e["sample"]["value"])
