"""Chart series of one branch: the sampled metrics, the per-layer health series and
the dense trace.

A branch keeps what its charts need to come back after a branch switch or a
reload: loss, accuracy and learning rate of sampled iterations as float64
columns (:class:`Metrics`), the per-layer ‖∂L/∂W‖ and ‖ΔW‖/‖W‖ more coarsely
(:class:`Health`), and the **trace** (:class:`Trace`): the batch loss, learning
rate and per-layer ‖∂L/∂W‖ of many more iterations, numbers training computes
anyway (the fast path's :class:`~engine.records.TrainStats`), where a full point
costs an evaluation of the whole data set. All are bounded: thinned to every
other point past their caps.
"""

from __future__ import annotations

import bisect
import math
from array import array
from typing import Any

from engine.stepper import Stepper, TrainStats

METRIC_COLUMNS = ("iteration", "train_loss", "test_loss", "train_acc", "test_acc", "lr")
#: kept beside them (not in the run file's or the CSV's columns)
EXTRA_COLUMNS = ("batch_loss",)
_COLUMNS = METRIC_COLUMNS + EXTRA_COLUMNS
MAX_METRIC_POINTS = 20_000
#: per-layer series the health charts draw (lists, layer 1 first, in ``metrics`` points)
HEALTH_KEYS = ("gnorm", "update_ratio")
#: health points kept per branch: between half this and this many once thinned, more
#: than the points a branch switch sends (playback.METRICS_ON_SWITCH), so each point
#: sent finds its own or a close earlier one
MAX_HEALTH_POINTS = 4_096

#: per-layer lists a metrics point carries besides its columns (layer 1 first)
LAYER_KEYS = ("gnorm", "wnorm", "update_ratio", "dead", "saturated")
#: trace points kept per branch (between half this and this many once thinned)
MAX_TRACE_POINTS = 4_096


def metrics_point(m: dict[str, Any], lr: float | None = None) -> dict[str, Any]:
    """A ``metrics`` point from :func:`engine.metrics.collect`'s numbers: losses and
    accuracies, the learning rate (``lr`` if given: the one the update used), the
    last batch's loss and, per layer, ‖∂L/∂W‖, ‖W‖, ‖ΔW‖/‖W‖ and the dead and
    saturated fractions."""
    point = {c: m[c] for c in METRIC_COLUMNS}
    if lr is not None:
        point["lr"] = lr
    point["batch_loss"] = m.get("batch_loss")
    point.update({k: m[k] for k in LAYER_KEYS})
    return point


def start_numbers(st: Stepper) -> dict[str, float | None]:
    """The train and test loss and accuracy of ``st``'s weights in use, evaluated as a
    metrics point's are (:meth:`engine.stepper.Stepper.evaluate`: the mean data loss,
    eval mode): what a run's Numbers show before its first update, where no metrics
    point is yet. None for what is not there (an empty test set, regression's
    accuracy) or not finite."""
    d = st.data
    out: dict[str, float | None] = {}
    for split, x, t in (("train", d.x_train, d.t_train), ("test", d.x_test, d.t_test)):
        loss, acc = st.evaluate(x, t) if len(x) else (None, None)
        out[f"{split}_loss"] = loss if loss is not None and math.isfinite(loss) else None
        out[f"{split}_acc"] = acc
    return out


def trace_point(iteration: int, batch_loss: float | None, lr: float | None,
                gnorm: list[float | None]) -> dict[str, Any]:
    """A trace point: what the ``iteration``-th iteration (1-based, as a metrics point's
    ``iteration``: the iterations done) computed while training — its batch's data loss
    (weights before the update), the rate it used and ‖∂L/∂W_l‖ per layer (layer 1
    first) — without evaluating anything (no ``train_loss``: see :class:`Trace`)."""
    return {"iteration": iteration, "batch_loss": batch_loss, "lr": lr, "gnorm": gnorm}


def trace_rows(stats: list[TrainStats], every: int) -> list[dict[str, Any]]:
    """Trace points of the fast path's per-iteration numbers: the iterations whose
    1-based number is a multiple of ``every``."""
    out = []
    for s in stats:
        for i, it0 in enumerate(s.iterations.tolist()):
            if (it0 + 1) % every == 0:
                out.append(trace_point(it0 + 1, float(s.loss[i]), float(s.lr[i]),
                                       s.gnorm[i].tolist()))
    return out


class Trace:
    """Trace points (:func:`trace_point`) as float64 columns: iteration, batch loss,
    learning rate and ‖∂L/∂W_l‖ per layer.

    Spaced as they came, then evenly thinned: past :data:`MAX_TRACE_POINTS`
    every other point goes and every other one offered later is skipped (the
    stride doubles). Memory: 8 × (3 + layers) bytes a point, at most ~200 KB a
    branch for 3 layers (~420 KB for 10).
    """

    def __init__(self) -> None:
        self.cols: dict[str, array[float]] = {k: array("d") for k in ("iteration",
                                                                       "batch_loss", "lr")}
        self.gnorm: list[array[float]] = []
        self.stride = 1
        self.seen = 0

    def __len__(self) -> int:
        return len(self.cols["iteration"])

    @property
    def last_iteration(self) -> int:
        """Iteration of the latest point kept (−1 when empty)."""
        it = self.cols["iteration"]
        return int(it[-1]) if it else -1

    def add(self, point: dict[str, Any]) -> None:
        """Take one trace point (iterations in increasing order)."""
        ordinal = self.seen
        self.seen += 1
        if ordinal % self.stride:
            return
        n = len(self)
        for k, col in self.cols.items():
            v = point.get(k)
            col.append(math.nan if v is None else float(v))
        g = point.get("gnorm") or ()
        while len(self.gnorm) < len(g):
            self.gnorm.append(array("d", [math.nan]) * n)
        for l, col in enumerate(self.gnorm):
            v = g[l] if l < len(g) else None
            col.append(math.nan if v is None else float(v))
        if len(self) > MAX_TRACE_POINTS:
            self.cols = {k: c[::2] for k, c in self.cols.items()}
            self.gnorm = [c[::2] for c in self.gnorm]
            self.stride *= 2

    def upto(self, iteration: int) -> Trace:
        """A copy holding the points at or before ``iteration``."""
        out = Trace()
        n = bisect.bisect_right(self.cols["iteration"], iteration)
        out.cols = {k: c[:n] for k, c in self.cols.items()}
        out.gnorm = [c[:n] for c in self.gnorm]
        out.stride = self.stride
        out.seen = n * self.stride
        return out

    def points(self, max_points: int | None = None) -> list[dict[str, Any]]:
        """The points as ``metrics`` message dicts (evenly thinned to ``max_points``,
        the latest kept)."""
        n = len(self)
        step = 1 if not max_points or n <= max_points else math.ceil(n / max_points)
        out = []
        for i in range(n - 1, -1, -step):
            c = {k: col[i] for k, col in self.cols.items()}
            g = [None if math.isnan(col[i]) else col[i] for col in self.gnorm]
            out.append(trace_point(int(c["iteration"]), _num(c["batch_loss"]),
                                   _num(c["lr"]), g))
        return out[::-1]

    @property
    def nbytes(self) -> int:
        """Bytes held by the columns."""
        cols = [*self.cols.values(), *self.gnorm]
        return sum(c.itemsize * len(c) + 64 for c in cols)


def _num(v: float) -> float | None:
    return None if math.isnan(v) else v


class Health:
    """The per-layer series of :data:`HEALTH_KEYS` (‖∂L/∂W‖ and ‖ΔW‖/‖W‖ of each layer),
    as float64 columns beside their iterations, for the health charts to come back
    after a branch switch (a branch keeps its parent's up to the fork).

    Coarser than :class:`Metrics` and evenly spaced: every ``stride``-th point is
    kept, and past :data:`MAX_HEALTH_POINTS` every other one of those goes and the
    stride doubles; the latest point is kept aside, so the charts end on it.
    Memory: 8 × (1 + 2 × layers) bytes a point, at most ~230 KB a branch for 3
    layers (~690 KB for 10).
    """

    def __init__(self) -> None:
        self.iteration: array[float] = array("d")
        self.cols: dict[str, list[array[float]]] = {k: [] for k in HEALTH_KEYS}
        self.stride = 1
        self.seen = 0  # points offered so far (the next one's ordinal)
        self.last: tuple[int, dict[str, list[float | None]]] | None = None

    def __len__(self) -> int:
        return len(self.iteration)

    def add(self, point: dict[str, Any]) -> None:
        """Take the per-layer lists of one ``metrics`` point (if it has them)."""
        if not any(isinstance(point.get(k), list | tuple) for k in HEALTH_KEYS):
            return
        it = int(point["iteration"])
        values = {k: [None if v is None else float(v) for v in point.get(k) or ()]
                  for k in HEALTH_KEYS}
        self.last = (it, values)
        ordinal = self.seen
        self.seen += 1
        if ordinal % self.stride:
            return
        n = len(self.iteration)
        self.iteration.append(float(it))
        for k in HEALTH_KEYS:
            vals = values[k]
            cols = self.cols[k]
            while len(cols) < len(vals):
                cols.append(array("d", [math.nan]) * n)
            for l, col in enumerate(cols):
                v = vals[l] if l < len(vals) else None
                col.append(math.nan if v is None else v)
        if len(self.iteration) > MAX_HEALTH_POINTS:
            self.iteration = self.iteration[::2]
            self.cols = {k: [c[::2] for c in cols] for k, cols in self.cols.items()}
            self.stride *= 2

    def upto(self, iteration: int) -> Health:
        """A copy holding the points at or before ``iteration``."""
        out = Health()
        n = bisect.bisect_right(self.iteration, iteration)
        out.iteration = self.iteration[:n]
        out.cols = {k: [c[:n] for c in cols] for k, cols in self.cols.items()}
        out.stride = self.stride
        out.seen = n * self.stride  # the branch's next point continues the spacing
        if self.last is not None and self.last[0] <= iteration:
            out.last = self.last
        return out

    def at(self, iteration: int) -> dict[str, list[float | None]]:
        """The per-layer values of the point at ``iteration`` or, thinned away, the
        nearest one before it (``{}`` when there is none)."""
        if self.last is not None and self.last[0] <= iteration:
            last_it, values = self.last
            if last_it == iteration or not self.iteration or self.iteration[-1] < last_it:
                return {k: list(v) for k, v in values.items()}
        i = bisect.bisect_right(self.iteration, iteration) - 1
        if i < 0:
            return {}
        out: dict[str, list[float | None]] = {}
        for k, cols in self.cols.items():
            out[k] = [None if math.isnan(c[i]) else c[i] for c in cols]
        return out

    @property
    def nbytes(self) -> int:
        """Bytes held by the columns."""
        n = 8 * len(self.iteration) + 64
        return n + sum(c.itemsize * len(c) + 64 for cols in self.cols.values() for c in cols)


class Metrics:
    """Sampled metrics as float64 columns (``None`` accuracies stored as NaN), the
    health charts' per-layer series (:class:`Health`) and the dense trace
    (:class:`Trace`).

    Memory: 8 bytes × 7 columns per point; thinned to every other point past
    :data:`MAX_METRIC_POINTS`.
    """

    def __init__(self) -> None:
        self.cols: dict[str, array[float]] = {c: array("d") for c in _COLUMNS}
        self.health = Health()
        self.trace = Trace()

    def __len__(self) -> int:
        return len(self.cols["iteration"])

    @property
    def last_iteration(self) -> int:
        """Iteration of the latest point (−1 when empty)."""
        it = self.cols["iteration"]
        return int(it[-1]) if it else -1

    def add(self, point: dict[str, Any]) -> None:
        """Append one ``metrics`` point (dict with :data:`METRIC_COLUMNS`)."""
        for c in _COLUMNS:
            v = point.get(c)
            self.cols[c].append(math.nan if v is None else float(v))
        self.health.add(point)
        if len(self) > MAX_METRIC_POINTS:
            for c in _COLUMNS:
                col = self.cols[c]
                self.cols[c] = array("d", col[::2] if len(col) % 2 else col[1::2])

    def add_trace(self, point: dict[str, Any]) -> None:
        """Keep a trace point (:func:`trace_point`) past the latest one kept."""
        if int(point["iteration"]) > self.trace.last_iteration:
            self.trace.add(point)

    def upto(self, iteration: int) -> Metrics:
        """A copy holding the points at or before ``iteration``."""
        out = Metrics()
        n = bisect.bisect_right(self.cols["iteration"], iteration)
        for c in _COLUMNS:
            out.cols[c] = self.cols[c][:n]
        out.health = self.health.upto(iteration)
        out.trace = self.trace.upto(iteration)
        return out

    def points(self, max_points: int | None = None) -> list[dict[str, Any]]:
        """The points as ``metrics`` message dicts (evenly thinned to ``max_points``),
        with the per-layer health series where they were recorded."""
        n = len(self)
        step = 1 if not max_points or n <= max_points else math.ceil(n / max_points)
        idx = list(range(n - 1, -1, -step))[::-1]
        out = []
        for i in idx:
            p: dict[str, Any] = {c: self.cols[c][i] for c in METRIC_COLUMNS}
            p["iteration"] = int(p["iteration"])
            for c in ("train_acc", "test_acc"):
                if math.isnan(p[c]):
                    p[c] = None
            p["batch_loss"] = _num(self.cols["batch_loss"][i])
            p.update(self.health.at(p["iteration"]))
            out.append(p)
        return out

    @property
    def nbytes(self) -> int:
        """Bytes held by the columns."""
        return sum(col.itemsize * len(col) + 64 for col in self.cols.values()) \
            + self.health.nbytes + self.trace.nbytes
