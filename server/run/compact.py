"""Compact frames: what fast play sends of each phase record instead of the record.

Playing faster than :data:`server.live.session.PHASE_BY_PHASE_MAX` iterations per
second, the page paints each iteration's final state once: node colours from the
batch means of ``L{l}.a``, edges from the weights, the batch loss in the numbers
panel, and batch means of ``z``/``a``/``delta``, ``dW`` and the step in a hovered
element's tooltip. Per-sample arrays (B, n) are therefore sent as their batch
means (n,), and what the page never reads in that mode (``x``, ``t`` in forward,
per-sample losses, ``∂L/∂a``, parameters before the update, optimizer state,
norm and dropout internals) is left out. At the default run (xor, 2-4-4-1,
batch 10) this turns a ≈ 13 KB iteration into ≈ 3.7 KB: a class of 200 at
30 it/s needs ≈ 0.9 Mbit/s per learner instead of ≈ 3.2 (classroom Wi-Fi,
phones). The server's CPU stays about the same: averaging costs about what the
smaller encoding saves (docs/performance.md).

The rule, per phase (``L{l}`` for every layer; ``P`` any parameter name:
``W``, ``b``, ``gamma``, ``beta``):

- ``forward``: ``batch`` (indices), ``L{l}.a.mean`` and ``L{l}.z.mean``, and the
  per-unit marks of :mod:`engine.units` as they are (already (n,)): ``L{l}.mu``,
  ``L{l}.sigma``, ``L{l}.dropped``, ``L{l}.dead``, ``L{l}.saturated``;
- ``loss``: ``loss.data``, ``loss.reg``, ``loss.total``, ``y.mean``, ``t.mean``;
- ``backward``: ``L{l}.delta.mean``, ``L{l}.dP`` (whole, parameter-shaped),
  ``L{l}.gnorm``;
- ``update``: ``lr``, ``L{l}.P`` (after the update) and ``L{l}.P.step``, and each
  layer's optimizer-state norms ``L{l}.<state>_norm`` (not the buffers themselves).

``X.mean`` is the batch mean of the record's ``X`` (B, n): ``Σ_rows X / B``,
equal to NumPy's ``X.mean(axis=0)`` up to the order of the additions (the last
bit or so).
Slow play, stepping, seeking and the inspector keep full records.

Fast play compacts a whole iteration at once (:func:`compact_iteration`): the
batch means of its forward, loss and backward records come from one NumPy
reduction, since at these sizes each NumPy call costs more than its arithmetic.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["CompactValues", "compact_fast", "compact_iteration", "compact_values"]

_MEAN = re.compile(r"L\d+\.(?:a|z|delta)")
_KEEP = re.compile(
    r"batch|lr|loss\.(?:data|reg|total)"
    r"|L\d+\.(?:gnorm|d?(?:W|b|gamma|beta)|(?:W|b|gamma|beta)\.step)"
    r"|L\d+\.(?:mu|sigma|dropped|dead|saturated|[a-z_]+_norm)"
)
_Plan = tuple[list[str], list[str], list[str]]
_PLANS: dict[tuple[str, tuple[str, ...]], _Plan] = {}
_MAX_PLANS = 1_000
#: queued bytes per number, as :func:`server.live.outbox.approx_bytes` counts an array's
#: (8 bytes × its JSON_PER_ARRAY_BYTE of 2.5), and per entry (its key and container)
_BYTES_PER_NUMBER = 20
_BYTES_PER_ENTRY = 48


class CompactValues(dict[str, Any]):
    """A compact frame's values, with their size counted while they were made.

    ``numbers``: how many numbers it holds (an array's entries, a list's items, a
    scalar's one), what :func:`server.run.cost.count_values` would count;
    ``nbytes``: about its size queued and encoded, what
    :func:`server.live.outbox.approx_bytes` would estimate. Fast play queues one
    iteration's four of these 30 times a second per learner, and walking them again
    to size them cost more than compacting and encoding them together (≈ 45 µs an
    iteration at the default run, docs/performance.md). Encodes as a plain dict.
    """

    __slots__ = ("nbytes", "numbers")

    numbers: int
    nbytes: int


def _sized(out: CompactValues, keys: list[str], means: int, nmean: int) -> CompactValues:
    """``out`` (the kept ``keys`` and ``means`` averaged ids holding ``nmean`` numbers
    in all) with its counts set."""
    n = nmean
    for k in keys:
        v = out[k]
        t = type(v)  # (exact types first: this runs for every kept id, 30 times a second)
        n += v.size if t is np.ndarray else 1 if t is float else _count(v)
    out.numbers = n
    out.nbytes = 64 + _BYTES_PER_ENTRY * (len(keys) + means) + _BYTES_PER_NUMBER * n
    return out


def _count(v: object) -> int:
    """Numbers in a value that is not an array (a scalar: 1; a list or dict: its items')."""
    if isinstance(v, np.ndarray):
        return int(v.size)
    if isinstance(v, dict):
        return sum(_count(x) for x in v.values())
    if isinstance(v, list | tuple):
        return sum(_count(x) for x in v)
    return 1


def _action(phase: str, key: str) -> str:
    if key in ("y", "t"):
        return "mean" if phase == "loss" else "drop"
    if _MEAN.fullmatch(key):
        return "mean"
    if _KEEP.fullmatch(key):
        return "keep"
    return "drop"


def _plan(phase: str, keys: tuple[str, ...]) -> _Plan:
    """(ids kept, ids averaged, the averaged ids' names in the frame: ``<id>.mean``) for
    a record of ``phase`` with ``keys`` (cached: a run's records have the same ids
    every iteration)."""
    plan = _PLANS.get((phase, keys))
    if plan is None:
        if len(_PLANS) >= _MAX_PLANS:
            _PLANS.clear()
        acts = [(k, _action(phase, k)) for k in keys]
        mean = [k for k, a in acts if a == "mean"]
        plan = _PLANS[(phase, keys)] = ([k for k, a in acts if a == "keep"], mean,
                                        [k + ".mean" for k in mean])
    return plan


def compact_values(phase: str, values: dict[str, Any]) -> dict[str, Any]:
    """The values of a compact ``phase`` frame, from a full record's ``values``.

    Kept ids are passed through unchanged (the same arrays); averaged ids come
    out as ``"<id>.mean"``: for ``X`` of shape (B, n), a list of n numbers with
    ``mean[j] = Σ_r X[r, j] / B``. The phase's (B, n) arrays are averaged in one
    NumPy reduction over their side-by-side concatenation (B, Σn), for a tenth
    of the per-call overhead of one ``mean`` each (the rows are added in order;
    ``X.mean(axis=0)`` of a single column may add them pairwise, so the two can
    differ in the last bit).
    """
    keep, mean, _ = _plan(phase, tuple(values))
    out = {k: values[k] for k in keep}
    if not mean:
        return out
    arrays = [np.asarray(values[k]) for k in mean]
    if any(a.ndim != 2 for a in arrays):  # not per-sample rows: each on its own
        for k, a in zip(mean, arrays, strict=True):
            out[k + ".mean"] = (np.add.reduce(a, 0) / a.shape[0]) if a.ndim else a
        return out
    sums = np.add.reduce(np.concatenate(arrays, axis=1), 0) / arrays[0].shape[0]
    flat = sums.tolist()
    o = 0
    for k, a in zip(mean, arrays, strict=True):
        n = a.shape[1]
        out[k + ".mean"] = flat[o:o + n]
        o += n
    return out


def compact_iteration(records: Sequence[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """``[compact_values(phase, values) for phase, values in records]``, faster, each
    as :class:`CompactValues` (sized as it is made).

    Every averaged array of every record (forward ``a``/``z``, loss ``y``/``t``,
    backward ``delta``: all (B, n) over the same batch) is summed in one NumPy
    reduction over their side-by-side concatenation (B, Σn), then divided by B
    and split: a third of the NumPy calls of compacting each phase on its own
    (the same numbers: rows are added in the same order). Records whose arrays
    are not all (B, n) with one B are compacted one by one.
    """
    plans = [_plan(phase, tuple(values)) for phase, values in records]
    outs = [CompactValues({k: values[k] for k in keep})
            for (keep, _, _), (_, values) in zip(plans, records, strict=True)]
    arrays = [values[k] for (_, mean, _), (_, values) in zip(plans, records, strict=True)
              for k in mean]
    if not arrays:
        return [_sized(out, keep, 0, 0)  # (each a CompactValues)
                for out, (keep, _, _) in zip(outs, plans, strict=True)]
    try:
        both = np.concatenate(arrays, axis=1)  # raises unless all have ndim ≥ 2 and one B
    except (ValueError, TypeError):
        both = None
    if both is None or both.ndim != 2:
        return [_resized(compact_values(phase, values)) for phase, values in records]
    sums = np.add.reduce(both, 0)
    sums /= both.shape[0]
    flat = sums.tolist()
    o = 0
    sized: list[dict[str, Any]] = []
    for (keep, mean, names), (_, values), out in zip(plans, records, outs, strict=True):
        o0 = o
        for k, name in zip(mean, names, strict=True):
            n = values[k].shape[1]
            out[name] = flat[o:o + n]
            o += n
        sized.append(_sized(out, keep, len(mean), o - o0))
    return sized


#: compact_fast's layouts by the identity of the record ids they were made for (a kind
#: of run's ids are one object, engine.stacked's): per phase (kept ids, averaged ids,
#: their frame names, numbers and queued bytes of the frame)
_FAST: dict[int, tuple[object, list[tuple[list[str], list[str], list[str], int, int]]]] = {}


def compact_fast(keys: Sequence[tuple[str, ...]], kept: Sequence[dict[str, Any]],
                 means: dict[str, list[float]]) -> list[dict[str, Any]] | None:
    """The compact frames of an iteration stepped with others of its shape
    (:class:`engine.stacked.Fast`: each phase's record ids ``keys``, the values a frame
    keeps as they are ``kept``, the batch means ``means``), the very ones
    :func:`compact_iteration` makes of the lone records; None if a kept id is
    missing (the caller then compacts the full records). A kind of run's frames
    hold the same ids and sizes every iteration: they are counted once."""
    got = _FAST.get(id(keys))
    layout = got[1] if got is not None and got[0] is keys else None
    out: list[dict[str, Any]] = []
    try:
        if layout is None:
            layout = []
            for phase, k, have in zip(("forward", "loss", "backward", "update"), keys, kept,
                                      strict=True):
                keep, mean, names = _plan(phase, k)
                frame = _sized(CompactValues({key: have[key] for key in keep}), keep,
                               len(mean), sum(len(means[key]) for key in mean))
                layout.append((keep, mean, names, frame.numbers, frame.nbytes))
            if len(_FAST) >= _MAX_PLANS:
                _FAST.clear()
            _FAST[id(keys)] = (keys, layout)
        for (keep, mean, names, numbers, nbytes), have in zip(layout, kept, strict=True):
            frame = CompactValues({key: have[key] for key in keep})
            for key, name in zip(mean, names, strict=True):
                frame[name] = means[key]
            frame.numbers = numbers
            frame.nbytes = nbytes
            out.append(frame)
    except KeyError:
        return None
    return out


def _resized(values: dict[str, Any]) -> CompactValues:
    """``values`` as :class:`CompactValues`, every entry counted."""
    return _sized(CompactValues(values), list(values), 0, 0)
