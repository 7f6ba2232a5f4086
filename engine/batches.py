"""A run's mini-batches: one permutation of the training set per epoch.

Each epoch draws one permutation from the run's shuffle generator and reorders
the training set once, so a batch is a contiguous slice (views, no copies). A
last partial batch is skipped: every batch has the chosen size
(``docs/engine.md``). The stepper and the lean loop draw from the same
:class:`Batches`, so a run's batches do not depend on which path ran.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from engine.data import Dataset

Array = np.ndarray


class Batches:
    """The batching state of one run over ``data``'s training split, drawing its
    permutations from ``rng``."""

    def __init__(self, data: Dataset, rng: np.random.Generator) -> None:
        self.data = data
        self.rng = rng
        self.n = len(data.x_train)
        tt = data.t_train
        #: every target is 0 or 1 (bce's ∂L/∂y then has a cheap exact form)
        self.hard = bool(((tt == 0.0) | (tt == 1.0)).all())
        #: epochs completed
        self.epoch = 0
        self.order = np.arange(self.n)
        self.cursor = self.n  # forces a shuffle on the first batch
        self.shuffled = False
        #: where the last batch began in the epoch's order
        self.start = 0
        self._xs = data.x_train
        self._ts = data.t_train
        # (1 − 2t)/B in the epoch's order, for bce's ∂L/∂y (see losses.compute)
        self._dy_scale: Array | None = None
        self._dy_scale_b = 0
        #: the next epoch's order drawn ahead (:meth:`peek`): (the generator's state it
        #: was drawn from, its state after, the order, inputs and targets in it)
        self._next: tuple[Mapping[str, Any], Mapping[str, Any], Array, Array, Array] | None = None

    def size(self, batch_size: int) -> int:
        """The effective batch size: ``batch_size``, or the whole split when it is 0
        or larger."""
        n = self.n
        return n if batch_size <= 0 or batch_size > n else batch_size

    def next(self, batch_size: int) -> tuple[Array, Array, Array]:
        """Indices (B,), inputs (B, n_in) and targets (B, K) of the next batch."""
        n = self.n
        bs = batch_size
        if bs <= 0 or bs > n:
            bs = n
        c = self.cursor
        if c + bs > n:
            if self.shuffled:
                self.epoch += 1
            self.shuffled = True
            up = self._next
            if up is not None and up[0] == self.rng.bit_generator.state:
                # drawn ahead from this very state: the same order, and the generator
                # where the draw leaves it
                self.rng.bit_generator.state = up[1]
                self.order, self._xs, self._ts = up[2], up[3], up[4]
            else:
                self.order = self.rng.permutation(n)
                self._xs = self.data.x_train[self.order]
                self._ts = self.data.t_train[self.order]
            self._next = None
            self._dy_scale = None
            c = 0
        self.start = c
        self.cursor = c + bs
        return self.order[c:c + bs], self._xs[c:c + bs], self._ts[c:c + bs]

    def dy_scale(self, B: int) -> Array:
        """(1 − 2t)/B of the last batch (0/1 targets), sliced from the epoch's."""
        return self.dy_scale_at(self.start, B)

    def dy_scale_at(self, start: int, B: int) -> Array:
        """(1 − 2t)/B of the epoch's batch of ``B`` starting at ``start``."""
        scale = self._dy_scale
        if scale is None or self._dy_scale_b != B:
            scale = self._dy_scale = (1.0 - 2.0 * self._ts) / B
            self._dy_scale_b = B
        return scale[start:start + B]

    def peek(self, batch_size: int) -> tuple[int, Array, Array, Array, Array]:
        """Where the next batch starts, the epoch order it is taken from, and what
        :meth:`next` will return (indices, inputs, targets), without drawing it. At an
        epoch's end the next epoch's order is drawn ahead, the generator left as it
        was: :meth:`next` takes that very order (the same draw) if nothing has moved
        the generator since."""
        n = self.n
        bs = batch_size
        if bs <= 0 or bs > n:
            bs = n
        c = self.cursor
        if c + bs <= n:
            return c, self.order, self.order[c:c + bs], self._xs[c:c + bs], self._ts[c:c + bs]
        state = self.rng.bit_generator.state
        up = self._next
        if up is None or up[0] != state:
            order = self.rng.permutation(n)
            after = self.rng.bit_generator.state
            self.rng.bit_generator.state = state
            up = (state, after, order, self.data.x_train[order], self.data.t_train[order])
            self._next = up
        return 0, up[2], up[2][:bs], up[3][:bs], up[4][:bs]

    def next_start(self, batch_size: int) -> tuple[int, Array]:
        """:meth:`peek`'s first two (where the next batch starts, the epoch order it is
        taken from), without slicing the batch while the epoch lasts."""
        c = self.cursor
        if c + self.size(batch_size) <= self.n:
            return c, self.order
        start, order, _, _, _ = self.peek(batch_size)
        return start, order

    def snapshot(self) -> dict[str, Any]:
        """The state that decides the coming batches (copied): the generator's
        state, ``epoch``, ``order``, ``cursor``, ``shuffled``."""
        return {
            "shuffle_rng": self.rng.bit_generator.state,
            "epoch": self.epoch,
            "order": self.order.copy(),
            "cursor": self.cursor,
            "shuffled": self.shuffled,
        }

    def restore(self, snap: dict[str, Any]) -> None:
        """Return to a :meth:`snapshot` (extra keys are ignored)."""
        self.rng.bit_generator.state = snap["shuffle_rng"]
        self.epoch = snap["epoch"]
        self.order = snap["order"].copy()
        self._xs = self.data.x_train[self.order]
        self._ts = self.data.t_train[self.order]
        self._dy_scale = None
        self.cursor = snap["cursor"]
        self.shuffled = snap["shuffled"]
        self._next = None
