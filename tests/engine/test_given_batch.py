"""A batch given for the next iteration (``Stepper.give_batch``, a learner's drawing):
it is one iteration's, phase by phase or fast alike, part of a snapshot until it has
run, and the run's own batches go on as if it had not been there."""

from __future__ import annotations

import numpy as np
import pytest

from engine.stepper import RunConfig, Stepper

CFG = RunConfig(dataset="digits", hidden=(6,), batch_size=8, lr=0.1, seed=3)


def bits(st: Stepper) -> list[bytes]:
    return [w.tobytes() for w in st.net.params.values()]


def sample(st: Stepper) -> tuple[np.ndarray, np.ndarray]:
    d = st.data
    return d.inputs_from_raw(np.full((1, 64), 8.0)), d.targets_of([3])


def test_a_given_batch_runs_once_the_same_fast_or_phase_by_phase() -> None:
    fast, phased = Stepper(CFG), Stepper(CFG)
    for st in (fast, phased):
        st.train(4)
        st.give_batch(*sample(st))
    fast.train(3)
    recs = [phased.step_phase() for _ in range(4)]
    assert "batch" not in recs[0].values and recs[0].values["x"].shape == (1, 64)
    assert phased.given is None  # one iteration's
    phased.train(2)
    assert bits(fast) == bits(phased) and fast.iteration == phased.iteration == 7
    plain = Stepper(CFG)
    plain.train(6)
    # the run's own batches are untouched: its seventh is the one it would have drawn
    assert np.array_equal(plain.step_iteration()[0].values["batch"],
                          phased.step_iteration()[0].values["batch"])
    assert fast.train(0).loss.shape == (0,) and fast.iteration == 7


def test_a_snapshot_holds_a_batch_given_and_not_yet_run() -> None:
    st = Stepper(CFG)
    st.train(2)
    st.give_batch(*sample(st))
    snap = st.snapshot()
    first = st.step_iteration()
    other = Stepper(CFG)
    other.restore(snap)
    again = other.step_iteration()
    assert np.array_equal(first[0].values["x"], again[0].values["x"])
    assert bits(st) == bits(other)


def test_a_given_batch_must_fit_and_be_finite() -> None:
    st = Stepper(CFG)
    x, t = sample(st)
    with pytest.raises(ValueError, match="finite"):
        st.give_batch(np.where(np.arange(64) == 5, np.nan, x), t)
    with pytest.raises(ValueError, match="x must have shape"):
        st.give_batch(x[:, :63], t)
    with pytest.raises(ValueError, match="a class of this data is 0 … 9"):
        st.data.targets_of([10])
    st.step_phase()
    with pytest.raises(ValueError, match="finish the iteration"):
        st.give_batch(x, t)
    assert st.given is None
