"""What the run history relies on: snapshots restore bit for bit on any stepper of the
same config, the fast path gives the same bits however it is chunked, and settings
changed mid-run (including the optimizer) are part of the snapshot."""

from __future__ import annotations

import numpy as np
import pytest

from engine.schedules import Schedule
from engine.stepper import RunConfig, Stepper

CONFIGS = {
    "plain": RunConfig(hidden=(5, 3), batch_size=10, seed=4),
    "dropout-batchnorm-adam": RunConfig(
        dataset="circle", hidden=(6, 6), dropout=0.3, norm="batch", optimizer="adam",
        optimizer_params=(("beta1", 0.8),), batch_size=16, seed=9),
    "momentum-reg-clip-schedule": RunConfig(
        dataset="spiral3", hidden=(8,), activation="relu", optimizer="sgd",
        optimizer_params=(("momentum", 0.9), ("nesterov", True)), l1=1e-3, l2=1e-2,
        clip_norm=0.5, schedule=Schedule("cosine", t_max=50, warmup=5), batch_size=7,
        seed=2),
}


def state_bits(st: Stepper) -> list[bytes]:
    """Everything that shapes the future, as bytes."""
    out = [w.tobytes() for w in st.net.params.values()]
    out += [b.tobytes() for b in st.net.buffers.values()]
    for s in st.optimizer.state.values():
        out += [a.tobytes() for a in s.values()]
    out.append(np.asarray([st.iteration, st.epoch, st.optimizer.t]).tobytes())
    return out


@pytest.mark.parametrize("name", list(CONFIGS))
def test_fast_path_chunking_does_not_change_a_bit(name: str) -> None:
    cfg = CONFIGS[name]
    whole = Stepper(cfg)
    whole.train(97)
    chunked = Stepper(cfg)
    for n in (1, 0, 13, 64, 2, 17):
        chunked.train(n)
    assert state_bits(chunked) == state_bits(whole)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_a_snapshot_restores_exactly_on_a_fresh_stepper_of_the_same_config(name: str) -> None:
    cfg = CONFIGS[name]
    a = Stepper(cfg)
    a.train(40)
    snap = a.snapshot()
    a.train(25)
    want = [r.values for r in a.step_iteration()]

    b = Stepper(cfg)  # a different object, as a loaded run's indexer uses
    b.restore(snap)
    b.train(25)
    got = [r.values for r in b.step_iteration()]
    assert [sorted(v) for v in got] == [sorted(v) for v in want]
    for g, w in zip(got, want, strict=True):
        for k in w:
            assert np.asarray(g[k]).tobytes() == np.asarray(w[k]).tobytes(), k


def test_settings_changed_mid_run_travel_with_the_snapshot() -> None:
    st = Stepper(CONFIGS["plain"])
    st.train(10)
    st.set_hyper(lr=0.2, batch_size=4)
    snap = st.snapshot()
    st.set_hyper(lr=0.01)
    st.restore(snap)
    assert st.config.lr == 0.2 and st.batch_size == 4
    assert st.step_iteration()[-1].values["lr"] == 0.2


def test_switching_optimizer_starts_fresh_state_and_keeping_it_keeps_state() -> None:
    st = Stepper(CONFIGS["momentum-reg-clip-schedule"])
    st.train(5)
    buf = st.optimizer.state["L1.W"]["momentum_buffer"].copy()
    st.set_hyper(optimizer_params=(("momentum", 0.5),))
    assert st.optimizer.name == "sgd" and st.optimizer.t == 5
    np.testing.assert_array_equal(st.optimizer.state["L1.W"]["momentum_buffer"], buf)
    st.set_hyper(optimizer="adam", optimizer_params=())
    assert st.optimizer.name == "adam" and st.optimizer.t == 0 and not st.optimizer.state
    st.train(3)
    assert "exp_avg" in st.optimizer.state["L1.W"] and st.optimizer.t == 3


def test_a_refused_change_leaves_the_run_as_it_was() -> None:
    st = Stepper(CONFIGS["plain"])
    before = st.config
    with pytest.raises(ValueError):
        st.set_hyper(optimizer="sgd", optimizer_params=(("beta1", 0.9),))  # not an SGD knob
    with pytest.raises(ValueError):
        st.set_hyper(lr=-1.0)
    assert st.config == before and st.optimizer.name == "sgd"
