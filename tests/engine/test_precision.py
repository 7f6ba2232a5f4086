"""Full relative precision where a learner would read the digits: ELU's slope far
into its negative tail, the cross-entropy and bce losses of huge logits."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine import activations, losses
from engine.data import Dataset
from engine.model import LayerSpec, NetSpec
from engine.stepper import RunConfig, Stepper

ULP = 2.3e-16   # a little over float64's unit roundoff, relative


@pytest.mark.parametrize("alpha", [1.0, 0.3])
def test_elu_slope_keeps_its_digits_in_the_negative_tail(alpha: float) -> None:
    elu = activations.get("elu")
    z = np.array([[-1e-3, -1.0, -5.0, -30.0, -37.5, -40.0, -200.0, -700.0]])
    d = elu.df(z, elu.f(z, alpha), alpha)
    want = [alpha * math.exp(v) for v in z[0]]
    # α(e^z − 1) + α loses e^z to the size of α: 1e−4 relative at −30, 0 below −37
    np.testing.assert_allclose(d[0], want, rtol=ULP, atol=0)
    assert (d > 0).all()
    assert elu.df(np.array([[0.5, 0.0]]), np.array([[0.5, 0.0]]), alpha).tolist() == \
        [[1.0, alpha]]


def test_elu_networks_step_the_same_bits_lean_and_phase_by_phase() -> None:
    # an ELU layer driven far negative: both paths take f'(z) from the same z
    x = np.array([[40.0, -35.0], [-38.0, 45.0], [1.0, 2.0], [-50.0, -60.0]])
    t = np.array([[0.5], [-0.2], [1.0], [0.0]])
    spec = NetSpec(2, (LayerSpec(3, "elu"), LayerSpec(1, "linear")), "mse")
    cfg = RunConfig(batch_size=0, lr=0.01, seed=2)
    a = Stepper(cfg, spec=spec, data=Dataset.from_arrays(x, t))
    b = Stepper(cfg, spec=spec, data=Dataset.from_arrays(x, t))
    for _ in range(3):
        lean = a.step_iteration()
        phased = [b.step_phase() for _ in range(4)]
        for ra, rb in zip(lean, phased, strict=True):
            for k, v in ra.values.items():
                assert np.asarray(v).tobytes() == np.asarray(rb.values[k]).tobytes(), k
    last = a.last_iteration
    assert last is not None and last.caches is not None
    c = last.caches[0]
    assert c.dfz is not None and (c.z < -30).any()
    np.testing.assert_allclose(c.dfz[c.z <= 0], np.exp(c.z[c.z <= 0]), rtol=ULP, atol=0)


def _ce(z: np.ndarray, t: np.ndarray) -> losses.LossResult:
    return losses.compute("cross_entropy", z, losses.softmax(z), t, None, want_dy=True)


def test_cross_entropy_of_huge_equal_logits_is_ln_k_to_the_last_digit() -> None:
    z = np.full((3, 3), 1e8)
    res = _ce(z, np.eye(3))
    np.testing.assert_allclose(res.per_sample, math.log(3), rtol=ULP, atol=0)
    assert res.mean == pytest.approx(math.log(3), rel=ULP, abs=0)
    np.testing.assert_allclose(res.delta, (1 / 3 - np.eye(3)) / 3, rtol=1e-15)
    assert res.dy is not None
    np.testing.assert_allclose(res.dy, -np.eye(3) * 3 / 3, rtol=1e-15)


def test_cross_entropy_of_huge_unequal_logits() -> None:
    z = np.array([[1e8, 1e8 + 1, 1e8 + 2], [-1e8, -1e8 - 1, -1e8 - 2]])
    t = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    res = _ce(z, t)
    # lse − z_t = log Σ e^(z − z_t)
    want = [2 + math.log1p(math.exp(-1) + math.exp(-2)),
            2 + math.log1p(math.exp(-1) + math.exp(-2))]
    np.testing.assert_allclose(res.per_sample, want, rtol=2 * ULP, atol=0)
    # soft targets that do not sum to 1 still get lse(z) − Σ t z
    s = np.array([[0.5, 0.25, 0.0]])
    zs = np.array([[3.0, -1.0, 2.0]])
    lse = math.log(sum(math.exp(v) for v in zs[0]))
    assert _ce(zs, s).per_sample[0] == pytest.approx(lse - 1.25, rel=1e-15)


def test_bce_of_huge_logits_is_exact() -> None:
    z = np.array([[1e8], [1e8], [-1e8], [-1e8], [1e8]])
    t = np.array([[1.0], [0.0], [1.0], [0.0], [0.25]])
    sp = activations.softplus(z)
    y = np.exp(z - sp)
    res = losses.compute("bce", z, y, t, None, sp=sp, want_dy=True)
    assert res.per_sample.tolist() == [0.0, 1e8, 1e8, 0.0, 7.5e7]
    assert np.isfinite(res.delta).all() and np.isfinite(res.dy).all()   # type: ignore[arg-type]
    assert (res.delta * 5).ravel().tolist() == [0.0, 1.0, -1.0, 0.0, 0.75]
