"""What the activation view and the computational graph draw come from the engine:
f and f′ on a grid (``activations.curve``), the flat ends of each curve
(``activations.flat_ends``, the same fraction as the saturation metric), and the
local derivative f′(z̃) each layer's backward pass multiplied by (``Ll.dfz`` in the
backward record)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine import activations, catalog, metrics
from engine.stepper import RunConfig, Stepper

NAMES = catalog.names("activations")


@pytest.mark.parametrize("name", NAMES)
def test_the_curve_is_the_engines_own_f_and_f_prime(name: str) -> None:
    c = activations.curve(name, None, -7.0, 5.0, 121)
    act = activations.get(name)
    z = np.asarray(c["z"])
    assert z[0] == -7.0 and z[-1] == 5.0 and np.all(np.diff(z) > 0)
    assert 0.0 in c["z"]  # a kink (ReLU's) is a point of the curve
    a = act.f(z, c["alpha"])
    assert np.array_equal(np.asarray(c["f"]), a)
    assert np.array_equal(np.asarray(c["df"]), act.df(z, a, c["alpha"]))
    for r in c["regions"]:  # each flat end's edge is drawn as a point, when inside
        edge = r["hi"] if r["lo"] is None else r["lo"]
        assert not -7.0 < edge < 5.0 or edge in c["z"]
    assert c["alpha"] == activations.resolve_alpha(name, None)
    assert c["flat_fraction"] == metrics.SATURATION


def test_flat_ends_are_where_the_saturation_metric_says_and_relu_is_dead_below_zero() -> None:
    ends = {n: activations.flat_ends(n) for n in NAMES}
    # tanh: 1 − a² < 0.01 past |z| = atanh(√0.99); sigmoid: a(1 − a) < 0.0025 past ≈ 5.99
    edge = math.atanh(math.sqrt(0.99))
    assert [r["kind"] for r in ends["tanh"]] == ["saturated", "saturated"]
    assert ends["tanh"][0]["hi"] == pytest.approx(-edge, abs=1e-12)
    assert ends["tanh"][1]["lo"] == pytest.approx(edge, abs=1e-12)
    s = ends["sigmoid"][1]["lo"]
    a = 1 / (1 + math.exp(-s))
    assert a * (1 - a) == pytest.approx(metrics.SATURATION * 0.25, rel=1e-9)
    assert ends["relu"] == [{"kind": "dead", "lo": None, "hi": 0.0}]
    # a slope everywhere: no flat end
    assert ends["leaky_relu"] == [] and ends["linear"] == []
    # flat on the far left only, small but not zero
    for n in ("elu", "gelu", "swish", "softplus"):
        assert [(r["kind"], r["lo"]) for r in ends[n]] == [("saturated", None)], n
        assert -8 < ends[n][0]["hi"] < -2
    # α matters: a Leaky ReLU slope below 1 % of the largest is flat
    assert activations.flat_ends("leaky_relu", 0.005) == [
        {"kind": "saturated", "lo": None, "hi": 0.0}]


@pytest.mark.parametrize(("name", "region"), [("tanh", 1), ("sigmoid", 0), ("relu", 0)])
def test_the_saturation_metric_and_the_flat_ends_agree_sample_by_sample(
        name: str, region: int) -> None:
    z = np.linspace(-12, 12, 2001)[:, None]
    a = activations.get(name).f(z, 0.0)
    ends = activations.flat_ends(name)
    inside = np.zeros(z.shape, dtype=bool)
    for r in ends:
        inside |= (z <= r["hi"]) if r["lo"] is None else (z >= r["lo"])
    if name == "relu":  # the metric counts dead *units*; per value, dead is a = 0
        assert np.array_equal(inside, a <= 0)
    else:
        assert metrics._saturated(name, a) == pytest.approx(float(inside.mean()))


def test_the_backward_record_carries_f_prime_of_every_layer_that_multiplied_by_it() -> None:
    # tanh hidden layers, sigmoid output under mse: f′ everywhere
    st = Stepper(RunConfig(dataset="xor", hidden=(3, 2), activation="tanh", loss="mse",
                           output_activation="sigmoid", batch_size=4, seed=3))
    fwd, _loss, back, _upd = (r.values for r in st.step_iteration())
    for l, act in ((1, "tanh"), (2, "tanh"), (3, "sigmoid")):
        z, a = fwd[f"L{l}.z"], fwd[f"L{l}.a"]
        want = activations.get(act).df(z, a, 0.0)
        assert np.array_equal(back[f"L{l}.dfz"], want)
    # and backward's δ = ∂L/∂a ⊙ f′(z) with those very numbers
    assert np.array_equal(back["L1.delta"], back["L1.da"] * back["L1.dfz"])
    # a sigmoid + bce output takes δ = (y − t)/B straight from the logits: no f′ there
    st = Stepper(RunConfig(dataset="xor", hidden=(2,), batch_size=4, seed=3))
    back = st.step_iteration()[2].values
    assert "L1.dfz" in back and "L2.dfz" not in back
