"""Maps over the input plane: the network's output and each neuron's activation on a grid.

The page draws the decision boundary (classification) or the regression
surface behind the data points, and a small map per neuron, from numbers the
engine computed: one evaluation-mode forward pass of a grid of raw points
(engine.data.grid_points) through the current network gives every layer's
activations at once. Inputs with engineered features (x₁², sin x₁ …) use the
same grid over the raw (x₁, x₂) plane, with the features computed from it, so
the map always shows the plane the data lives in.

Real data has more inputs than a plane holds: its map shows two chosen input
columns (``axes``) with every other input held at its mean over the training
split, and says which (``axes``, ``held``); the points drawn are the samples'
values in those two columns.

To stay small on the wire every map is quantized to 8 bits: values ``v`` of
one channel (an output or one neuron) become ``q = round(255·(v − lo)/(hi − lo))``
with that channel's ``lo``/``hi`` sent beside the base64 bytes, so the browser
recovers ``v ≈ lo + q·(hi − lo)/255`` (error ≤ (hi − lo)/510).
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.data import FEATURES, Dataset, grid_points, telling_columns
from engine.fpstate import quiet
from engine.model import Network

Array = np.ndarray

#: grid side for the output map (capped by ``Settings.max_grid``)
OUTPUT_GRID = 48
#: points of the curve drawn for one-input regression (sine, single)
CURVE_POINTS = 128
#: side of a neuron map, before the byte budget shrinks it
NEURON_GRID = 24
MIN_NEURON_GRID = 8
#: bytes of neuron maps per message (before base64); beyond it neuron maps get coarser,
#: then are left out — a maps message stays under ~25 KB, ≤ 250 KB/s at map_hz
NEURON_BYTES = 16_384


def plane_extent(data: Dataset, axes: tuple[int, int] | None = None) -> tuple[float, float]:
    """The square [lo, hi] (both axes) holding every train and test point, plus 10 % margin
    (of the columns ``axes`` only, when given)."""
    pts = np.concatenate([data.p_train, data.p_test]) if len(data.p_test) else data.p_train
    if axes is not None:
        pts = pts[:, list(axes)]
    lo, hi = float(pts.min()), float(pts.max())
    if not math.isfinite(lo) or not math.isfinite(hi):
        return -1.0, 1.0
    if hi - lo < 1e-9:
        lo, hi = lo - 1.0, hi + 1.0
    pad = 0.1 * (hi - lo)
    return lo - pad, hi + pad


def features_of(p: Array, features: tuple[str, ...]) -> Array:
    """Network inputs (G, n_in) for raw points ``p`` (G, d), one column per feature."""
    return np.stack([FEATURES[f](p) for f in features], axis=1)


def quantize(values: Array) -> dict[str, Any]:
    """8-bit quantization of ``values`` (C, G): one ``min``/``max`` per channel (row).

    Returns ``{"shape": [C, G], "min": [C], "max": [C], "data": base64 of C·G bytes}``,
    rows one after another. A constant channel has ``min == max`` and all bytes 0;
    non-finite values (a diverged run) are sent as 0 bytes with ``min``/``max`` of the
    finite ones.
    """
    # (rows contiguous: a transposed cache's (C, G) view reduces and converts twice as slowly)
    v = np.ascontiguousarray(values, dtype=np.float64)
    if v.size:  # (every value finite, as a live run's: a NaN or ±inf shows in a min or max)
        lo, hi = v.min(axis=1), v.max(axis=1)
        if np.isfinite(lo).all() and np.isfinite(hi).all():
            return _quantized(v, lo, hi)
    finite = np.isfinite(v)
    big = np.where(finite, v, np.nan)
    with np.errstate(all="ignore"):
        lo = np.nanmin(big, axis=1) if v.size else np.zeros(len(v))
        hi = np.nanmax(big, axis=1) if v.size else np.zeros(len(v))
    lo = np.where(np.isfinite(lo), lo, 0.0)
    hi = np.where(np.isfinite(hi), hi, 0.0)
    return _quantized(np.where(finite, v, lo[:, None]), lo, hi)


def _quantized(v: Array, lo: Array, hi: Array) -> dict[str, Any]:
    """:func:`quantize`'s message of finite ``v`` (C, G) between its channels' ``lo`` and
    ``hi``."""
    span = hi - lo
    scale = np.divide(255.0, span, out=np.zeros_like(span), where=span > 0)
    q = v - lo[:, None]
    q *= scale[:, None]
    np.rint(q, out=q)
    q = np.clip(q, 0, 255, out=q).astype(np.uint8)
    return {
        "shape": list(v.shape),
        "min": lo.tolist(),
        "max": hi.tolist(),
        "data": base64.b64encode(q.tobytes()).decode("ascii"),
    }


def dequantize(m: dict[str, Any]) -> Array:
    """Inverse of :func:`quantize` (for tests and notebooks): (C, G) floats."""
    c, g = m["shape"]
    q = np.frombuffer(base64.b64decode(m["data"]), dtype=np.uint8).reshape(c, g)
    lo = np.asarray(m["min"])[:, None]
    hi = np.asarray(m["max"])[:, None]
    return lo + q * (hi - lo) / 255.0


def neuron_grid_size(n_units: int, max_grid: int) -> int:
    """Side of each neuron map so that all ``n_units`` maps fit :data:`NEURON_BYTES`,
    or 0 when even :data:`MIN_NEURON_GRID` would not fit."""
    if n_units <= 0:
        return 0
    side = min(NEURON_GRID, max_grid, math.isqrt(NEURON_BYTES // n_units))
    return side if side >= MIN_NEURON_GRID else 0


def many_inputs(data: Dataset) -> bool:
    """Whether ``data``'s map is a plane through two of its inputs (real data, a table
    of more than two columns) rather than its raw plane."""
    return data.n_in >= 2 and (data.real or any(f not in FEATURES for f in data.features))


def check_axes(data: Dataset, axes: tuple[int, int]) -> tuple[int, int]:
    """``axes`` if they are two different input columns of ``data``; ValueError naming
    the range otherwise."""
    i, j = axes
    n = data.n_in
    if not (0 <= i < n and 0 <= j < n) or i == j:
        raise ValueError(f"axes must be two different inputs in 0…{n - 1}, not {[i, j]}")
    return (i, j)


def _inputs(data: Dataset, g: Array, axes: tuple[int, int] | None) -> Array:
    """Network inputs (G, n_in) for plane points ``g`` (G, d): the features of raw
    points, or for :func:`many_inputs` data the training mean with columns ``axes``
    set to ``g``'s two coordinates."""
    if axes is None:
        return features_of(g, data.features)
    x = np.repeat(data.x_train.mean(axis=0)[None, :], len(g), axis=0)
    x[:, axes[0]] = g[:, 0]
    x[:, axes[1]] = g[:, 1]
    return x


#: a session keeps its maps' grid only if its inputs take at most this many bytes (a
#: plane's points and their engineered features: 2304 × 2–7 numbers); a wider input
#: (real data: the other columns held at their mean) is made again for each map, not
#: kept in every session's memory (digits': 1.4 MB)
MAX_KEPT_GRID_BYTES = 128 * 1024


@dataclass(frozen=True, eq=False)
class MapGrid:
    """What a network's maps over ``data``'s plane are computed on, made once per run
    (the plane, its grids and their network inputs depend on the data and the shape
    only, not on the weights): ``dims`` 1 or 2, the plane's extent ``lo``–``hi``, the
    output grid's side ``size`` and inputs ``x_out`` (G, n_in), the neuron grid's side
    ``nsize`` and inputs ``x_neurons`` (None when it is the output grid), the plane's
    input columns ``plane_axes`` (real data), and what it was made for (``key``)."""

    key: tuple[Any, ...]
    dims: int
    lo: float
    hi: float
    size: int
    nsize: int
    x_out: Array
    x_neurons: Array | None
    plane_axes: tuple[int, int] | None


def map_grid(net: Network, data: Dataset, max_grid: int,
             axes: tuple[int, int] | None = None, known: MapGrid | None = None) -> MapGrid:
    """The :class:`MapGrid` of ``net``'s maps over ``data`` (``known`` if it was made
    for the same data, shape, ``max_grid`` and ``axes``)."""
    key = (data, tuple(net.spec.sizes), max_grid, axes)
    if known is not None and known.key[0] is data and known.key[1:] == key[1:]:
        return known
    plane_axes = None
    if many_inputs(data):
        plane_axes = check_axes(data, axes) if axes is not None else telling_columns(data)
    dims = 2 if plane_axes is not None else int(data.p_train.shape[1])
    lo, hi = plane_extent(data, plane_axes)
    hidden_units = sum(net.spec.sizes[1:-1])
    if dims == 1:
        size = min(CURVE_POINTS, 4 * max_grid)
        nsize = min(size, 64) if hidden_units * 64 <= NEURON_BYTES else 0
    else:
        size = max(2, min(OUTPUT_GRID, max_grid))
        nsize = neuron_grid_size(hidden_units, max_grid)
    x_out = _inputs(data, grid_points(lo, hi, size, dims), plane_axes)
    x_neurons = (_inputs(data, grid_points(lo, hi, nsize, dims), plane_axes)
                 if nsize and nsize != size else None)
    return MapGrid(key, dims, lo, hi, size, nsize, x_out, x_neurons, plane_axes)


def kept_grid(grid: MapGrid) -> MapGrid | None:
    """``grid`` if a session may keep it (:data:`MAX_KEPT_GRID_BYTES`), else None."""
    n = grid.x_out.nbytes + (grid.x_neurons.nbytes if grid.x_neurons is not None else 0)
    return grid if n <= MAX_KEPT_GRID_BYTES else None


@quiet
def compute_maps(net: Network, data: Dataset, max_grid: int, iteration: int,
                 axes: tuple[int, int] | None = None, grid: MapGrid | None = None
                 ) -> dict[str, Any]:
    """The ``maps`` message body for ``net`` over ``data``'s input plane (on ``grid``,
    :func:`map_grid`'s, when the caller keeps it).

    Two-input data: ``size``×``size`` grid, row-major from the top-left (x₂
    descending, x₁ ascending). ``output`` is (K, size²): the output activation
    (probability for bce, class probabilities for softmax, the value for mse).
    ``neurons`` maps ``L{l}.a`` of every hidden layer to (n_l, s²) on a coarser
    ``neuron_size`` grid. One-input data (``dims`` 1): ``output`` is (K, size)
    along x₁ and neurons are curves of ``neuron_size`` points. Data with more
    inputs (:func:`many_inputs`): the plane of input columns ``axes`` (default
    :func:`engine.data.telling_columns`), the others held at their training mean;
    the message says so (``axes``: the two columns, x then y; ``held``: ``mean``).
    """
    g = map_grid(net, data, max_grid, axes, grid)
    caches = net.forward(g.x_out, train=False)
    out: dict[str, Any] = {
        "iteration": iteration,
        "dims": g.dims,
        "extent": [g.lo, g.hi],
        "size": g.size,
        "output": quantize(caches[-1].a.T),
        "neuron_size": g.nsize,
        "neurons": {},
    }
    if g.plane_axes is not None:
        out["axes"] = list(g.plane_axes)
        out["held"] = "mean"
    if g.nsize and len(caches) > 1:
        if g.x_neurons is not None:
            caches = net.forward(g.x_neurons, train=False)
        out["neurons"] = {f"L{l}.a": quantize(c.a.T) for l, c in enumerate(caches[:-1], start=1)}
    return out
