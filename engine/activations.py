"""Activation functions, each with its local derivative beside it.

Every activation maps a pre-activation ``z`` (any shape) to ``a = f(z)`` and
provides ``f'(z)``, given both ``z`` and the already computed ``a`` so the
derivative never recomputes what forward cached (σ' = a(1 − a), tanh' = 1 − a²).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Array = np.ndarray

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def sigmoid(z: Array) -> Array:
    """σ(z) = 1 / (1 + e^(−z)), computed without overflow for large |z|."""
    # σ(z) = exp(−log(1 + e^(−z))): no overflow, and accurate in both tails.
    return np.exp(-np.logaddexp(0.0, -z))


def softplus(z: Array) -> Array:
    """softplus(z) = log(1 + e^z) = max(z, 0) + log1p(e^(−|z|)), stable."""
    return np.logaddexp(0.0, z)


@dataclass(frozen=True)
class Activation:
    """A named element-wise function ``f`` with its derivative.

    ``f(z, alpha) -> a`` and ``df(z, a, alpha) -> f'(z)``; ``alpha`` is the
    Leaky ReLU slope or the ELU scale and is ignored by the others.
    """

    name: str
    f: Callable[[Array, float], Array]
    df: Callable[[Array, Array, float], Array]
    formula: str


def _gelu(z: Array, _: float) -> Array:
    # PyTorch's GELU(approximate="tanh"): 0.5 z (1 + tanh(√(2/π)(z + 0.044715 z³)))
    return 0.5 * z * (1.0 + np.tanh(_SQRT_2_OVER_PI * (z + 0.044715 * z**3)))


def _dgelu(z: Array, _a: Array, _: float) -> Array:
    u = _SQRT_2_OVER_PI * (z + 0.044715 * z**3)
    th = np.tanh(u)
    du = _SQRT_2_OVER_PI * (1.0 + 3 * 0.044715 * z**2)
    return 0.5 * (1.0 + th) + 0.5 * z * (1.0 - th**2) * du


def _swish(z: Array, _: float) -> Array:
    return z * sigmoid(z)


def _dswish(z: Array, a: Array, _: float) -> Array:
    s = sigmoid(z)
    return s + z * s * (1.0 - s)


def _elu(z: Array, alpha: float) -> Array:
    return np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0.0)))


def _delu(z: Array, a: Array, alpha: float) -> Array:
    return np.where(z > 0, 1.0, a + alpha)


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("sigmoid", lambda z, _: sigmoid(z), lambda z, a, _: a * (1.0 - a),
                   "σ(z) = 1/(1+e^(−z))"),
        Activation("tanh", lambda z, _: np.tanh(z), lambda z, a, _: 1.0 - a * a,
                   "tanh(z)"),
        Activation("relu", lambda z, _: np.maximum(z, 0.0),
                   lambda z, a, _: (z > 0).astype(np.float64), "max(0, z)"),
        Activation("leaky_relu", lambda z, al: np.where(z > 0, z, al * z),
                   lambda z, a, al: np.where(z > 0, 1.0, al), "max(αz, z)"),
        Activation("elu", _elu, _delu, "z if z>0 else α(e^z − 1)"),
        Activation("gelu", _gelu, _dgelu, "½z(1 + tanh(√(2/π)(z + 0.044715z³)))"),
        Activation("swish", _swish, _dswish, "z·σ(z)"),
        Activation("softplus", lambda z, _: softplus(z), lambda z, a, _: sigmoid(z),
                   "log(1 + e^z)"),
        Activation("linear", lambda z, _: z, lambda z, a, _: np.ones_like(z), "z"),
    )
}
ACTIVATIONS["silu"] = ACTIVATIONS["swish"]


def get(name: str) -> Activation:
    """Look an activation up by name; raises ``ValueError`` naming the choices."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(
            f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}"
        ) from None
