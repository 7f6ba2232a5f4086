"""Per-unit and per-layer marks of one iteration, for the network view to draw.

The mechanisms a learner should *see* on the network — a batch norm's
statistics, the units dropout switched off, ReLU units that are dead and
sigmoid/tanh units stuck in a flat end, the optimizer's state — are numbers the
engine has in hand during an iteration. This module picks them out as small
arrays under stable ids, added to the phase records by both the phase-by-phase
path (:mod:`engine.stepper`) and the lean loop (:mod:`engine.lean`), so every
frame carries them and the page computes nothing.

Forward record, per layer ``l`` where it applies (each (n_l,)):

``Ll.mu``, ``Ll.sigma``
    batch norm: the statistics ``z`` was normalised with, μ and
    σ = √(σ² + ε) (the number z − μ is divided by): the batch's in training
    (a batch of one uses the running ones, as the engine does).
``Ll.dropped``
    dropout: the fraction of the batch's samples for which the unit was
    switched off in this iteration (its mask entry is 0); 1 means dropped for
    every sample, so with a batch of one it is the mask itself.
``Ll.dead``
    a ReLU layer (hidden): 1 where the unit's activation f(z̃) is 0 for every
    sample of the batch — no gradient flows through it this iteration — else 0.
``Ll.saturated``
    a sigmoid or tanh layer whose f′ backward multiplies by (every hidden
    layer, and the output under mse): 1 where f′(z̃) < 1% of its maximum for
    every sample of the batch (|tanh z| > √0.99, σ(1 − σ) < 0.0025: the rule
    of :mod:`engine.metrics` and of :func:`engine.activations.flat_ends`),
    else 0.

Update record: ``Ll.<state>_norm`` for each optimizer state buffer (the
catalog's state names: ``momentum_buffer``, ``exp_avg``, ``exp_avg_sq``,
``square_avg``, ``grad_avg``, ``sum``), the Euclidean norm of that buffer over
all of layer l's parameters together (W, b and a norm's γ, β):
√(Σ_P Σ_entries s²).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engine.activations import FLAT_FRACTION
from engine.model import NORM_EPS, LayerCache, Network

Array = np.ndarray

#: |tanh z| above this ⇔ tanh′ = 1 − a² < FLAT_FRACTION
_TANH_FLAT = math.sqrt(1.0 - FLAT_FRACTION)
#: σ(1 − σ) below this ⇔ σ′ < FLAT_FRACTION · max σ′ (max σ′ = ¼)
_SIGMOID_FLAT = FLAT_FRACTION * 0.25


class LayerMarks:
    """Which marks layer ``l`` gets, and their ids, resolved once per network."""

    __slots__ = ("batch_norm", "dead", "dropout", "kdead", "kdrop", "kmu", "ksat", "ksigma",
                 "saturated")

    def __init__(self, l: int, batch_norm: bool, dropout: bool, dead: bool,
                 saturated: str | None) -> None:
        self.batch_norm = batch_norm
        self.dropout = dropout
        self.dead = dead
        self.saturated = saturated
        self.kmu, self.ksigma = f"L{l}.mu", f"L{l}.sigma"
        self.kdrop, self.kdead, self.ksat = f"L{l}.dropped", f"L{l}.dead", f"L{l}.saturated"


def layer_marks(net: Network) -> list[LayerMarks]:
    """The marks of every layer of ``net``, layer 1 first (see the module docstring)."""
    spec = net.spec
    n = len(spec.layers)
    mse_df = spec.output_df() is not None
    out: list[LayerMarks] = []
    for p in net.plans:
        act = p.spec.activation
        uses_df = p.l < n or mse_df  # backward multiplies by this layer's f′
        out.append(LayerMarks(
            p.l, p.norm == "batch", p.dropout > 0.0,
            dead=uses_df and act == "relu",
            saturated=act if uses_df and act in ("sigmoid", "tanh") else None))
    return out


def unit_flags(activation: str, h: Array, axis: int = 0) -> Array | None:
    """Per unit of ``h`` = f(z̃) (B, n): 1.0 where the unit is dead (ReLU) or
    saturated (sigmoid, tanh) for every row, else 0.0; None for other activations.
    ``axis``: the rows' axis (1 for runs stacked as (S, B, n): (S, n) flags)."""
    # a column is flagged when its least flat row is flat: one reduction, one comparison
    if activation == "relu":
        bad = h.max(axis=axis) <= 0.0
    elif activation == "tanh":
        bad = np.abs(h).min(axis=axis) > _TANH_FLAT
    elif activation == "sigmoid":
        bad = (h * (1.0 - h)).max(axis=axis) < _SIGMOID_FLAT
    else:
        return None
    return bad.astype(np.float64)


def add_forward(marks: list[LayerMarks], caches: list[LayerCache], v: dict[str, Any]) -> None:
    """Add the forward record's marks of one iteration (its layer caches) to ``v``."""
    for m, c in zip(marks, caches, strict=True):
        if m.batch_norm and c.mean is not None and c.var is not None:
            v[m.kmu] = np.array(c.mean, dtype=np.float64)  # a copy: running stats change
            v[m.ksigma] = np.sqrt(c.var + NORM_EPS)
        if m.dropout and c.mask is not None:
            v[m.kdrop] = (c.mask == 0.0).mean(axis=0)
        if m.dead:
            v[m.kdead] = unit_flags("relu", c.h)
        elif m.saturated is not None:
            v[m.ksat] = unit_flags(m.saturated, c.h)


def add_state_norms(state: dict[str, dict[str, Array]], v: dict[str, Any]) -> None:
    """Add ``Ll.<state>_norm`` (one per layer and state buffer) to the update record ``v``;
    ``state`` maps parameter ids (``L1.W`` …) to the optimizer's buffers by name."""
    sums: dict[str, float] = {}
    for k, bufs in state.items():
        layer = k[:k.index(".")]
        for name, s in bufs.items():
            key = f"{layer}.{name}_norm"
            sums[key] = sums.get(key, 0.0) + float(np.vdot(s, s))
    for key, s2 in sums.items():
        v[key] = math.sqrt(s2)
