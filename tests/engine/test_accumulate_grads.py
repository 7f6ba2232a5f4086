"""``accumulate_grads``: the forgotten ``optimizer.zero_grad()`` of lesson 16.

The optimizer must receive what PyTorch's ``p.grad`` holds when nothing resets
it — every iteration's gradient added up, clipped in place when clipping is on —
while the backward record keeps this iteration's own gradient. Checked here
against sums written out in NumPy from gradients the engine computes with the
switch off (the PyTorch comparison itself is ``tests/parity`` and the golden
file), on every path a run can take: phase by phase, the lean loop with and
without records, the general path (a norm), a snapshot restored.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from engine import chain
from engine.stepper import RunConfig, Stepper

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

SGD = RunConfig(dataset="xor", hidden=(4, 3), batch_size=10, lr=0.2, seed=5,
                accumulate_grads=True)


def iterations(st: Stepper, n: int) -> list[list[dict[str, Any]]]:
    return [[r.values for r in st.step_iteration()] for _ in range(n)]


def test_sgd_steps_by_the_running_sum_of_the_gradients() -> None:
    """W₂ = W₀ − η g₁ − η (g₁ + g₂), g₁ and g₂ from a run that resets its gradients."""
    acc = Stepper(SGD)
    fresh = Stepper(replace(SGD, accumulate_grads=False))
    W0 = {k: v.copy() for k, v in acc.net.params.items()}
    (f1, _, b1, u1), (f2, _, b2, u2) = iterations(acc, 2)
    # the fresh run's first update is the same (nothing accumulated yet), so its second
    # iteration computes g₂ at the same weights, on the same batch
    (g1f, _, gb1, _), (g2f, _, gb2, _) = iterations(fresh, 2)
    assert np.array_equal(f1["batch"], g1f["batch"]) and np.array_equal(f2["batch"], g2f["batch"])
    assert not np.array_equal(f1["batch"], f2["batch"])  # two different mini-batches
    lr = SGD.lr
    for key, gid in (("L1.W", "L1.dW"), ("L1.b", "L1.db"), ("L3.W", "L3.dW"), ("L3.b", "L3.db")):
        g1, g2 = gb1[gid], gb2[gid]
        # the backward phase keeps each iteration's own gradient
        assert np.array_equal(b1[gid], g1) and np.array_equal(b2[gid], g2), gid
        np.testing.assert_allclose(acc.net.params[key], W0[key] - lr * g1 - lr * (g1 + g2),
                                   rtol=1e-13, atol=1e-15)
        # the update records the sum it used, and the step is −η times it exactly
        assert np.array_equal(u1[f"{key}.grad_sum"], g1)
        assert np.array_equal(u2[f"{key}.grad_sum"], g1 + g2)
        assert np.array_equal(u2[f"{key}.step"], -(lr * (g1 + g2)))
    for l in (1, 2, 3):
        total = sum(float(np.vdot(u2[f"L{l}.{p}.grad_sum"], u2[f"L{l}.{p}.grad_sum"]))
                    for p in ("W", "b"))
        assert u2[f"L{l}.grad_sum_norm"] == pytest.approx(math.sqrt(total), rel=1e-14)


def test_the_sum_keeps_pushing_after_the_gradient_has_shrunk() -> None:
    """What lesson 16 shows: 30 iterations in, the sum is many gradients long."""
    st = Stepper(RunConfig(dataset="xor", hidden=(4,), batch_size=0, lr=0.5, seed=1,
                           accumulate_grads=True))
    *_, (_, _, back, upd) = iterations(st, 30)
    ratio = np.linalg.norm(upd["L2.W.grad_sum"]) / np.linalg.norm(back["L2.dW"])
    assert ratio > 5


def test_clipping_acts_on_the_sum_in_place_as_torch_does() -> None:
    """clip_grad_norm_ scales p.grad itself: the next iteration adds to the clipped sum,
    and the norm it reports is the sum's."""
    cfg = replace(SGD, clip_norm=0.05)
    st = Stepper(cfg)
    keys = list(st.net.params)
    kept: dict[str, np.ndarray] = {}
    clipped_once = False
    for _, _, back, upd in iterations(st, 6):
        grads = {k: back[k.replace(".", ".d")] for k in keys}  # L1.W → L1.dW
        summed = {k: kept[k] + grads[k] if k in kept else grads[k] for k in keys}
        total = math.sqrt(sum(float(np.vdot(g, g)) for g in summed.values()))
        assert upd["clip.total_norm"] == pytest.approx(total, rel=1e-14)
        coef = cfg.clip_norm / (total + 1e-6)
        used = {k: g * coef for k, g in summed.items()} if coef < 1 else summed
        clipped_once |= coef < 1
        for k in keys:
            np.testing.assert_allclose(upd[f"{k}.grad_sum"], summed[k], rtol=1e-14, atol=1e-17)
            np.testing.assert_allclose(upd[f"{k}.step"], -cfg.lr * used[k], rtol=1e-14,
                                       atol=1e-17)
        kept = {k: np.asarray(upd[f"{k}.grad_sum"]) * (coef if coef < 1 else 1.0)
                for k in keys}
    assert clipped_once


def test_weight_decay_is_added_inside_the_step_never_to_the_sum() -> None:
    """torch.optim adds λθ to a copy of p.grad: the sum holds the gradients alone."""
    cfg = replace(SGD, optimizer_params=(("weight_decay", 0.1),))
    st = Stepper(cfg)
    (_, _, b1, _), (_, _, b2, u2) = iterations(st, 2)
    assert np.array_equal(u2["L2.W.grad_sum"], b1["L2.dW"] + b2["L2.dW"])
    np.testing.assert_allclose(u2["L2.W.step"],
                               -cfg.lr * (u2["L2.W.grad_sum"] + 0.1 * u2["L2.W.prev"]),
                               rtol=1e-13, atol=1e-16)


@pytest.mark.parametrize("cfg", [
    SGD,
    replace(SGD, optimizer="adam", lr=0.01, l2=0.01, clip_norm=0.5, batch_size=7),
    replace(SGD, optimizer="sgd", optimizer_params=(("momentum", 0.9),), clip_value=0.02),
    # a norm and dropout: the general path, recorded and not; γ and β accumulate too
    replace(SGD, dataset="spiral3", n_samples=60, hidden=(5, 5), norm="batch", dropout=0.2,
            optimizer="rmsprop", lr=0.003),
], ids=["sgd", "adam-l2-clip-norm", "momentum-clip-value", "batch-norm-dropout-rmsprop"])
def test_every_path_gives_the_same_bits(cfg: RunConfig) -> None:
    """Stepped phase by phase, by whole iterations (the lean loop where it applies) and
    trained without records: the same weights, sums and records, bit for bit."""
    phased, whole, fast = Stepper(cfg), Stepper(cfg), Stepper(cfg)
    for _ in range(9):
        recs = [phased.step_phase() for _ in range(4)]
        got = whole.step_iteration()
        for a, b in zip(recs, got, strict=True):
            assert list(a.values) == list(b.values), a.phase
            for k, v in a.values.items():
                assert np.asarray(v).tobytes() == np.asarray(b.values[k]).tobytes(), k
    fast.train(9)
    for st in (whole, fast):
        for k in phased.net.params:
            assert phased.net.params[k].tobytes() == st.net.params[k].tobytes(), k
            assert phased.grad_sum[k].tobytes() == st.grad_sum[k].tobytes(), k
    upd = recs[-1].values
    assert set(phased.grad_sum) == set(phased.net.params)
    assert all(f"{k}.grad_sum" in upd for k in phased.net.params)


def test_a_restored_snapshot_carries_the_sum_and_replays_exactly() -> None:
    st = Stepper(SGD)
    st.train(5)
    snap = st.snapshot()
    later = [r.values["L1.W"] for _ in range(4) for r in st.step_iteration()[3:]]
    st.train(3)
    st.restore(snap)
    again = [r.values["L1.W"] for _ in range(4) for r in st.step_iteration()[3:]]
    assert all(a.tobytes() == b.tobytes() for a, b in zip(later, again, strict=True))
    # a run without the sum would go elsewhere: the snapshot really carried it
    other = Stepper(SGD)
    other.restore({**snap, "grad_sum": {}})
    assert other.step_iteration()[3].values["L1.W"].tobytes() != later[0].tobytes()


def test_off_by_default_and_then_no_record_changes() -> None:
    st = Stepper(replace(SGD, accumulate_grads=False))
    upd = st.step_iteration()[3].values
    assert not any("grad_sum" in k for k in upd)
    assert st.grad_sum == {}
    assert RunConfig().accumulate_grads is False


def test_the_inspector_shows_this_gradient_the_sum_and_what_the_optimizer_used() -> None:
    st = Stepper(replace(SGD, clip_value=0.01))
    st.train(3)
    phases = {r.phase: r.values for r in st.step_iteration()}
    e = chain.explain_update(phases, "L1.W", (0, 1), "sgd", st.optimizer.hyper)
    assert e is not None
    assert e["grad"] == phases["backward"]["L1.dW"][0, 1]
    assert e["grad_sum"] == phases["update"]["L1.W.grad_sum"][0, 1]
    assert e["grad_sum"] != e["grad"]
    assert e["grad_used"] == float(np.clip(e["grad_sum"], -0.01, 0.01))
    assert e["step"] == -SGD.lr * e["grad_used"]
    assert "grad_sum" not in e["state"] and e["symbols"]["grad_sum"] == "Σg"
    off = Stepper(replace(SGD, accumulate_grads=False))
    phases = {r.phase: r.values for r in off.step_iteration()}
    e = chain.explain_update(phases, "L1.W", (0, 1), "sgd", off.optimizer.hyper)
    assert e is not None and e["grad_sum"] is None and e["grad_used"] == e["grad"]
