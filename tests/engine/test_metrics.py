"""Training-health metrics: each number means what its definition says."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from engine import metrics
from engine.stepper import RunConfig, Stepper


def test_losses_accuracies_norms_and_ratios() -> None:
    st = Stepper(RunConfig(dataset="circle", hidden=(5,), batch_size=10, seed=2))
    m0 = metrics.collect(st)
    assert m0["gnorm"] is None and m0["update_ratio"] is None
    recs = st.step_iteration()
    m = metrics.collect(st)
    json.dumps(m)
    d = st.data
    assert (m["train_loss"], m["train_acc"]) == st.evaluate(d.x_train, d.t_train)
    assert (m["test_loss"], m["test_acc"]) == st.evaluate(d.x_test, d.t_test)
    back, upd = recs[2].values, recs[3].values
    assert m["gnorm"] == [back["L1.gnorm"], back["L2.gnorm"]]
    assert m["wnorm"][0] == pytest.approx(float(np.linalg.norm(upd["L1.W"])))
    want = np.linalg.norm(upd["L1.W"] - upd["L1.W.prev"]) / np.linalg.norm(upd["L1.W.prev"])
    assert m["update_ratio"][0] == pytest.approx(float(want))
    assert m["lr"] == upd["lr"]


def test_dead_relu_fraction_counts_units_zero_for_every_sample() -> None:
    st = Stepper(RunConfig(dataset="xor", hidden=(4,), activation="relu", seed=1))
    st.net.params["L1.b"][...] = [-1e3, -1e3, 0.0, 0.0]  # two units can never fire
    st.net.params["L1.W"][:, 2:] = [[1.0, -1.0], [1.0, 1.0]]
    m = metrics.collect(st)
    assert m["dead"][0] == 0.5
    assert m["dead"][1] is None  # sigmoid output: not a ReLU
    assert m["saturated"][0] is None


def test_saturated_fraction_of_tanh_and_sigmoid() -> None:
    st = Stepper(RunConfig(dataset="xor", hidden=(2,), activation="tanh", seed=1))
    x = st.data.x_train
    st.net.params["L1.W"][...] = [[100.0, 0.0], [0.0, 0.0]]  # unit 0 saturates, unit 1 is 0
    st.net.params["L1.b"][...] = 0.0
    m = metrics.collect(st)
    frac0 = float((np.abs(np.tanh(100 * x[:, 0])) > math.sqrt(0.99)).mean())
    assert frac0 > 0.9
    assert m["saturated"][0] == pytest.approx(frac0 / 2)
    assert m["dead"][0] is None
    # the sigmoid output is saturated where |z| is large
    st.net.params["L2.W"][...] = [[50.0], [0.0]]
    assert metrics.collect(st)["saturated"][1] > 0.9


def test_saturation_threshold_is_one_percent_of_the_steepest_slope() -> None:
    from engine.metrics import _saturated

    # σ'(z) = σ(1 − σ) crosses 0.01 · ¼ at |z| ≈ 5.99; tanh' crosses 0.01 at |z| ≈ 2.99
    sig = 1 / (1 + np.exp(-np.array([[5.9, 6.1, -5.9, -6.1]])))
    assert _saturated("sigmoid", sig) == 0.5
    assert _saturated("tanh", np.tanh(np.array([[2.9, 3.1, -2.9, -3.1]]))) == 0.5
    assert _saturated("relu", sig) is None
