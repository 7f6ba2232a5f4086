"""Runs of one shape stepped together (engine/stacked.py) hand out exactly what each
run stepped alone would: the same records, caches and parameters, bit for bit, and
a run that changed after its iteration was computed ahead steps alone."""

from __future__ import annotations

import numpy as np
import pytest

from engine import stacked
from engine.schedules import Schedule
from engine.stepper import RunConfig, Stepper
from tests.engine.test_lean_capture import assert_same_last_iteration, assert_same_records

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

#: groups that step together (several seeds, rates and batch sizes that divide or not)
TOGETHER = {
    "default-xor-bce": [RunConfig(dataset="xor", hidden=(4, 4), batch_size=10, lr=0.03,
                                  seed=s) for s in range(5)],
    "rates-and-schedule": [
        RunConfig(dataset="circle", hidden=(5,), activation="relu", batch_size=7, lr=lr,
                  seed=3) for lr in (0.1, 0.5)]
        + [RunConfig(dataset="circle", hidden=(5,), activation="relu", batch_size=7, seed=4,
                     schedule=Schedule("exponential", gamma=0.9))],
    "mse-tanh-out-one-unit": [RunConfig(dataset="sine", hidden=(6,), activation="sigmoid",
                                        output_activation="tanh", loss="mse", batch_size=9,
                                        seed=s) for s in (6, 7)],
    "no-hidden-layer": [RunConfig(dataset="plane", hidden=(), loss="mse", batch_size=5,
                                  seed=s) for s in (1, 2)],
}


def step_together(runs: list[Stepper]) -> int:
    """One iteration of every run, its arithmetic done together; how many had it ahead."""
    n = stacked.ahead(runs)
    for st in runs:
        st.step_iteration()
    return n


@pytest.mark.parametrize("name", list(TOGETHER))
def test_runs_stepped_together_equal_each_run_stepped_alone(name: str) -> None:
    configs = TOGETHER[name]
    together = [Stepper(c) for c in configs]
    alone = [Stepper(c) for c in configs]
    used = 0
    for _ in range(40):  # (past epoch ends: those iterations step alone)
        used += stacked.ahead(together)
        for a, b in zip(together, alone, strict=True):
            assert_same_records(a.step_iteration(), b.step_iteration())
    assert used >= 30 * len(configs)  # most iterations really were computed together
    for a, b in zip(together, alone, strict=True):
        assert_same_last_iteration(a, b)
        assert a.optimizer.t == b.optimizer.t and a.iteration == b.iteration == 40
        for k in a.net.params:
            assert a.net.params[k].tobytes() == b.net.params[k].tobytes()
        # later fast training (the lean loop alone) goes on from the same state
        a.train(7)
        b.train(7)
        assert all(np.array_equal(a.net.params[k], b.net.params[k]) for k in a.net.params)


def test_a_run_changed_after_its_iteration_was_computed_ahead_steps_alone() -> None:
    cfg = TOGETHER["default-xor-bce"]
    together = [Stepper(c) for c in cfg]
    alone = [Stepper(c) for c in cfg]
    for st in together + alone:  # (a fresh run's first batch draws the first shuffle)
        st.step_iteration()
    assert stacked.ahead(together) == len(cfg)
    # between the computation and the step: a weight set by hand, a rate changed, an
    # iteration trained unseen, a phase stepped; and one run left as it was
    for st in (together[0], alone[0]):
        st.set_entry("L1.W", (0, 1), 0.5)
    for st in (together[1], alone[1]):
        st.set_hyper(lr=0.2)
    for st in (together[2], alone[2]):
        st.train(1)
    for st in (together[3], alone[3]):
        st.step_phase()
    for a, b in zip(together, alone, strict=True):
        assert_same_records(a.step_iteration(), b.step_iteration())
        assert all(np.array_equal(a.net.params[k], b.net.params[k]) for k in a.net.params)


def test_runs_that_do_not_fit_step_alone() -> None:
    runs = [Stepper(RunConfig(dataset="xor", hidden=(4,), batch_size=10, seed=1)),
            Stepper(RunConfig(dataset="xor", hidden=(5,), batch_size=10, seed=1)),  # shape
            Stepper(RunConfig(dataset="xor", hidden=(4,), batch_size=10, seed=1,
                              optimizer="adam")),  # optimizer state
            Stepper(RunConfig(dataset="xor", hidden=(4,), batch_size=10, seed=1,
                              l2=0.01)),  # penalty
            Stepper(RunConfig(dataset="blobs4", hidden=(4,), batch_size=10, seed=1))]  # softmax
    assert stacked.ahead(runs) == 0
    assert all(st._ahead is None for st in runs)
