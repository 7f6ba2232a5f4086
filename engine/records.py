"""What the stepper hands out: phase records, fast-run statistics, and the
error of a run that went non-finite."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

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

    def trimmed(self, n: int) -> TrainStats:
        """The first ``n`` rows."""
        return TrainStats(self.iterations[:n], self.loss[:n], self.reg[:n],
                          self.gnorm[:n], self.lr[:n])
