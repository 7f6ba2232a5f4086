"""What the stepper hands out: phase records, the values of one iteration,
fast-run statistics, and the error of a run that went non-finite (with the
search for the first value that did).

A :class:`PhaseRecord` carries, under the stable ids of :mod:`engine`:

=========  ==================================================================
forward    ``x`` (B, n_in), ``t`` (B, K), ``batch`` indices (absent for a batch
           given to ``Stepper.step_batch``), ``L0.a``, every ``Ll.z``,
           ``Ll.a`` (B, n_l) (and ``Ll.zn``, ``Ll.mask`` if used), and the marks
           of :mod:`engine.units`: ``Ll.mu``, ``Ll.sigma`` (batch norm),
           ``Ll.dropped`` (dropout), ``Ll.dead`` (ReLU), ``Ll.saturated``
           (sigmoid, tanh), each (n_l,)
loss       ``loss.per_sample`` (B,), ``loss.data``, ``loss.reg``, ``loss.total``,
           ``y`` and ``Ln.da`` = ∂L/∂y (B, K)
backward   ``Ll.delta`` (B, n_l), ``Ll.dW`` (n_{l−1}, n_l), ``Ll.db`` (n_l,),
           ``L{l−1}.da`` = ∂L/∂a_prev, ``Ll.gnorm`` = ‖dW‖ (dW includes the
           L1/L2 terms; ``Ll.dgamma``, ``Ll.dbeta`` with a norm), ``Ll.dfz`` =
           f′(z̃) (B, n_l), the local derivative backward multiplied by, where
           it did (every hidden layer; the output under mse unless linear)
update     ``Ll.W.prev``, ``Ll.W``, ``Ll.W.step`` (and the same for ``b``, γ, β),
           ``lr``, optimizer state ``Ll.W.<state>`` (momentum_buffer, exp_avg…: each
           optimizer's ``state`` in :mod:`engine.catalog`) and its norm over
           each layer's parameters ``Ll.<state>_norm`` (:mod:`engine.units`),
           ``clip.total_norm`` / ``clip.value`` when clipping is on; under
           ``accumulate_grads``, ``Ll.W.grad_sum`` (and ``b``, γ, β) = G_{t−1} + g_t,
           PyTorch's ``p.grad`` after ``backward()`` when nothing resets it (the
           backward record's ``Ll.dW`` stays this iteration's g_t; the optimizer
           used the sum, clipped if clipping is on: :func:`engine.optim.received`)
           and ``Ll.grad_sum_norm``, its norm over the layer's parameters
=========  ==================================================================

Every array in a record is a fresh array that the engine never changes
afterwards, so records can be kept or sent later without copying.

The phase-by-phase path (:mod:`engine.stepper`) and the lean loop
(:mod:`engine.lean`) fill their records with the same builders here, so the
two hand out the same ids in the same order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.catalog import ACCUMULATED
from engine.losses import LossResult
from engine.model import LayerCache
from engine.units import add_state_norms

Array = np.ndarray


@dataclass(slots=True)
class PhaseRecord:
    """One phase of one iteration: ``values`` maps stable ids to arrays or floats."""

    phase: str
    iteration: int
    values: dict[str, Any]


class NonFiniteError(RuntimeError):
    """The run produced NaN or ±∞; ``phase`` and ``where`` say where first.

    ``where`` is a stable id (``L2.z``, ``loss.data``, ``L1.dW``, ``L3.W`` …) and
    ``layer`` its layer number (None for the loss). After a fast run,
    ``stats`` holds the iterations completed before it.
    """

    def __init__(self, phase: str, where: str, iteration: int) -> None:
        super().__init__(
            f"non-finite value in {where} during the {phase} phase of iteration {iteration}"
        )
        self.phase = phase
        self.where = where
        self.iteration = iteration
        head = where.split(".", 1)[0]
        self.layer: int | None = int(head[1:]) if head[:1] == "L" and head[1:].isdigit() \
            else None
        self.stats: TrainStats | None = None


@dataclass
class TrainStats:
    """Per-iteration numbers of a fast run, one row per completed iteration.

    ``iterations`` (n,) the iteration numbers; ``loss`` (n,) the batch's data
    loss before the update; ``reg`` (n,) the L1/L2 term; ``gnorm`` (n, depth)
    ‖dW_l‖ per layer (with the L1/L2 terms, before clipping); ``lr`` (n,) the
    rate used.
    """

    iterations: Array
    loss: Array
    reg: Array
    gnorm: Array
    lr: Array

    def __len__(self) -> int:
        return len(self.iterations)

    @classmethod
    def empty(cls, first: int, n: int, depth: int) -> TrainStats:
        """``n`` rows to fill, for iterations ``first`` … ``first + n − 1``."""
        return cls(np.arange(first, first + n), np.empty(n), np.empty(n),
                   np.empty((n, depth)), np.empty(n))

    def put(self, i: int, loss: float, reg: float, gnorms: list[float], lr: float) -> None:
        """Fill row ``i``."""
        self.loss[i] = loss
        self.reg[i] = reg
        self.gnorm[i] = gnorms
        self.lr[i] = lr

    def trimmed(self, n: int) -> TrainStats:
        """The first ``n`` rows."""
        return TrainStats(self.iterations[:n], self.loss[:n], self.reg[:n],
                          self.gnorm[:n], self.lr[:n])


class IterationState:
    """The values of one iteration: carried between its phases, then kept as
    ``Stepper.last_iteration`` for :mod:`engine.chain` and :mod:`engine.metrics`.

    ``x`` (B, n_in), ``t`` (B, K), ``idx`` batch indices (None for a given
    batch); ``caches`` per layer (see :class:`engine.model.LayerCache`);
    ``loss``; ``reg`` the L1/L2 term; ``grads`` with the L1/L2 terms, before
    clipping; ``gnorms`` ‖dW_l‖; ``params`` the parameters forward used;
    ``prev`` those the update started from; ``lr``; ``done`` once updated.
    """

    __slots__ = (
        "caches",
        "done",
        "gnorms",
        "grads",
        "idx",
        "iteration",
        "loss",
        "lr",
        "params",
        "prev",
        "reg",
        "t",
        "x",
    )

    def __init__(self, iteration: int) -> None:
        self.iteration = iteration
        self.idx: Array | None = None
        self.x: Array | None = None
        self.t: Array | None = None
        self.caches: list[LayerCache] | None = None
        self.loss: LossResult | None = None
        self.reg = 0.0
        self.grads: dict[str, Array] | None = None
        self.gnorms: list[float] = []
        self.params: dict[str, Array] = {}   # the parameters forward used
        self.prev: dict[str, Array] = {}     # the parameters before the update
        self.lr = 0.0
        self.done = False


class LayerIds:
    """The stable ids of layer ``l``'s values, built once per run."""

    __slots__ = (
        "W",
        "a",
        "b",
        "dW",
        "da_prev",
        "db",
        "delta",
        "dfz",
        "extra",
        "gnorm",
        "l",
        "mask",
        "z",
        "zn",
    )

    def __init__(self, l: int, has_norm: bool) -> None:
        self.l = l
        self.W, self.b = f"L{l}.W", f"L{l}.b"
        self.z, self.zn, self.a, self.mask = f"L{l}.z", f"L{l}.zn", f"L{l}.a", f"L{l}.mask"
        self.delta, self.da_prev = f"L{l}.delta", f"L{l - 1}.da"
        self.dfz = f"L{l}.dfz"
        self.dW, self.db, self.gnorm = f"L{l}.dW", f"L{l}.db", f"L{l}.gnorm"
        #: (parameter, gradient) ids of a norm's γ and β
        self.extra = ((f"L{l}.gamma", f"L{l}.dgamma"), (f"L{l}.beta", f"L{l}.dbeta")) \
            if has_norm else ()


def loss_values(res: LossResult, reg: float, y: Array, t: Array,
                out_da: str) -> dict[str, Any]:
    """The loss record's values: per-sample and mean loss, the L1/L2 term, their
    sum, ``y``, ``t`` and ∂L/∂y under ``out_da`` (``Ln.da``)."""
    data_loss = res.mean
    return {
        "loss.per_sample": res.per_sample,
        "loss.data": data_loss,
        "loss.reg": reg,
        "loss.total": data_loss + reg,
        "y": y,
        "t": t,
        out_da: res.dy,
    }


def backward_values(ids: list[LayerIds], p: IterationState) -> dict[str, Any]:
    """The backward record's values of the iteration ``p`` (gradients computed):
    per layer δ, ∂L/∂a_prev, dW, db (dγ, dβ), ‖dW‖ and f′(z̃) where backward used it."""
    assert p.caches is not None and p.grads is not None
    grads = p.grads
    v: dict[str, Any] = {}
    for lid, c, gn in zip(ids, p.caches, p.gnorms, strict=True):
        v[lid.delta] = c.delta
        v[lid.da_prev] = c.da_prev
        v[lid.dW] = grads[lid.W]
        v[lid.db] = grads[lid.b]
        if lid.extra:
            for pk, gk in lid.extra:
                v[gk] = grads[pk]
        v[lid.gnorm] = gn
        if c.dfz is not None:
            v[lid.dfz] = c.dfz
    return v


ParamKeys = list[tuple[str, str, str, str, str]]

#: the suffix of a parameter's accumulated gradient in the update record (``L1.W.grad_sum``)
GRAD_SUM = ACCUMULATED.name


def param_keys(params: dict[str, Array]) -> ParamKeys:
    """Per parameter, in ``params``' order: its id and the ids of its value before
    the update, its step, (a prefix of) its optimizer state and its accumulated
    gradient."""
    return [(k, f"{k}.prev", f"{k}.step", f"{k}.", f"{k}.{GRAD_SUM}") for k in params]


def update_values(v: dict[str, Any], lr: float, prev: dict[str, Array],
                  params: dict[str, Array], steps: dict[str, Array],
                  state: dict[str, dict[str, Array]], keys: ParamKeys,
                  summed: dict[str, Array] | None = None) -> None:
    """Add the update record's values to ``v``: the rate, and per parameter the
    value before, after, the step and the optimizer's state (``L1.W.exp_avg`` …),
    then each layer's state norms (``L1.exp_avg_norm``, :mod:`engine.units`);
    ``keys`` from :func:`param_keys`. ``summed``: the accumulated gradients
    (G_{t−1} + g_t, :func:`engine.optim.received`) under ``accumulate_grads``,
    added as ``L1.W.grad_sum`` … and ``L1.grad_sum_norm`` …; None otherwise."""
    v["lr"] = lr
    if not state:  # plain SGD keeps none
        for k, kprev, kstep, _, _ in keys:
            v[kprev] = prev[k]
            v[k] = params[k]
            v[kstep] = steps[k]
    else:
        for k, kprev, kstep, kdot, _ in keys:
            v[kprev] = prev[k]
            v[k] = params[k]
            v[kstep] = steps[k]
            st = state.get(k)
            if st:
                for sname, s in st.items():
                    v[kdot + sname] = s
        add_state_norms(state, v)
    if summed is not None:
        for k, _, _, _, ksum in keys:
            v[ksum] = summed[k]
        add_state_norms({k: {GRAD_SUM: g} for k, g in summed.items()}, v)


def finite(arr: Array) -> bool:
    """Exact test: every entry of ``arr`` is finite."""
    return bool(np.isfinite(arr).all())


def first_bad_forward(ids: list[LayerIds], caches: list[LayerCache]) -> str | None:
    """The first non-finite forward id (z, zn, a per layer) in computation order;
    None if all are finite."""
    for lid, c in zip(ids, caches, strict=True):
        if not finite(c.z):
            return lid.z
        if c.zn is not c.z and not finite(c.zn):
            return lid.zn
        if not finite(c.a):
            return lid.a
    return None


def first_bad_backward(ids: list[LayerIds], p: IterationState) -> str | None:
    """The first non-finite backward id (δ, dW or ‖dW‖, db per layer), going from
    the output layer down; None if all are finite."""
    assert p.caches is not None and p.grads is not None
    for lid, c, gn in zip(reversed(ids), reversed(p.caches), reversed(p.gnorms), strict=True):
        if c.delta is not None and not finite(c.delta):
            return lid.delta
        if not math.isfinite(gn):
            return lid.dW if not finite(p.grads[lid.W]) else lid.gnorm
        if not finite(p.grads[lid.b]):
            return lid.db
    return None
