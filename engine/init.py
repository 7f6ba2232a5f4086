"""Weight initializers, following ``torch.nn.init`` definitions.

Every initializer fills ``W`` of shape ``(fan_in, fan_out)`` from a
``numpy.random.Generator``. Biases start at zero (PyTorch's ``nn.Linear``
draws them from U(±1/√fan_in); we start at zero on purpose so the first
forward pass is easy to follow by hand — ``docs/engine.md`` says so).

* ``zeros`` / ``constant``: every weight equal — symmetry never breaks.
* ``uniform``: U(−s, s); ``normal``: N(0, s²) with ``s = scale``.
* ``xavier_uniform``: U(±√(6/(fan_in+fan_out))); ``xavier_normal``: N(0, 2/(fan_in+fan_out)).
* ``he_uniform``: U(±√(6/fan_in)); ``he_normal``: N(0, 2/fan_in)  (kaiming, ReLU gain).
* ``lecun_uniform``: U(±√(3/fan_in)); ``lecun_normal``: N(0, 1/fan_in).
"""

from __future__ import annotations

import math

import numpy as np

from engine import catalog

INITIALIZERS = catalog.names("initializers")


def init_weights(
    name: str, fan_in: int, fan_out: int, rng: np.random.Generator, scale: float = 0.5
) -> np.ndarray:
    """A fresh ``(fan_in, fan_out)`` float64 weight matrix drawn by ``name``.

    ``scale`` is the constant for ``constant`` and the spread ``s`` for
    ``uniform``/``normal``; the named schemes ignore it.
    """
    shape = (fan_in, fan_out)
    if name == "zeros":
        return np.zeros(shape)
    if name == "constant":
        return np.full(shape, float(scale))
    if name == "uniform":
        return rng.uniform(-scale, scale, shape)
    if name == "normal":
        return rng.normal(0.0, scale, shape)
    bounds = {
        "xavier_uniform": math.sqrt(6.0 / (fan_in + fan_out)),
        "he_uniform": math.sqrt(6.0 / fan_in),
        "lecun_uniform": math.sqrt(3.0 / fan_in),
    }
    if name in bounds:
        b = bounds[name]
        return rng.uniform(-b, b, shape)
    stds = {
        "xavier_normal": math.sqrt(2.0 / (fan_in + fan_out)),
        "he_normal": math.sqrt(2.0 / fan_in),
        "lecun_normal": math.sqrt(1.0 / fan_in),
    }
    if name in stds:
        return rng.normal(0.0, stds[name], shape)
    raise ValueError(f"unknown initializer {name!r}; choose one of {list(INITIALIZERS)}")
