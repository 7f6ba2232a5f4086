"""Initializers follow the torch.nn.init definitions; zeros never break symmetry."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.init import INITIALIZERS, init_weights
from engine.stepper import RunConfig, Stepper

FAN_IN, FAN_OUT = 300, 200


@pytest.mark.parametrize("name,bound", [
    ("xavier_uniform", math.sqrt(6 / (FAN_IN + FAN_OUT))),
    ("he_uniform", math.sqrt(6 / FAN_IN)),
    ("lecun_uniform", math.sqrt(3 / FAN_IN)),
    ("uniform", 0.5),
])
def test_uniform_schemes_fill_their_interval(name: str, bound: float) -> None:
    W = init_weights(name, FAN_IN, FAN_OUT, np.random.default_rng(0))
    assert W.shape == (FAN_IN, FAN_OUT)
    assert np.abs(W).max() <= bound
    assert np.abs(W).max() > 0.99 * bound
    assert W.std() == pytest.approx(bound / math.sqrt(3), rel=0.02)


@pytest.mark.parametrize("name,std", [
    ("xavier_normal", math.sqrt(2 / (FAN_IN + FAN_OUT))),
    ("he_normal", math.sqrt(2 / FAN_IN)),
    ("lecun_normal", math.sqrt(1 / FAN_IN)),
    ("normal", 0.5),
])
def test_normal_schemes_have_their_spread(name: str, std: float) -> None:
    W = init_weights(name, FAN_IN, FAN_OUT, np.random.default_rng(0))
    assert W.std() == pytest.approx(std, rel=0.02)
    assert abs(W.mean()) < 0.01 * std * 10


def test_constant_zeros_and_unknown() -> None:
    rng = np.random.default_rng(0)
    assert (init_weights("constant", 3, 2, rng, scale=0.7) == 0.7).all()
    assert (init_weights("zeros", 3, 2, rng) == 0.0).all()
    assert len(INITIALIZERS) == 10
    with pytest.raises(ValueError, match="unknown initializer"):
        init_weights("orthogonal", 3, 2, rng)


@pytest.mark.parametrize("init", ["zeros", "constant"])
def test_equal_starting_weights_never_break_symmetry(init: str) -> None:
    st = Stepper(RunConfig(dataset="circle", hidden=(4, 3), init=init, init_scale=0.3, lr=0.3,
                           batch_size=10, seed=1))
    st.train(200)
    W1, W2 = st.net.params["L1.W"], st.net.params["L2.W"]
    # every hidden unit stays a copy of the others
    assert np.allclose(W1, W1[:, :1]) and np.allclose(W2, W2[:1, :])
    assert np.allclose(W2, W2[:, :1])
    # while a random start does break it
    st = Stepper(RunConfig(dataset="circle", hidden=(4, 3), lr=0.3, batch_size=10, seed=1))
    st.train(200)
    assert not np.allclose(st.net.params["L1.W"], st.net.params["L1.W"][:, :1])
