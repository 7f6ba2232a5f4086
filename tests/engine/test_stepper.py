"""The phase stepper as a learner and a script use it: records, determinism,
the fast path, the textbook single neuron, non-finite runs and the Python API."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from engine.data import Dataset
from engine.model import LayerSpec, NetSpec
from engine.schedules import Schedule
from engine.stepper import PHASES, NonFiniteError, RunConfig, Stepper

Array = np.ndarray

# The diverging runs below must reach their NonFiniteError without NumPy
# printing overflow warnings on the way: any RuntimeWarning fails the test.
pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")


def flat(recs: list) -> list[tuple[str, str, bytes]]:
    """Every value of every record as bytes, for bit-for-bit comparison."""
    out = []
    for r in recs:
        for k, v in sorted(r.values.items()):
            out.append((r.phase, k, np.asarray(v).tobytes()))
    return out


RICH = RunConfig(dataset="spiral3", n_samples=90, noise=0.2, hidden=(6, 6), activation="relu",
                 dropout=0.3, norm="batch", optimizer="adam", batch_size=16, l2=0.01,
                 clip_norm=5.0, seed=11, schedule=Schedule("cosine", t_max=50, warmup=3))


def test_records_carry_the_documented_ids_in_phase_order() -> None:
    st = Stepper(RunConfig(dataset="xor", hidden=(3, 2), dropout=0.5, batch_size=5))
    recs = st.step_iteration()
    assert [r.phase for r in recs] == list(PHASES)
    fwd, loss, back, upd = (r.values for r in recs)
    for key in ("batch", "x", "t", "L0.a", "L1.z", "L1.a", "L1.mask", "L3.z", "L3.a"):
        assert key in fwd
    assert fwd["L1.z"].shape == (5, 3) and fwd["L3.a"].shape == (5, 1)
    for key in ("loss.per_sample", "loss.data", "loss.reg", "loss.total", "y", "L3.da"):
        assert key in loss
    for key in ("L1.delta", "L0.da", "L1.dW", "L1.db", "L3.gnorm"):
        assert key in back
    assert back["L2.dW"].shape == (3, 2)
    for key in ("lr", "L1.W", "L1.W.prev", "L1.W.step", "L3.b"):
        assert key in upd
    assert st.iteration == 1 and st.next_phase == "forward"


def test_equal_seeds_give_bit_identical_runs_with_dropout_and_shuffling() -> None:
    a, b = Stepper(RICH), Stepper(RICH)
    ra = [r for _ in range(12) for r in a.step_iteration()]
    rb = [r for _ in range(12) for r in b.step_iteration()]
    assert flat(ra) == flat(rb)
    sa, sb = a.train(40), b.train(40)
    assert sa.loss.tobytes() == sb.loss.tobytes()
    for k in a.net.params:
        assert a.net.params[k].tobytes() == b.net.params[k].tobytes()
    assert a.epoch == b.epoch > 0
    c = Stepper(RunConfig(**{**RICH.__dict__, "seed": 12}))
    c.train(52)
    assert not np.array_equal(c.net.params["L1.W"], a.net.params["L1.W"])


def test_fast_path_and_captured_path_give_the_same_bits() -> None:
    a, b = Stepper(RICH), Stepper(RICH)
    for _ in range(30):
        a.step_iteration()
    stats = b.train(30)
    for k in a.net.params:
        assert a.net.params[k].tobytes() == b.net.params[k].tobytes(), k
    for k in a.net.buffers:
        assert a.net.buffers[k].tobytes() == b.net.buffers[k].tobytes(), k
    assert a.iteration == b.iteration == 30 and a.epoch == b.epoch
    # the stats of the fast run are the numbers the captured run showed
    c = Stepper(RICH)
    losses, gnorms = [], []
    for _ in range(30):
        _, loss, back, _ = c.step_iteration()
        losses.append(loss.values["loss.data"])
        gnorms.append([back.values[f"L{l}.gnorm"] for l in (1, 2, 3)])
    assert stats.loss.tolist() == losses
    assert stats.gnorm.tolist() == gnorms
    assert stats.iterations.tolist() == list(range(30))


def test_train_finishes_an_open_iteration_first() -> None:
    a, b = Stepper(RICH), Stepper(RICH)
    a.step_phase()
    a.step_phase()
    stats = a.train(2)
    b.train(3)
    assert len(stats) == 3 and a.iteration == 3 and a.phase_index == 0
    assert a.net.params["L2.W"].tobytes() == b.net.params["L2.W"].tobytes()


def test_single_neuron_textbook_gradient() -> None:
    """One sigmoid neuron, squared error, one sample: ∂L/∂w = (y − t)·σ'(z)·x."""
    cfg = RunConfig(dataset="single", hidden=(), output_activation="sigmoid", loss="mse",
                    init="constant", init_scale=0.6, batch_size=1, lr=0.5, seed=3)
    st = Stepper(cfg)
    fwd, loss, back, upd = (r.values for r in st.step_iteration())
    x = float(fwd["x"][0, 0])
    t = float(fwd["t"][0, 0])
    w, b = 0.6, 0.0
    z = w * x + b
    y = 1 / (1 + math.exp(-z))
    assert float(fwd["L1.z"][0, 0]) == pytest.approx(z, rel=1e-15)
    assert float(fwd["L1.a"][0, 0]) == pytest.approx(y, rel=1e-15)
    assert loss["loss.data"] == pytest.approx(0.5 * (y - t) ** 2, rel=1e-14)
    assert float(loss["L1.da"][0, 0]) == pytest.approx(y - t, rel=1e-14)
    dw = (y - t) * y * (1 - y) * x
    assert float(back["L1.dW"][0, 0]) == pytest.approx(dw, rel=1e-14, abs=1e-300)
    assert float(back["L1.db"][0]) == pytest.approx((y - t) * y * (1 - y), rel=1e-14)
    assert float(upd["L1.W"][0, 0]) == pytest.approx(w - 0.5 * dw, rel=1e-14)


def test_single_dataset_has_the_two_textbook_samples() -> None:
    st = Stepper(RunConfig(dataset="single", hidden=()))
    np.testing.assert_array_equal(st.data.x_train, [[0.0], [1.0]])
    np.testing.assert_array_equal(st.data.t_train, [[0.0], [1.0]])


# ---- non-finite runs --------------------------------------------------------------


def exploding(**kw: object) -> RunConfig:
    base = dict(dataset="plane", hidden=(4,), activation="relu", lr=1e6, batch_size=10,
                noise=0.0, seed=2, init="he_normal")
    base.update(kw)
    return RunConfig(**base)  # type: ignore[arg-type]


def run_until_halt(st: Stepper, limit: int = 200) -> NonFiniteError:
    for _ in range(limit):
        try:
            st.step_phase()
        except NonFiniteError as e:
            return e
    raise AssertionError("the run never went non-finite")


def test_a_non_finite_run_halts_naming_phase_and_id_and_recovers() -> None:
    st = Stepper(exploding())
    e = run_until_halt(st)
    assert e.phase in PHASES
    assert e.where.split(".")[0].startswith("L") or e.where.startswith("loss")
    assert str(e.iteration) in str(e) and e.phase in str(e) and e.where in str(e)
    assert st.halted is e
    with pytest.raises(NonFiniteError):
        st.step_phase()  # stays halted
    with pytest.raises(NonFiniteError):
        st.train(5)
    snap = Stepper(exploding()).snapshot()
    # lowering the rate clears the halt; going back to a snapshot (which brings
    # its own settings back) and lowering the rate gives a healthy run
    st.set_hyper(lr=0.001)
    assert st.halted is None
    st.restore(snap)
    assert st.iteration == 0 and st.phase_index == 0 and st.config.lr == 1e6
    st.set_hyper(lr=0.001)
    st.train(20)
    assert all(np.isfinite(v).all() for v in st.net.params.values())


def test_first_bad_value_is_named_in_the_forward_phase() -> None:
    st = Stepper(RunConfig(dataset="xor", hidden=(3, 3), activation="tanh", batch_size=4))
    st.net.params["L2.W"][0, 0] = np.inf  # z of layer 2 overflows, tanh would hide it
    with pytest.raises(NonFiniteError) as ei:
        st.step_phase()
    assert (ei.value.phase, ei.value.where, ei.value.layer) == ("forward", "L2.z", 2)


def test_fast_path_names_the_first_phase_and_layer_too() -> None:
    for captured in (True, False):
        st = Stepper(RunConfig(dataset="xor", hidden=(3, 3), activation="relu", batch_size=4))
        st.train(2)
        st.net.params["L2.b"][1] = np.nan
        with pytest.raises(NonFiniteError) as ei:
            if captured:
                st.step_iteration()
            else:
                st.train(5)
        assert (ei.value.phase, ei.value.where) == ("forward", "L2.z")
        if not captured:
            assert ei.value.stats is not None and len(ei.value.stats) == 0


def test_fast_path_exploding_run_halts_in_the_same_place_as_the_captured_run() -> None:
    fast, slow = Stepper(exploding()), Stepper(exploding())
    e_slow = run_until_halt(slow)
    with pytest.raises(NonFiniteError) as ei:
        fast.train(100)
    e_fast = ei.value
    assert (e_fast.phase, e_fast.where, e_fast.iteration) == (
        e_slow.phase, e_slow.where, e_slow.iteration)
    assert e_fast.stats is not None and len(e_fast.stats) == e_fast.iteration
    assert np.isfinite(e_fast.stats.loss).all()


def test_saturated_outputs_do_not_halt_a_healthy_run() -> None:
    """A confident sigmoid output (σ(z) rounds to 1) is not an error."""
    st = Stepper(RunConfig(dataset="gauss", hidden=(4,), init="constant", init_scale=30.0,
                           batch_size=20, lr=0.0))
    _, loss, _, _ = st.step_iteration()
    assert np.isfinite(loss.values["L2.da"]).all()
    assert np.isfinite(loss.values["loss.data"])


# ---- snapshots ------------------------------------------------------------------


def test_restore_replays_bit_for_bit_and_keeps_old_records_intact() -> None:
    st = Stepper(RICH)
    st.train(7)
    snap = st.snapshot()
    first = [r for _ in range(5) for r in st.step_iteration()]
    kept = flat(first)
    st.restore(snap)
    again = [r for _ in range(5) for r in st.step_iteration()]
    assert flat(again) == kept
    assert flat(first) == kept  # records handed out earlier did not change
    with pytest.raises(ValueError):
        st.step_phase()
        st.snapshot()


# ---- the Python API --------------------------------------------------------------


def test_python_api_spec_seed_params_batch_and_fast_training() -> None:
    spec = NetSpec(2, (LayerSpec(3, "tanh"), LayerSpec(1, "sigmoid")), loss="bce")
    x = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    t = np.array([[0.0], [1.0], [1.0], [0.0]])
    data = Dataset.from_arrays(x, t)
    assert data.task == "binary"
    st = Stepper(RunConfig(lr=0.5, seed=4, batch_size=0), spec=spec, data=data)
    again = Stepper(RunConfig(lr=0.5, seed=4, batch_size=0), spec=spec, data=data)
    assert st.net.params["L1.W"].tobytes() == again.net.params["L1.W"].tobytes()
    W = np.array([[0.1, -0.2, 0.3], [0.4, 0.5, -0.6]])
    st.net.params["L1.W"][...] = W
    recs = st.step_batch(x[:2], t[:2])
    assert [r.phase for r in recs] == list(PHASES)
    np.testing.assert_allclose(recs[0].values["L1.z"], x[:2] @ W)
    assert "batch" not in recs[0].values
    assert st.iteration == 1
    stats = st.train(300)
    assert len(stats) == 300 and stats.loss[-1] < stats.loss[0]
    assert st.evaluate(x, t)[1] == 1.0
    with pytest.raises(ValueError, match="x must have shape"):
        st.step_batch(np.zeros((2, 3)), t[:2])


def test_a_spec_that_does_not_fit_the_data_is_refused() -> None:
    spec = NetSpec(3, (LayerSpec(1, "linear"),))
    with pytest.raises(ValueError, match="takes 3 inputs"):
        Stepper(RunConfig(dataset="xor"), spec=spec)


def test_set_hyper_refuses_shape_changes() -> None:
    st = Stepper(RunConfig())
    with pytest.raises(ValueError, match="reset instead"):
        st.set_hyper(hidden=(3,))
    st.set_hyper(lr=0.5, batch_size=3)
    assert st.batch_size == 3 and st.lr_at(0) == 0.5
    assert len(st.step_iteration()[0].values["batch"]) == 3


def test_loss_record_shows_dL_dy_exactly_even_when_saturated() -> None:
    st = Stepper(RunConfig(dataset="xor", hidden=(3,), batch_size=8, seed=4))
    st.net.params["L2.W"] *= 40.0  # some outputs round to 0 or 1
    fwd, loss, _, _ = (r.values for r in st.step_iteration())
    z, t = fwd["L2.z"], fwd["t"]
    B = len(t)
    # −t/y + (1 − t)/(1 − y) with 1/y = 1 + e^(−z) and 1/(1 − y) = 1 + e^z
    want = (-t * (1 + np.exp(-z)) + (1 - t) * (1 + np.exp(z))) / B
    np.testing.assert_allclose(loss["L2.da"], want, rtol=1e-12)
    st = Stepper(RunConfig(dataset="blobs4", hidden=(3,), batch_size=8, seed=4))
    fwd, loss, _, _ = (r.values for r in st.step_iteration())
    y, t = loss["y"], fwd["t"]
    np.testing.assert_allclose(loss["L2.da"], np.where(t == 1, -1 / y, 0.0) / 8, rtol=1e-12)


@pytest.mark.parametrize("cfg", [
    RunConfig(dataset="xor", hidden=(8, 8), batch_size=32, lr=0.1, seed=3),
    RunConfig(dataset="circle", hidden=(5,), activation="relu", optimizer="adam", l1=0.001,
              l2=0.01, batch_size=7, clip_value=0.5, seed=4),
    RunConfig(dataset="blobs4", hidden=(6, 4), activation="gelu", optimizer="sgd",
              optimizer_params=(("momentum", 0.9),), batch_size=10, seed=5),
    RunConfig(dataset="sine", hidden=(6,), activation="sigmoid", output_activation="tanh",
              loss="mse", batch_size=0, seed=6, schedule=Schedule("exponential", gamma=0.99)),
], ids=["sgd-bce", "adam-reg-clip", "momentum-ce", "mse-fullbatch"])
def test_lean_fast_loop_gives_the_captured_bits(cfg: RunConfig) -> None:
    """Networks without norm, dropout or residual train on a separate lean loop."""
    a, b = Stepper(cfg), Stepper(cfg)
    losses, gnorms = [], []
    for _ in range(25):
        _, loss, back, _ = a.step_iteration()
        losses.append(loss.values["loss.data"])
        gnorms.append([back.values[f"L{l}.gnorm"] for l in range(1, a.net.depth + 1)])
    stats = b.train(25)
    for k in a.net.params:
        assert a.net.params[k].tobytes() == b.net.params[k].tobytes(), k
    assert stats.loss.tolist() == losses
    assert stats.gnorm.tolist() == gnorms
    assert (a.epoch, a.iteration, a.optimizer.t) == (b.epoch, b.iteration, b.optimizer.t)
    # and the run goes on identically afterwards
    assert flat(a.step_iteration()) == flat(b.step_iteration())


def test_fast_path_names_a_hidden_infinity_where_it_started() -> None:
    """An infinite z behind tanh shows up as NaN one phase later; both paths
    still name the forward z where it began."""
    for captured in (True, False):
        st = Stepper(RunConfig(dataset="xor", hidden=(3, 3), activation="tanh",
                               batch_size=4, seed=2))
        st.train(3)
        st.net.params["L2.W"][0, 0] = np.inf
        with pytest.raises(NonFiniteError) as ei:
            if captured:
                st.step_iteration()
            else:
                st.train(4)
        assert (ei.value.phase, ei.value.where) == ("forward", "L2.z"), captured


def diverging_xor() -> Stepper:
    return Stepper(RunConfig(dataset="xor", lr=1e3, loss="mse", hidden=(8, 8),
                             activation="relu", batch_size=10, seed=1))


def test_a_diverging_run_halts_quietly_naming_the_loss() -> None:
    # lr 1e3 with mse: the outputs grow to ~1e160, finite, and their squared
    # error overflows — the first non-finite value is the loss, and NumPy's
    # overflow warning must not reach stderr (a RuntimeWarning fails here)
    st = diverging_xor()
    fwd = None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(NonFiniteError) as ei:
            for _ in range(800):
                rec = st.step_phase()
                if rec.phase == "forward":
                    fwd = rec
    err = ei.value
    assert (err.phase, err.where, err.layer) == ("loss", "loss.data", None)
    assert fwd is not None and fwd.iteration == err.iteration == st.iteration > 0
    assert all(np.isfinite(v).all() for k, v in fwd.values.items() if k != "batch")
    y = fwd.values[f"L{st.net.depth}.a"]
    with np.errstate(over="ignore"):
        assert not np.isfinite((y - fwd.values["t"]) ** 2).all()   # where it overflows
    with pytest.raises(NonFiniteError):   # halted until the rate changes
        st.step_phase()
    fast = diverging_xor()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(NonFiniteError) as ei2:
            fast.train(200)
        assert (ei2.value.phase, ei2.value.where, ei2.value.iteration) == (
            "loss", "loss.data", err.iteration)
        fast.set_hyper(lr=0.0)
        fast.restore(diverging_xor().snapshot())
        fast.step_iteration()   # usable again


@pytest.mark.parametrize("act,default", [("elu", 1.0), ("leaky_relu", 0.01)])
def test_alpha_left_unset_is_each_activations_pytorch_default(act: str, default: float) -> None:
    from server.protocol import RunSettings
    from server.run.runconfig import run_config

    z = np.array([[-1.0, 2.0]])
    want = {"elu": math.expm1(-1.0), "leaky_relu": -0.01}[act]   # torch.nn.ELU() / LeakyReLU()
    for cfg in (RunConfig(activation=act), run_config(RunSettings(activation=act))):
        st = Stepper(cfg)
        assert [ls.alpha for ls in st.net.spec.layers[:-1]] == [default, default]
        p = st.net.plans[0]
        assert p.f(z, p.alpha).tolist() == [[want, 2.0]]
    # set explicitly, one α serves both (as before)
    st = Stepper(run_config(RunSettings(activation=act, alpha=0.3)))
    assert {ls.alpha for ls in st.net.spec.layers} == {0.3}
    assert LayerSpec(3, act).alpha == default


def test_a_stepper_is_freed_without_the_cyclic_collector() -> None:
    """A run's memory goes when its last reference does: nothing in a stepper points
    back at it (the server frees sessions by the hundred)."""
    import gc
    import weakref

    st = Stepper(RunConfig(hidden=(8, 8)))
    st.step_iteration()
    st.train(3)
    ref = weakref.ref(st)
    gc.disable()
    try:
        del st
        assert ref() is None
    finally:
        gc.enable()
