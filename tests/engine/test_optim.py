"""Optimizers, schedules and clipping against their documented formulas.

The references below are written out from the ``torch.optim`` algorithm
boxes (and ``torch.optim.lr_scheduler`` / ``torch.nn.utils`` definitions),
independently of ``engine.optim``: plain loops over NumPy arrays, state held
in local variables, several steps with changing gradients.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from engine.optim import DEFAULTS, Optimizer, clip_grad_norm, clip_grad_value
from engine.schedules import Schedule
from engine.stepper import RunConfig, Stepper

Array = np.ndarray
STEPS = 6


def grads_sequence(shape: tuple[int, ...], seed: int = 0) -> list[Array]:
    rng = np.random.default_rng(seed)
    return [rng.normal(0, 1.0, shape) for _ in range(STEPS)]


def run_engine(name: str, hyper: dict[str, float | bool], lrs: list[float]) -> list[Array]:
    p0 = np.random.default_rng(42).normal(0, 1.0, (3, 2))
    params = {"L1.W": p0.copy()}
    opt = Optimizer(name, hyper)
    out = []
    for g, lr in zip(grads_sequence(p0.shape), lrs, strict=True):
        opt.step(params, {"L1.W": g}, lr)
        out.append(params["L1.W"].copy())
    return out


def ref_sgd(p: Array, gs: list[Array], lrs: list[float], momentum: float = 0.0,
            dampening: float = 0.0, nesterov: bool = False,
            weight_decay: float = 0.0) -> list[Array]:
    out = []
    b = np.zeros_like(p)
    for t, (g, lr) in enumerate(zip(gs, lrs, strict=True), start=1):
        if weight_decay:
            g = g + weight_decay * p
        if momentum:
            b = g.copy() if t == 1 else momentum * b + (1 - dampening) * g
            g = g + momentum * b if nesterov else b
        p = p - lr * g
        out.append(p)
    return out


def ref_rmsprop(p: Array, gs: list[Array], lrs: list[float], alpha: float = 0.99,
                eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
                centered: bool = False) -> list[Array]:
    out = []
    v = np.zeros_like(p)
    gave = np.zeros_like(p)
    b = np.zeros_like(p)
    for g, lr in zip(gs, lrs, strict=True):
        if weight_decay:
            g = g + weight_decay * p
        v = alpha * v + (1 - alpha) * g**2
        vt = v
        if centered:
            gave = gave * alpha + (1 - alpha) * g
            vt = vt - gave**2
        if momentum > 0:
            b = momentum * b + g / (np.sqrt(vt) + eps)
            p = p - lr * b
        else:
            p = p - lr * g / (np.sqrt(vt) + eps)
        out.append(p)
    return out


def ref_adagrad(p: Array, gs: list[Array], lrs: list[float], lr_decay: float = 0.0,
                weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                eps: float = 1e-10) -> list[Array]:
    out = []
    s = np.full_like(p, initial_accumulator_value)
    for t, (g, lr) in enumerate(zip(gs, lrs, strict=True), start=1):
        clr = lr / (1 + (t - 1) * lr_decay)
        if weight_decay:
            g = g + weight_decay * p
        s = s + g**2
        p = p - clr * g / (np.sqrt(s) + eps)
        out.append(p)
    return out


def ref_adam(p: Array, gs: list[Array], lrs: list[float], beta1: float = 0.9,
             beta2: float = 0.999, eps: float = 1e-8, weight_decay: float = 0.0,
             decoupled: bool = False) -> list[Array]:
    out = []
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    for t, (g, lr) in enumerate(zip(gs, lrs, strict=True), start=1):
        if decoupled:
            p = p - lr * weight_decay * p
        elif weight_decay:
            g = g + weight_decay * p
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        mhat = m / (1 - beta1**t)
        vhat = v / (1 - beta2**t)
        p = p - lr * mhat / (np.sqrt(vhat) + eps)
        out.append(p)
    return out


CASES: list[tuple[str, dict[str, float | bool], Callable[..., list[Array]], dict]] = [
    ("sgd", {}, ref_sgd, {}),
    ("sgd", {"momentum": 0.9}, ref_sgd, {"momentum": 0.9}),
    ("sgd", {"momentum": 0.8, "dampening": 0.3}, ref_sgd, {"momentum": 0.8, "dampening": 0.3}),
    ("sgd", {"momentum": 0.9, "nesterov": True}, ref_sgd, {"momentum": 0.9, "nesterov": True}),
    ("sgd", {"weight_decay": 0.1, "momentum": 0.5}, ref_sgd,
     {"weight_decay": 0.1, "momentum": 0.5}),
    ("rmsprop", {}, ref_rmsprop, {}),
    ("rmsprop", {"alpha": 0.9, "momentum": 0.7}, ref_rmsprop, {"alpha": 0.9, "momentum": 0.7}),
    ("rmsprop", {"centered": True, "weight_decay": 0.05}, ref_rmsprop,
     {"centered": True, "weight_decay": 0.05}),
    ("adagrad", {}, ref_adagrad, {}),
    ("adagrad", {"lr_decay": 0.1, "initial_accumulator_value": 0.5, "weight_decay": 0.02},
     ref_adagrad, {"lr_decay": 0.1, "initial_accumulator_value": 0.5, "weight_decay": 0.02}),
    ("adam", {}, ref_adam, {}),
    ("adam", {"beta1": 0.8, "beta2": 0.99, "weight_decay": 0.1}, ref_adam,
     {"beta1": 0.8, "beta2": 0.99, "weight_decay": 0.1}),
    ("adamw", {}, ref_adam, {"weight_decay": 0.01, "decoupled": True}),
    ("adamw", {"weight_decay": 0.2, "eps": 1e-6}, ref_adam,
     {"weight_decay": 0.2, "eps": 1e-6, "decoupled": True}),
]


@pytest.mark.parametrize("name,hyper,ref,ref_kw", CASES,
                         ids=[f"{c[0]}-{'-'.join(map(str, c[1].items()))}" for c in CASES])
def test_optimizer_matches_its_formula_over_several_steps(
    name: str, hyper: dict[str, float | bool], ref: Callable[..., list[Array]], ref_kw: dict,
) -> None:
    lrs = [0.1, 0.05, 0.05, 0.02, 0.2, 0.1]  # a changing rate, as a schedule gives
    got = run_engine(name, hyper, lrs)
    p0 = np.random.default_rng(42).normal(0, 1.0, (3, 2))
    want = ref(p0.copy(), grads_sequence(p0.shape), lrs, **ref_kw)
    for step, (g, w) in enumerate(zip(got, want, strict=True), start=1):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-14, err_msg=f"step {step}")
    assert not np.allclose(got[-1], p0)  # it did move


def test_defaults_are_torch_defaults() -> None:
    assert DEFAULTS["adam"] == {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0}
    assert DEFAULTS["adamw"]["weight_decay"] == 0.01
    assert DEFAULTS["rmsprop"]["alpha"] == 0.99
    assert DEFAULTS["adagrad"]["eps"] == 1e-10


def test_optimizer_state_is_shown_and_never_changed_behind_a_record() -> None:
    st = Stepper(RunConfig(dataset="xor", hidden=(3,), optimizer="adam", batch_size=8))
    first = st.step_iteration()[-1].values
    m1 = first["L1.W.exp_avg"].copy()
    W1 = first["L1.W"].copy()
    st.step_iteration()
    np.testing.assert_array_equal(first["L1.W.exp_avg"], m1)
    np.testing.assert_array_equal(first["L1.W"], W1)
    np.testing.assert_array_equal(first["L1.W.prev"] + first["L1.W.step"], first["L1.W"])


def test_bad_optimizer_settings_are_named() -> None:
    with pytest.raises(ValueError, match="adam takes no"):
        Optimizer("adam", {"momentum": 0.9})
    with pytest.raises(ValueError, match="Nesterov"):
        Optimizer("sgd", {"nesterov": True})
    with pytest.raises(ValueError, match="unknown optimizer"):
        Optimizer("lbfgs")


# ---- schedules -----------------------------------------------------------------


@pytest.mark.parametrize("t", [0, 1, 99, 100, 101, 250, 1000, 1500])
def test_schedules_follow_their_definitions(t: int) -> None:
    base = 0.2
    assert Schedule("constant").lr(base, t) == base
    assert Schedule("step", step_size=100, gamma=0.3).lr(base, t) == pytest.approx(
        base * 0.3 ** (t // 100))
    assert Schedule("exponential", gamma=0.99).lr(base, t) == pytest.approx(base * 0.99**t)
    T, eta_min = 1000, 0.01
    want = eta_min + (base - eta_min) * (1 + math.cos(math.pi * min(t, T) / T)) / 2
    assert Schedule("cosine", t_max=T, eta_min=eta_min).lr(base, t) == pytest.approx(want)


@pytest.mark.parametrize("name", ["constant", "step", "exponential", "cosine"])
def test_linear_warmup_multiplies_any_schedule(name: str) -> None:
    plain = Schedule(name, step_size=5, gamma=0.9, t_max=50)
    warm = Schedule(name, step_size=5, gamma=0.9, t_max=50, warmup=10, warmup_start=0.25)
    for t in range(0, 30):
        factor = 0.25 + 0.75 * min(t, 10) / 10
        assert warm.lr(0.1, t) == pytest.approx(plain.lr(0.1, t) * factor)
    assert warm.lr(0.1, 0) == pytest.approx(0.025)
    assert warm.lr(0.1, 10) == pytest.approx(plain.lr(0.1, 10))


def test_the_update_phase_uses_the_scheduled_rate() -> None:
    sched = Schedule("step", step_size=2, gamma=0.5, warmup=1, warmup_start=0.5)
    st = Stepper(RunConfig(dataset="xor", hidden=(2,), lr=0.4, schedule=sched, batch_size=4))
    lrs = [st.step_iteration()[-1].values["lr"] for _ in range(5)]
    assert lrs == pytest.approx([0.2, 0.4, 0.2, 0.2, 0.1])
    stats = st.train(3)
    assert stats.lr.tolist() == pytest.approx([0.1, 0.05, 0.05])


def test_bad_schedules_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown schedule"):
        Schedule("cyclic")
    with pytest.raises(ValueError):
        Schedule("step", step_size=0)


# ---- clipping -------------------------------------------------------------------


def test_clip_by_global_norm() -> None:
    g = {"a": np.array([[3.0, 0.0]]), "b": np.array([4.0])}  # ‖g‖ = 5
    total, clipped = clip_grad_norm(g, 1.0)
    assert total == pytest.approx(5.0)
    coef = 1.0 / (5.0 + 1e-6)
    np.testing.assert_allclose(clipped["a"], [[3.0 * coef, 0.0]])
    np.testing.assert_allclose(clipped["b"], [4.0 * coef])
    np.testing.assert_array_equal(g["a"], [[3.0, 0.0]])  # the originals stay as shown
    total, same = clip_grad_norm(g, 10.0)
    assert total == pytest.approx(5.0)
    np.testing.assert_array_equal(same["b"], g["b"])


def test_clip_by_value() -> None:
    g = {"a": np.array([[-3.0, 0.2, 0.7]])}
    np.testing.assert_array_equal(clip_grad_value(g, 0.5)["a"], [[-0.5, 0.2, 0.5]])


def test_clipping_in_the_stepper_bounds_the_step() -> None:
    cfg = RunConfig(dataset="xor", hidden=(4,), lr=1.0, clip_norm=0.01, batch_size=8)
    st = Stepper(cfg)
    recs = st.step_iteration()
    back, upd = recs[2].values, recs[3].values
    raw = math.sqrt(sum(float((v**2).sum()) for k, v in back.items()
                        if k.endswith((".dW", ".db"))))
    assert upd["clip.total_norm"] == pytest.approx(raw)
    steps = math.sqrt(sum(float((v**2).sum()) for k, v in upd.items() if k.endswith(".step")))
    assert steps == pytest.approx(0.01, rel=1e-4)  # lr 1 × clipped norm
