"""Activation functions, each with its local derivative beside it.

Every activation maps a pre-activation ``z`` (any shape) to ``a = f(z)`` and
provides ``f'(z)``, given both ``z`` and the already computed ``a`` so the
derivative never recomputes what forward cached (σ' = a(1 − a), tanh' = 1 − a²).

Both always return fresh arrays (records may keep references to them). They
are written with few NumPy calls because the stepper calls them on small
arrays, where the per-call overhead, not the arithmetic, is the cost.

For the page's activation view, :func:`curve` samples f and f′ on a grid and
:func:`flat_ends` finds where the curve is flat (saturated or dead), so the
page draws the engine's functions and never re-implements them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine import catalog

Array = np.ndarray

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
#: e^709 is the largest power of e below the float64 limit; clamping −z there
#: keeps 1/(1 + e^(−z)) free of overflow (σ(z) for z < −709 is then ~1e−308
#: instead of something smaller still).
_EXP_MAX = 709.0

# Scalar operands as 0-d float64 arrays: NumPy converts a Python float on every
# call (≈ 0.2–0.4 µs on these small arrays, more than the arithmetic); a 0-d
# float64 array gives the same IEEE result without the conversion.
_ZERO = np.array(0.0)
_ONE = np.array(1.0)
_CAP = np.array(_EXP_MAX)
for _c in (_ZERO, _ONE, _CAP):
    _c.setflags(write=False)


def sigmoid(z: Array) -> Array:
    """σ(z) = 1 / (1 + e^(−z)), as PyTorch computes it, with e^(−z) clamped
    below overflow (so σ(z) keeps full relative accuracy in both tails)."""
    s = np.negative(z)
    np.minimum(s, _CAP, out=s)
    np.exp(s, out=s)
    s += _ONE
    np.reciprocal(s, out=s)
    return s


def softplus(z: Array) -> Array:
    """softplus(z) = log(1 + e^z) = max(z, 0) + log1p(e^(−|z|)), stable."""
    return np.logaddexp(_ZERO, z)


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
    #: α when none is given: PyTorch's defaults, LeakyReLU 0.01 and ELU 1.0
    default_alpha: float = 0.0


def _sigmoid(z: Array, _: float) -> Array:
    return sigmoid(z)


def _dsigmoid(_z: Array, a: Array, _: float) -> Array:
    d = _ONE - a
    d *= a
    return d


def _tanh(z: Array, _: float) -> Array:
    return np.tanh(z)


def _dtanh(_z: Array, a: Array, _: float) -> Array:
    d = a * a
    np.subtract(_ONE, d, out=d)
    return d


def _relu(z: Array, _: float) -> Array:
    return np.maximum(z, _ZERO)


def _drelu(z: Array, _a: Array, _: float) -> Array:
    # f'(0) = 0, as PyTorch's ReLU backward uses.
    return (z > _ZERO).astype(np.float64)


def _leaky(z: Array, alpha: float) -> Array:
    return np.where(z > 0.0, z, alpha * z)


def _dleaky(z: Array, _a: Array, alpha: float) -> Array:
    return np.where(z > 0.0, 1.0, alpha)


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


def _dswish(z: Array, _a: Array, _: float) -> Array:
    s = sigmoid(z)
    return s + z * s * (1.0 - s)


def _elu(z: Array, alpha: float) -> Array:
    return np.where(z > 0.0, z, alpha * np.expm1(np.minimum(z, 0.0)))


def _delu(z: Array, _a: Array, alpha: float) -> Array:
    # for z ≤ 0: d/dz α(e^z − 1) = α e^z, taken from z: the equal a + α cancels
    # (relative error 1e−4 at z = −30, exactly 0 below z ≈ −37)
    d = np.minimum(z, _ZERO)
    np.exp(d, out=d)
    d *= alpha
    return np.where(z > _ZERO, _ONE, d)


def _softplus(z: Array, _: float) -> Array:
    return softplus(z)


def _dsoftplus(z: Array, _a: Array, _: float) -> Array:
    return sigmoid(z)


def _linear(z: Array, _: float) -> Array:
    return z.copy()


def _dlinear(z: Array, _a: Array, _: float) -> Array:
    return np.ones_like(z)


# each catalog activation's f and f′ (tests/engine/test_catalog.py: one pair per entry)
_F = Callable[[Array, float], Array]
_DF = Callable[[Array, Array, float], Array]
_RULES: dict[str, tuple[_F, _DF]] = {
    "sigmoid": (_sigmoid, _dsigmoid),
    "tanh": (_tanh, _dtanh),
    "relu": (_relu, _drelu),
    "leaky_relu": (_leaky, _dleaky),
    "elu": (_elu, _delu),
    "gelu": (_gelu, _dgelu),
    "swish": (_swish, _dswish),
    "softplus": (_softplus, _dsoftplus),
    "linear": (_linear, _dlinear),
}

#: every activation of engine/catalog.py (names, formulas, α defaults) with its rules
ACTIVATIONS: dict[str, Activation] = {
    e.name: Activation(e.name, *_RULES[e.name], e.formula, e.alpha or 0.0)
    for e in catalog.ACTIVATIONS
}
ACTIVATIONS["silu"] = ACTIVATIONS["swish"]   # torch's name for it


def get(name: str) -> Activation:
    """Look an activation up by name; raises ``ValueError`` naming the choices."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(
            f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}"
        ) from None


def resolve_alpha(name: str, alpha: float | None) -> float:
    """``alpha`` if given, else the activation's own default (Leaky ReLU
    0.01, ELU 1.0 as in PyTorch; 0 for activations that ignore it)."""
    return float(alpha) if alpha is not None else get(name).default_alpha


#: f′(z) below this fraction of its largest value counts as flat: a saturated end
#: (sigmoid, tanh, ELU…) or, where f′ is 0 there, dead (ReLU). :mod:`engine.metrics`
#: counts saturated activations by it (``metrics.SATURATION``).
FLAT_FRACTION = 0.01
#: the ends are looked for within ±FLAT_SPAN (every catalog activation is flat or
#: not by then), on a grid of FLAT_GRID points refined by bisection
FLAT_SPAN = 60.0
FLAT_GRID = 24_001


def _df(act: Activation, z: Array, alpha: float) -> Array:
    return act.df(z, act.f(z, alpha), alpha)


def flat_ends(name: str, alpha: float | None = None) -> list[dict[str, Any]]:
    """The flat ends of ``name``'s curve: where |f′(z)| < FLAT_FRACTION · max |f′|.

    A list of at most two regions, each ``{"kind", "lo", "hi"}``: the left end is
    z ≤ ``hi`` (``lo`` None), the right end z ≥ ``lo`` (``hi`` None). ``kind`` is
    ``"dead"`` where f′ is exactly 0 all along (ReLU's z ≤ 0: no gradient passes
    at all) and ``"saturated"`` where it is merely small (sigmoid |z| ≳ 6, tanh
    |z| ≳ 3, ELU, GELU, swish and softplus far left). Only ends count: GELU's
    and swish's f′ crosses 0 once near the middle, which is not a flat region.
    Boundaries are found on a grid over ±FLAT_SPAN and refined by bisection to
    full precision."""
    return _ends(name, alpha)[1]


def _ends(name: str, alpha: float | None) -> tuple[float, list[dict[str, Any]]]:
    """max |f′| over ±FLAT_SPAN and :func:`flat_ends`."""
    act = get(name)
    a = resolve_alpha(name, alpha)
    z = np.linspace(-FLAT_SPAN, FLAT_SPAN, FLAT_GRID)
    d = np.abs(_df(act, z, a))
    d_max = float(d.max())
    thr = FLAT_FRACTION * d_max
    small = d < thr

    def edge(inside: float, outside: float) -> float:
        """The boundary between a flat ``inside`` and a steep ``outside``."""
        for _ in range(80):
            mid = 0.5 * (inside + outside)
            if mid in (inside, outside):
                break
            if abs(float(_df(act, np.array([mid]), a)[0])) < thr:
                inside = mid
            else:
                outside = mid
        return inside

    out: list[dict[str, Any]] = []
    if small.all():   # flat everywhere (none in the catalog): no end to speak of
        return d_max, out
    for side in ("left", "right"):
        zs, flat = (z, small) if side == "left" else (z[::-1], small[::-1])
        if not flat[0]:
            continue
        k = int(np.argmin(flat))   # the first steep point from this end
        b = edge(float(zs[k - 1]), float(zs[k]))
        kind = "dead" if not np.any(_df(act, zs[:k], a)) else "saturated"
        out.append({"kind": kind, "lo": None, "hi": b} if side == "left"
                   else {"kind": kind, "lo": b, "hi": None})
    return d_max, out


def curve(name: str, alpha: float | None = None, lo: float = -6.0, hi: float = 6.0,
          n: int = 201) -> dict[str, Any]:
    """``name``'s f and f′ sampled for drawing: ``z`` (n evenly spaced points over
    [lo, hi], plus z = 0 and the flat ends' boundaries when inside, so a kink
    or a region's edge is a point of the curve), ``f`` = f(z), ``df`` = f′(z)
    (f′ as the backward pass uses it, given z and a = f(z)), ``df_max`` = max |f′|
    over ±FLAT_SPAN, ``flat_fraction`` and ``regions`` (:func:`flat_ends`),
    ``alpha`` (the α in effect) and ``formula``. JSON-friendly."""
    act = get(name)
    a = resolve_alpha(name, alpha)
    d_max, regions = _ends(name, a)
    extra = [0.0] + [r["hi"] if r["lo"] is None else r["lo"] for r in regions]
    z = np.linspace(lo, hi, n)
    inside = [v for v in extra if lo < v < hi]
    if inside:
        z = np.union1d(z, np.asarray(inside, dtype=np.float64))
    f = act.f(z, a)
    df = act.df(z, f, a)
    return {
        "name": act.name, "alpha": a, "formula": act.formula,
        "z": z.tolist(), "f": f.tolist(), "df": df.tolist(),
        "df_max": d_max,
        "flat_fraction": FLAT_FRACTION, "regions": regions,
    }
