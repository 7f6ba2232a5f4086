"""What a run's recent past says: the names a coach rule reads beside the metrics.

A coach rule (``coach/rules.toml``, :mod:`server.coach`) is an
:mod:`engine.expr` expression over one metrics point — ``train_loss``,
``gnorm``, ``dead`` … as :func:`engine.metrics.collect` gives them — and over
a few facts about the points before it, which the expression language cannot
compute itself (it has no series). :func:`facts` derives them from the
branch's own chart series (:class:`~server.run.series.Metrics`: the evaluated
points and the per-layer health columns), cut at the point's iteration, so
they are the same after a rewind, a branch switch or a reload as they were
the first time, and bounded by the series' own caps (at most
``MAX_METRIC_POINTS`` and ``MAX_HEALTH_POINTS`` points: a few hundred
microseconds of NumPy at the largest).

The facts (:data:`FACTS`; per-layer lists are layer 1 first, as the metrics):

* ``points``: metrics points up to and including this one; ``halted``: 1 when
  the run has just stopped on a non-finite value (then ``train_loss`` and
  ``test_loss`` read +∞), else 0;
* ``train_loss_best`` / ``test_loss_best``: the lowest finite value so far,
  ``…_best_iteration`` the point's iteration (the first of equal ones: the
  charts' "best test" mark); ``train_loss_start``: the loss before the first
  update (the first point's batch loss, else its train loss);
* ``train_loss_before`` / ``test_loss_before``: the value at the latest point
  at least ``window`` iterations before this one (the rule's ``window``), NaN
  when the run is not that long yet;
* ``gnorm_low``: each layer's lowest positive ‖∂L/∂W‖ so far;
  ``gnorm_growth``: ``gnorm / gnorm_low`` now; ``grew_first``: the layer whose
  ‖∂L/∂W‖ first rose above :data:`GROWTH` times its lowest before (ties: the
  larger rise); if none did, at a halt the layer where the non-finite value
  appeared, else the layer that rose most now (0 with no gradient known);
* for each per-layer metric ``X`` of :data:`LAYER_KEYS` (``dead``,
  ``saturated``, ``gnorm``, ``update_ratio``, ``wnorm``): ``X_max``, its
  largest entry ignoring layers that have none (NaN if no layer has one), and
  ``X_max_layer``, that layer's number (0 if none).
"""

from __future__ import annotations

import bisect
import math
from array import array
from typing import Any

import numpy as np

from engine.fpstate import quiet
from server.run.series import LAYER_KEYS, Metrics

Array = np.ndarray

#: the metrics a rule reads at its point (engine.metrics.collect's names)
METRIC_NAMES = ("iteration", "train_loss", "test_loss", "train_acc", "test_acc",
                "batch_loss", "lr", *LAYER_KEYS)
#: ‖∂L/∂W‖ rising above this many times its lowest is "grew" (``grew_first``)
GROWTH = 10.0
#: the derived names :func:`facts` adds
FACTS = ("points", "halted", "batch_loss_peak", "train_loss_best", "train_loss_best_iteration",
         "test_loss_best", "test_loss_best_iteration", "train_loss_start",
         "train_loss_before", "test_loss_before", "gnorm_low", "gnorm_growth", "grew_first",
         *(f"{k}_max" for k in LAYER_KEYS), *(f"{k}_max_layer" for k in LAYER_KEYS))
#: every name a coach rule may read
NAMES = frozenset(METRIC_NAMES) | frozenset(FACTS)


def _col(col: array[float], n: int) -> Array:
    """The first ``n`` entries of a float64 column, as a NumPy copy (a view would pin the
    column's buffer: ``array.append`` refuses to grow an exported one)."""
    return np.frombuffer(col[:n], dtype=np.float64)


def _num(v: Any) -> float:
    return math.nan if v is None else float(v)


def _layers(v: Any) -> Array:
    """A per-layer list (``None`` entries, or no list at all) as floats, NaN for none."""
    return np.array([_num(x) for x in v or ()], dtype=float)


def _best(its: Array, vals: Array) -> tuple[float, float]:
    """The lowest finite value and its iteration (the first of equals); NaN, NaN if none."""
    ok = np.isfinite(vals)
    if not ok.any():
        return math.nan, math.nan
    i = int(np.argmin(np.where(ok, vals, np.inf)))
    return float(vals[i]), float(its[i])


class Facts:
    """The facts of one point (module docstring), computed once; :meth:`names` adds the
    ``window``-dependent ones for each rule."""

    @quiet
    def __init__(self, series: Metrics, point: dict[str, Any],
                 halt_layer: int | None = None, loss_peak: float | None = None) -> None:
        """``point``: the metrics of the iteration now (``iteration`` = iterations done);
        ``series``: its branch's series, whose points at or after that iteration are
        ignored (a rewound run's later past is not its past); ``halt_layer``: the run
        stopped on a non-finite value, first seen in that layer (None: it did not);
        ``loss_peak``: the highest batch loss of the iterations since the last point
        (``batch_loss_peak``: it, or this point's batch loss if higher or not given)."""
        halted = halt_layer is not None
        it = int(point["iteration"])
        self.iteration = it
        cols = series.cols
        n = bisect.bisect_left(cols["iteration"], it)  # the points before this one
        now = {k: _num(point.get(k)) for k in ("train_loss", "test_loss", "batch_loss")}
        if halted:
            now["train_loss"] = now["test_loss"] = math.inf
        self.its = np.append(_col(cols["iteration"], n), float(it))
        self.train = np.append(_col(cols["train_loss"], n), now["train_loss"])
        self.test = np.append(_col(cols["test_loss"], n), now["test_loss"])
        first_batch = cols["batch_loss"][0] if n else now["batch_loss"]
        start = first_batch if math.isfinite(first_batch) else float(self.train[0])
        base: dict[str, Any] = {k: point[k] if k in LAYER_KEYS else _num(point[k])
                                for k in METRIC_NAMES if k in point}  # (no accuracy: NaN)
        base["iteration"] = it
        if halted:
            base["train_loss"] = base["test_loss"] = math.inf
        peaks = [v for v in (loss_peak, now["batch_loss"]) if v is not None and v == v]
        base.update({"points": len(self.its), "halted": int(halted), "train_loss_start": start,
                     "batch_loss_peak": max(peaks) if peaks else math.nan})
        for split, vals in (("train", self.train), ("test", self.test)):
            best, at = _best(self.its, vals)
            base[f"{split}_loss_best"] = best
            base[f"{split}_loss_best_iteration"] = at
        base.update(_gradient_facts(series, it, _layers(point.get("gnorm")), halt_layer))
        for k in LAYER_KEYS:
            v = _layers(point.get(k))
            ok = ~np.isnan(v)
            if ok.any():
                i = int(np.argmax(np.where(ok, v, -np.inf)))
                base[f"{k}_max"], base[f"{k}_max_layer"] = float(v[i]), i + 1
            else:
                base[f"{k}_max"], base[f"{k}_max_layer"] = math.nan, 0
        self.base = base

    def names(self, window: int) -> dict[str, Any]:
        """Every name of :data:`NAMES` at this point, ``…_before`` looking back ``window``
        iterations."""
        k = int(np.searchsorted(self.its, self.iteration - window, side="right")) - 1
        before = {"train_loss_before": float(self.train[k]) if k >= 0 else math.nan,
                  "test_loss_before": float(self.test[k]) if k >= 0 else math.nan}
        return {**self.base, **before}


def _gradient_facts(series: Metrics, it: int, g_now: Array,
                    halt_layer: int | None) -> dict[str, Any]:
    """``gnorm_low``, ``gnorm_growth`` and ``grew_first`` from the health columns before
    iteration ``it`` and ‖∂L/∂W‖ now (``g_now``, per layer)."""
    h = series.health
    n = bisect.bisect_left(h.iteration, it)
    layers = max(len(g_now), len(h.cols["gnorm"]))
    if layers == 0:
        return {"gnorm_low": [], "gnorm_growth": [], "grew_first": halt_layer or 0}
    rows = np.full((n + 1, layers), np.nan)
    for l, col in enumerate(h.cols["gnorm"][:layers]):
        rows[:n, l] = _col(col, n)
    rows[n, :len(g_now)] = g_now
    g_now = rows[n]
    pos = np.where(rows > 0, rows, np.inf)  # (a dead layer's 0 is not a "lowest")
    low = np.minimum.accumulate(pos, axis=0)  # (n+1, layers): lowest up to each point
    growth_now = np.where(np.isfinite(low[-1]), g_now / low[-1], np.nan)
    first = 0
    if n > 0:
        ratio = rows[1:] / low[:-1]  # each point against the lowest before it
        grew = ratio > GROWTH
        if grew.any():
            row = int(np.argmax(grew.any(axis=1)))  # the first point where any layer grew
            first = int(np.argmax(np.where(grew[row], ratio[row], -np.inf))) + 1
    if first == 0 and halt_layer is not None:
        first = halt_layer
    elif first == 0 and np.isfinite(growth_now).any():
        first = int(np.nanargmax(np.where(np.isfinite(growth_now), growth_now, -np.inf))) + 1
    return {"gnorm_low": [None if not math.isfinite(v) else float(v) for v in low[-1]],
            "gnorm_growth": [None if not math.isfinite(v) else float(v) for v in growth_now],
            "grew_first": first}
