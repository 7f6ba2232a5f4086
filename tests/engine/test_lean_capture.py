"""``step_iteration`` runs networks without norm, dropout or residual layers on a
lean loop; what it hands out must be exactly what stepping the four phases one
by one gives: the same records (ids, order, bits), the same caches for the
chain rule and metrics, the same halts on a run that goes non-finite."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from engine.data import Dataset
from engine.model import LayerCache, LayerSpec, NetSpec
from engine.schedules import Schedule
from engine.stepper import NonFiniteError, RunConfig, Stepper

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

CONFIGS = {
    "xor-tanh-bce-sgd": RunConfig(dataset="xor", hidden=(8, 8), batch_size=32, lr=0.1, seed=3),
    "circle-relu-adam-reg-clip": RunConfig(
        dataset="circle", hidden=(5,), activation="relu", optimizer="adam", l1=0.001, l2=0.01,
        batch_size=7, clip_value=0.5, seed=4),
    "blobs-gelu-momentum-ce": RunConfig(
        dataset="blobs4", hidden=(6, 4), activation="gelu", optimizer="sgd",
        optimizer_params=(("momentum", 0.9), ("nesterov", True)), batch_size=10, seed=5),
    "sine-sigmoid-mse-tanh-out": RunConfig(
        dataset="sine", hidden=(6,), activation="sigmoid", output_activation="tanh", loss="mse",
        batch_size=0, seed=6, schedule=Schedule("exponential", gamma=0.99)),
    "plane-elu-mse-linear-rmsprop": RunConfig(
        dataset="plane", hidden=(4, 3), activation="elu", loss="mse", optimizer="rmsprop",
        batch_size=1, seed=7, clip_norm=1.0),
    "spiral-swish-adamw-warmup": RunConfig(
        dataset="spiral", hidden=(5, 5, 5), activation="swish", optimizer="adamw",
        features=("x1", "x2", "x1x2", "sin_x1"), batch_size=16, seed=8,
        schedule=Schedule("cosine", t_max=20, warmup=3)),
    "moons-leaky-adagrad-l2": RunConfig(
        dataset="moons", hidden=(4,), activation="leaky_relu", alpha=0.2, optimizer="adagrad",
        l2=0.05, batch_size=9, seed=9),
    "single-linear-mse": RunConfig(dataset="single", hidden=(), loss="mse", batch_size=0,
                                   seed=10),
    "xor-relu-sgd-accumulate-clip": RunConfig(
        dataset="xor", hidden=(5,), activation="relu", batch_size=8, lr=0.1, clip_norm=0.3,
        accumulate_grads=True, seed=12),
    "gauss-softplus-sgd-decay": RunConfig(
        dataset="gauss", hidden=(3,), activation="softplus", optimizer="sgd",
        optimizer_params=(("weight_decay", 0.01),), batch_size=12, seed=11),
}


def same(a: Any, b: Any) -> bool:
    """Equal values, bit for bit (NaN equal to NaN); None only to None."""
    if a is None or b is None:
        return a is None and b is None
    return np.asarray(a).tobytes() == np.asarray(b).tobytes() and \
        np.shape(a) == np.shape(b)


def assert_same_records(lean: list, phased: list) -> None:
    assert [(r.phase, r.iteration) for r in lean] == [(r.phase, r.iteration) for r in phased]
    for a, b in zip(lean, phased, strict=True):
        assert list(a.values) == list(b.values), a.phase  # the same ids, in the same order
        for k in a.values:
            assert same(a.values[k], b.values[k]), (a.phase, k)


def assert_same_last_iteration(a: Stepper, b: Stepper) -> None:
    la, lb = a.last_iteration, b.last_iteration
    assert la is not None and lb is not None
    assert la.caches is not None and lb.caches is not None
    for ca, cb in zip(la.caches, lb.caches, strict=True):
        for name in LayerCache.__slots__:
            assert same(getattr(ca, name), getattr(cb, name)), name
    assert la.loss is not None and lb.loss is not None
    for name in ("per_sample", "delta", "dy"):
        assert same(getattr(la.loss, name), getattr(lb.loss, name)), name
    assert la.loss.mean == lb.loss.mean
    assert (la.iteration, la.reg, la.gnorms, la.lr, la.done) == \
        (lb.iteration, lb.reg, lb.gnorms, lb.lr, lb.done)
    for name in ("x", "t", "idx"):
        assert same(getattr(la, name), getattr(lb, name)), name
    for da, db in ((la.grads, lb.grads), (la.params, lb.params), (la.prev, lb.prev)):
        assert da is not None and db is not None
        assert list(da) == list(db)
        assert all(same(da[k], db[k]) for k in da)


def phases(st: Stepper) -> list:
    return [st.step_phase() for _ in range(4)]


@pytest.mark.parametrize("cfg", list(CONFIGS.values()), ids=list(CONFIGS))
def test_lean_iteration_hands_out_what_the_four_phases_do(cfg: RunConfig) -> None:
    lean, phased = Stepper(cfg), Stepper(cfg)
    assert lean._plain
    for _ in range(12):
        assert_same_records(lean.step_iteration(), phases(phased))
        assert_same_last_iteration(lean, phased)
    for k in lean.net.params:
        assert same(lean.net.params[k], phased.net.params[k]), k
    assert (lean.iteration, lean.epoch, lean.optimizer.t) == \
        (phased.iteration, phased.epoch, phased.optimizer.t)
    # mixing the two (a learner steps a phase, then plays) stays in step
    lean.step_phase()
    phased.step_phase()
    assert_same_records(lean.step_iteration(), [phased.step_phase() for _ in range(3)])
    assert_same_records(lean.step_iteration(), phases(phased))


def test_lean_iteration_with_soft_targets_and_a_given_batch() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    t = rng.uniform(size=(40, 2))  # soft bce targets: the general ∂L/∂y formula
    spec = NetSpec(3, (LayerSpec(4, "tanh"), LayerSpec(2, "linear")), "bce")
    cfg = RunConfig(batch_size=8, seed=2)
    lean = Stepper(cfg, spec=spec, data=Dataset.from_arrays(x, t))
    phased = Stepper(cfg, spec=spec, data=Dataset.from_arrays(x, t))
    for _ in range(6):
        assert_same_records(lean.step_iteration(), phases(phased))
    # a batch given from a script goes through the phases, and the run's own
    # batching carries on afterwards as before
    assert_same_records(lean.step_batch(x[:5], t[:5]), phased.step_batch(x[:5], t[:5]))
    assert_same_records(lean.step_iteration(), phases(phased))


@pytest.mark.parametrize("where", ["forward", "loss", "backward"])
def test_lean_iteration_halts_where_the_phases_do_and_recovers(where: str) -> None:
    def make() -> Stepper:
        st = Stepper(RunConfig(dataset="xor", hidden=(3, 3), activation="relu", loss="mse",
                               batch_size=4, seed=2))
        st.train(3)
        if where == "forward":
            st.net.params["L2.W"][0, 0] = np.inf
        elif where == "loss":
            st.net.params["L3.W"][...] = 1e200  # finite outputs whose square overflows
        else:  # huge hidden activations, a finite output: ‖∂L/∂W₃‖² overflows
            st.net.params["L2.b"][...] = 1e200
            st.net.params["L3.W"][...] = 1e-200
        return st

    lean, phased = make(), make()
    ref = Stepper(RunConfig(dataset="xor", hidden=(3, 3), activation="relu", loss="mse",
                             batch_size=4, seed=2))
    ref.train(3)
    good = ref.snapshot()
    errors = []
    for st, run in ((lean, Stepper.step_iteration), (phased, phases)):
        with pytest.raises(NonFiniteError) as ei:
            run(st)
        errors.append((ei.value.phase, ei.value.where, ei.value.iteration, st.phase_index,
                       st.iteration))
    assert errors[0] == errors[1]
    assert errors[0][0] == where
    # both recover the same way: back to the last good state, at a lower rate
    for st in (lean, phased):
        st.restore(good)
        st.set_hyper(lr=0.01)
    for _ in range(3):
        assert_same_records(lean.step_iteration(), phases(phased))


@pytest.mark.parametrize("loss,out_act", [("bce", "linear"), ("cross_entropy", "linear"),
                                          ("mse", "linear"), ("mse", "tanh")])
def test_an_infinite_output_z_is_named_in_the_forward_phase_on_both_paths(
        loss: str, out_act: str) -> None:
    """The lean iteration screens only hidden z's when the loss would show an
    infinite output anyway; mse behind a saturating output would not."""
    dataset = "blobs3" if loss == "cross_entropy" else "sine" if loss == "mse" else "xor"
    cfg = RunConfig(dataset=dataset, hidden=(4,), loss=loss, output_activation=out_act,
                    batch_size=6, seed=3)
    where = []
    for run in (Stepper.step_iteration, phases):
        st = Stepper(cfg)
        st.train(2)
        st.net.params["L2.b"][...] = np.inf
        with pytest.raises(NonFiniteError) as ei:
            run(st)
        where.append((ei.value.phase, ei.value.where, st.phase_index))
    assert where[0] == where[1] == ("forward", "L2.z", 0)


@pytest.mark.parametrize("bias", [np.zeros((1, 3)), 0.25, np.full(1, 0.5)],
                         ids=["row", "float", "one"])
def test_a_bias_assigned_by_hand_keeps_working_on_both_paths(bias: Any) -> None:
    cfg = RunConfig(dataset="xor", hidden=(3,), batch_size=8, seed=1)
    lean, phased = Stepper(cfg), Stepper(cfg)
    key = "L2.b" if np.size(bias) == 1 and not isinstance(bias, float) else "L1.b"
    for st in (lean, phased):
        st.net.params[key] = bias
    assert_same_records(lean.step_iteration(), phases(phased))
    assert_same_records(lean.step_iteration(), phases(phased))


def test_optimizer_settings_change_only_through_set_hyper() -> None:
    """The lean loop resolves the update rule once per optimizer, so the settings of
    a built optimizer are read-only; set_hyper builds a new one and both paths follow."""
    cfg = RunConfig(dataset="xor", hidden=(3,), batch_size=8, seed=1)
    lean, phased = Stepper(cfg), Stepper(cfg)
    with pytest.raises(TypeError):
        lean.optimizer.hyper["momentum"] = 0.9  # type: ignore[index]
    assert_same_records(lean.step_iteration(), phases(phased))
    for st in (lean, phased):
        st.set_hyper(optimizer_params=(("momentum", 0.9),))
    for _ in range(3):
        recs = lean.step_iteration()
        assert_same_records(recs, phases(phased))
    assert "L1.W.momentum_buffer" in recs[3].values
