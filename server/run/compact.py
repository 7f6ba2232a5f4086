"""Compact frames: what fast play sends of each phase record instead of the record.

Playing faster than :data:`server.live.playing.PHASE_BY_PHASE_MAX` iterations per
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

import itertools
import math
import re
import struct
import sys
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import orjson

from engine.stacked import Fast, Layout

__all__ = ["CompactValues", "PackedFrames", "PackedLayout", "compact_iteration",
           "compact_values", "pack_batch", "pack_fast", "pack_parts", "pack_records"]

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
#: whether this machine's float64 are little-endian, as packed frames go on the wire
_LITTLE = sys.byteorder == "little"
#: packed layouts a connection is known to hold, at most (a learner who changes the
#: network often gets each new one once; past this many, all are sent again)
MAX_KNOWN_LAYOUTS = 64
_UIDS = itertools.count(1)


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


def compact_iteration(records: Sequence[tuple[str, dict[str, Any]]]) -> list[CompactValues]:
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
    sized: list[CompactValues] = []
    for (keep, mean, names), (_, values), out in zip(plans, records, outs, strict=True):
        o0 = o
        for k, name in zip(mean, names, strict=True):
            n = values[k].shape[1]
            out[name] = flat[o:o + n]
            o += n
        sized.append(_sized(out, keep, len(mean), o - o0))
    return sized


#: packed layouts by the identity of the engine's layout they were made for (one object
#: per kind of run and batch size, engine.stacked's), with that layout
_PACKED: dict[int, tuple[object, PackedLayout | None]] = {}


class PackedLayout:
    """How a kind of run's compact frames are packed (:class:`PackedFrames`).

    ``spec``: per phase, the frame's ids and each one's shape, in the order of the
    numbers (:data:`engine.stacked.Layout`); ``json``: that as the wire's ``layout``
    (``[[phase, [[id, shape], …]], …]``); ``numbers``: how many numbers an iteration
    holds; ``order``: per phase, (id, offset, size, shape) in the order
    :func:`compact_iteration` makes the frame's values, for the frames as messages;
    ``sizes``: per phase, (numbers, queued bytes) as :class:`CompactValues` counts them.
    """

    __slots__ = ("json", "numbers", "order", "sizes", "spec", "uid")

    def __init__(self, spec: Layout, keys: Sequence[tuple[str, ...]] | None) -> None:
        self.spec = spec
        self.uid = next(_UIDS)  # (names it on a connection: the wire's ``lid``)
        self.json = orjson.dumps([[phase, [[k, list(shape)] for k, shape in ids]]
                                  for phase, ids in spec])
        at: dict[str, tuple[int, int, tuple[int, ...]]] = {}
        o = 0
        for _, ids in spec:
            for k, shape in ids:
                size = math.prod(shape)
                at[k] = (o, size, shape)
                o += size
        self.numbers = o
        self.order: list[list[tuple[str, int, int, tuple[int, ...]]]] = []
        self.sizes: list[tuple[int, int]] = []
        for j, (phase, ids) in enumerate(spec):
            if keys is None:  # (the frames' own order: made of compact_iteration's)
                made = [name for name, _ in ids]
            else:
                keep, _, names = _plan(phase, keys[j])
                made = keep + names  # (compact_iteration's order: kept ids, then means)
            if sorted(made) != sorted(name for name, _ in ids):
                raise KeyError(phase)  # (not the frame compact_iteration makes: not packed)
            self.order.append([(name, *at[name]) for name in made])
            n = sum(at[name][1] for name in made)
            self.sizes.append((n, 64 + _BYTES_PER_ENTRY * len(made) + _BYTES_PER_NUMBER * n))


def pack_fast(fast: Fast) -> PackedFrames | None:
    """The packed frames of an iteration stepped with others (:class:`engine.stacked.Fast`),
    or None if they are not the ones :func:`compact_iteration` makes of its records."""
    layout = _packed_layout(fast.layout, fast.keys)
    if layout is None:
        return None
    return PackedFrames(fast.iteration, fast.packed, layout, fast.batch[0])


def _packed_layout(spec: Layout, keys: Sequence[tuple[str, ...]]) -> PackedLayout | None:
    """The :class:`PackedLayout` of the engine's ``spec`` for records with ids ``keys``
    (made once per layout object), or None if its frames are not the ones
    :func:`compact_iteration` makes of such records."""
    got = _PACKED.get(id(spec))
    if got is not None and got[0] is spec:
        return got[1]
    try:
        made: PackedLayout | None = PackedLayout(spec, keys)
    except KeyError:
        made = None
    if len(_PACKED) >= _MAX_PLANS:
        _PACKED.clear()
    _PACKED[id(spec)] = (spec, made)
    return made


#: packed layouts of frames made alone (:func:`pack_records`), by their ids and shapes
_OWN: dict[Layout, PackedLayout] = {}


class PackParts(NamedTuple):
    """An iteration's packed frames before their bytes are made (:func:`pack_parts`):
    the layout's spec, the arrays to join and how many numbers they hold (what the
    stream budget is asked for before any copy)."""

    spec: tuple[tuple[str, tuple[tuple[str, tuple[int, ...]], ...]], ...]
    arrays: list[np.ndarray]
    numbers: int

    def frames(self, iteration: int, batch: np.ndarray) -> PackedFrames:
        """The packed frames (their layout made once per spec)."""
        layout = _OWN.get(self.spec)
        if layout is None:
            if len(_OWN) >= _MAX_PLANS:
                _OWN.clear()
            layout = _OWN[self.spec] = PackedLayout(self.spec, None)
        data = (np.concatenate(self.arrays, dtype=np.float64).tobytes() if self.arrays
                else b"")
        return PackedFrames(iteration, data, layout, np.asarray(batch))


def pack_parts(records: Sequence[tuple[str, dict[str, Any]]]) -> PackParts | None:
    """The frames :func:`compact_iteration` makes of ``records`` (a run's iteration made
    alone, ``(phase, values)`` each, in order), to be packed (:meth:`PackParts.frames`):
    straight from the records' arrays, with no lists of numbers between, the same
    numbers (the averages come from the same one reduction; a JSON number decodes to
    the same float64), for about what encoding them as JSON costs and a third of the
    bytes. None if a kept value is not numbers (true is not 1 to the page, nor null NaN,
    nor a word: then they go as JSON), or if the averaged arrays are not all (B, n) of
    one B (then :func:`compact_iteration` averages phase by phase, as JSON)."""
    plans = [_plan(phase, tuple(values)) for phase, values in records]
    means = [values[k] for (_, mean, _), (_, values) in zip(plans, records, strict=True)
             for k in mean]
    sums = None
    if means:
        try:
            both = np.concatenate(means, axis=1)
        except (ValueError, TypeError):
            return None
        if both.ndim != 2:
            return None
        sums = np.add.reduce(both, 0)
        sums /= both.shape[0]
    spec: list[tuple[str, tuple[tuple[str, tuple[int, ...]], ...]]] = []
    arrays: list[np.ndarray] = []
    o = numbers = 0
    try:
        for (keep, mean, names), (phase, values) in zip(plans, records, strict=True):
            ids = []
            for k in keep:
                a = np.asarray(values[k])
                if a.dtype.kind not in "fiu":
                    return None  # (a truth value, a null, a word)
                ids.append((k, a.shape))
                arrays.append(a.ravel())
                numbers += a.size
            for k, name in zip(mean, names, strict=True):
                n = values[k].shape[1]
                ids.append((name, (n,)))
                arrays.append(sums[o:o + n])  # type: ignore[index]
                o += n
            spec.append((phase, tuple(ids)))
    except (TypeError, ValueError):
        return None
    return PackParts(tuple(spec), arrays, numbers + o)


def pack_records(iteration: int, records: Sequence[tuple[str, dict[str, Any]]],
                 batch: np.ndarray) -> PackedFrames | None:
    """:func:`pack_parts`'s packed frames of ``records``, or None."""
    parts = pack_parts(records)
    return None if parts is None else parts.frames(iteration, batch)


class PackedFrames:
    """Fast play's four compact frames of one iteration, packed: every number in one
    row of float64 (``data``, native byte order, ``layout``'s order), for a page that
    takes binary messages (``hello`` with ``packed``; docs/protocol.md, "packed").
    Each stands on the wire for the four frames :func:`compact_iteration` makes
    (``item``, for a client that takes JSON, and for a class's followers on other
    workers): the same numbers, bit for bit, since a float64 is what a JSON number
    decodes to.

    An outbox entry like a bundle of four frames: ``count`` messages, ``frames`` phase
    frames, ``nbytes`` queued (its bytes and its layout's JSON)."""

    __slots__ = ("batch", "data", "iteration", "layout", "nbytes")
    count = 4
    frames = 4
    bundle = True

    def __init__(self, iteration: int, data: bytes, layout: PackedLayout,
                 batch: np.ndarray) -> None:
        self.iteration = iteration
        self.data = data
        self.layout = layout
        self.batch = batch  # (the batch's indices as integers: a frame's "batch")
        self.nbytes = 96 + len(data) + len(layout.json)

    @property
    def numbers(self) -> int:
        """How many numbers ``data`` holds."""
        return self.layout.numbers

    def header(self, at: int, layout: bool = True) -> bytes:
        """The JSON message standing for the four frames in a packed batch whose
        numbers start at index ``at`` of the batch's numbers; naming its layout
        (``lid``), with the layout itself if ``layout``."""
        if not layout:
            return (b'{"type":"packed","iteration":%d,"at":%d,"lid":%d}'
                    % (self.iteration, at, self.layout.uid))
        return (b'{"type":"packed","iteration":%d,"at":%d,"lid":%d,"layout":%b}'
                % (self.iteration, at, self.layout.uid, self.layout.json))

    @property
    def item(self) -> list[dict[str, Any]]:
        """The four compact frames as messages, as :func:`compact_iteration` makes them
        (each's values a :class:`CompactValues`, counted)."""
        row = np.frombuffer(self.data, dtype=np.float64)
        out = []
        for (phase, _), order, (numbers, nbytes) in zip(
                self.layout.spec, self.layout.order, self.layout.sizes, strict=True):
            v = CompactValues()
            for name, o, size, shape in order:
                if name == "batch":
                    v[name] = self.batch
                elif shape:
                    v[name] = row[o:o + size].reshape(shape)
                else:
                    v[name] = float(row[o])
            v.numbers = numbers
            v.nbytes = nbytes
            out.append({"type": "frame", "phase": phase, "iteration": self.iteration,
                        "compact": True, "values": v})
        return out


def pack_batch(parts: Sequence[bytes | PackedFrames], known: set[int] | None = None
               ) -> bytes:
    """One binary WebSocket message of a batch of messages (docs/protocol.md): each
    item of ``parts`` a message's JSON or packed frames. ``u32`` (little-endian) J,
    then J bytes of JSON (the batch as an array, packed frames as ``packed``
    messages, spaces after it up to a multiple of 8 bytes from the start), then every
    packed number as float64, little-endian, in order.

    ``known``: the layouts this connection has been sent (their ``uid``s; updated): a
    layout goes out once a connection, the first time its frames do (at most
    :data:`MAX_KNOWN_LAYOUTS` are remembered, then they are sent again). None: every
    ``packed`` message carries its layout."""
    heads: list[bytes] = []
    blobs: list[bytes] = []
    at = 0
    for p in parts:
        if isinstance(p, PackedFrames):
            uid = p.layout.uid
            if known is None:
                heads.append(p.header(at))
            elif uid in known:
                heads.append(p.header(at, layout=False))
            else:
                if len(known) >= MAX_KNOWN_LAYOUTS:
                    known.clear()
                known.add(uid)
                heads.append(p.header(at))
            blobs.append(p.data if _LITTLE else
                         np.frombuffer(p.data, dtype=np.float64).byteswap().tobytes())
            at += p.layout.numbers
        else:
            heads.append(p)
    head = b"[" + b",".join(heads) + b"]"
    head += b" " * (-(4 + len(head)) % 8)
    return struct.pack("<I", len(head)) + head + b"".join(blobs)


def _resized(values: dict[str, Any]) -> CompactValues:
    """``values`` as :class:`CompactValues`, every entry counted."""
    return _sized(CompactValues(values), list(values), 0, 0)
