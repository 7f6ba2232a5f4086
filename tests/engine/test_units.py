"""The marks the network view draws (engine/units.py) and the cost of every gradient
(engine/gradcost.py): each equals what its definition says, computed here by hand
from the record's own arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine import catalog
from engine.gradcost import gradient_cost
from engine.model import LayerSpec, NetSpec
from engine.stepper import RunConfig, Stepper


def test_batch_norm_statistics_are_the_batch_mean_and_std_of_z() -> None:
    st = Stepper(RunConfig(dataset="xor", hidden=(4, 3), norm="batch", batch_size=8, seed=3))
    fwd = st.step_phase().values
    for l in (1, 2):
        z = fwd[f"L{l}.z"]
        np.testing.assert_allclose(fwd[f"L{l}.mu"], z.mean(axis=0), rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(fwd[f"L{l}.sigma"], np.sqrt(z.var(axis=0) + 1e-5),
                                   rtol=1e-14)
    assert "L3.mu" not in fwd  # the output layer takes no norm


def test_dropped_is_the_share_of_the_batch_the_mask_switched_off() -> None:
    st = Stepper(RunConfig(dataset="xor", hidden=(6,), dropout=0.5, batch_size=10, seed=4))
    fwd = st.step_phase().values
    mask = fwd["L1.mask"]
    assert set(np.unique(mask)) <= {0.0, 2.0}
    np.testing.assert_array_equal(fwd["L1.dropped"], (mask == 0).sum(axis=0) / 10)
    assert 0 < fwd["L1.dropped"].mean() < 1


def test_dead_relu_units_are_zero_for_every_sample_of_the_batch() -> None:
    st = Stepper(RunConfig(dataset="xor", hidden=(4,), activation="relu", batch_size=0, seed=1))
    st.net.params["L1.b"][...] = [-1e3, 0.0, -1e3, 0.0]
    fwd = st.step_phase().values
    a = fwd["L1.a"]
    assert fwd["L1.dead"].tolist() == [1.0, float((a[:, 1] <= 0).all()), 1.0,
                                       float((a[:, 3] <= 0).all())]
    assert fwd["L1.dead"][0] == 1.0 and "L1.saturated" not in fwd
    assert "L2.dead" not in fwd and "L2.saturated" not in fwd  # sigmoid + bce: no f′ used


def test_saturated_units_sit_in_a_flat_end_for_every_sample() -> None:
    st = Stepper(RunConfig(dataset="xor", hidden=(3,), activation="tanh", batch_size=0, seed=1))
    st.net.params["L1.b"][...] = [50.0, -50.0, 0.0]
    fwd = st.step_phase().values
    a = fwd["L1.a"]
    want = (1 - a ** 2 < 0.01).all(axis=0).astype(float)  # tanh′ < 1% of its maximum 1
    np.testing.assert_array_equal(fwd["L1.saturated"], want)
    assert fwd["L1.saturated"][:2].tolist() == [1.0, 1.0]


def test_mse_output_with_sigmoid_is_marked_since_backward_multiplies_by_its_slope() -> None:
    st = Stepper(RunConfig(dataset="xor", hidden=(3,), activation="sigmoid", loss="mse",
                           output_activation="sigmoid", seed=1))
    fwd = st.step_phase().values
    assert "L1.saturated" in fwd and "L2.saturated" in fwd


@pytest.mark.parametrize("name", catalog.names("optimizers"))
def test_state_norms_use_the_catalog_names_over_each_layers_parameters(name: str) -> None:
    params = {"sgd": (("momentum", 0.9),), "rmsprop": (("centered", True), ("momentum", 0.5))}
    st = Stepper(RunConfig(dataset="xor", hidden=(3,), norm="batch", optimizer=name,
                           optimizer_params=params.get(name, ()), seed=2))
    upd = st.step_iteration()[3].values
    names = [s.name for s in catalog.optimizer(name).state]
    for l, pnames in ((1, ("W", "b", "gamma", "beta")), (2, ("W", "b"))):
        for s in names:
            want = math.sqrt(sum(float(np.sum(upd[f"L{l}.{p}.{s}"] ** 2)) for p in pnames))
            assert upd[f"L{l}.{s}_norm"] == pytest.approx(want, rel=1e-12)


def test_gradient_cost_of_a_2_3_1_network_by_hand() -> None:
    spec = NetSpec(2, (LayerSpec(3, "tanh"), LayerSpec(1, "sigmoid")), loss="bce")
    c = gradient_cost(spec, 4)
    # forward: 4·2·3 + 4·3·1 = 36 MACs; P = 2·3 + 3 + 3·1 + 1 = 13
    assert c["forward"] == [24, 12] and c["forward_total"] == 36
    assert c["backward"] == [48, 24] and c["backward_total"] == 72
    assert c["params"] == 13 and c["numeric_passes"] == 26
    assert c["numeric_total"] == 2 * 13 * 36 and c["ratio"] == 13.0


def test_gradient_cost_counts_a_norms_gamma_and_beta() -> None:
    spec = NetSpec(2, (LayerSpec(4, "relu", norm="batch"), LayerSpec(1, "linear")))
    c = gradient_cost(spec, 10)
    assert c["params"] == 2 * 4 + 4 + 8 + 4 * 1 + 1
    assert c["forward_total"] == 10 * (2 * 4 + 4 * 1)
