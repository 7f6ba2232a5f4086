"""A run's mini-batches: one permutation of the training set per epoch.

Each epoch draws one permutation from the run's shuffle generator and reorders
the training set once, so a batch is a contiguous slice (views, no copies). A
last partial batch is skipped: every batch has the chosen size
(``docs/engine.md``). The stepper and the lean loop draw from the same
:class:`Batches`, so a run's batches do not depend on which path ran.
"""

from __future__ import annotations

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
            self.order = self.rng.permutation(n)
            self._xs = self.data.x_train[self.order]
            self._ts = self.data.t_train[self.order]
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

    def peek(self, batch_size: int) -> tuple[int, Array, Array, Array] | None:
        """Where the next batch starts and what :meth:`next` will return, without
        drawing it; None at an epoch's end (the next batch needs a new shuffle)."""
        n = self.n
        bs = batch_size
        if bs <= 0 or bs > n:
            bs = n
        c = self.cursor
        if c + bs > n:
            return None
        return c, self.order[c:c + bs], self._xs[c:c + bs], self._ts[c:c + bs]

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
