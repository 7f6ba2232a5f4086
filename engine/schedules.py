"""Learning-rate schedules, as ``torch.optim.lr_scheduler`` defines them.

The schedule is a pure function of the iteration ``t`` (0-based, stepped once
per iteration) and the base rate η₀:

* ``constant``:    η₀
* ``step``:        η₀ · γ^⌊t / step_size⌋                      (StepLR)
* ``exponential``: η₀ · γᵗ                                      (ExponentialLR)
* ``cosine``:      η_min + (η₀ − η_min)(1 + cos(π · min(t, T)/T))/2  (CosineAnnealingLR)

``warmup`` iterations of linear warm-up multiply any of them by
``s + (1 − s) · min(t, w)/w`` with start factor ``s`` (LinearLR chained).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SCHEDULES = ("constant", "step", "exponential", "cosine")


@dataclass(frozen=True)
class Schedule:
    """A learning-rate schedule; :meth:`lr` gives η at iteration ``t``."""

    name: str = "constant"
    step_size: int = 100
    gamma: float = 0.5
    t_max: int = 1000
    eta_min: float = 0.0
    warmup: int = 0
    warmup_start: float = 0.1

    def __post_init__(self) -> None:
        if self.name not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.name!r}; choose one of {list(SCHEDULES)}")
        if self.step_size < 1 or self.t_max < 1 or self.warmup < 0:
            raise ValueError("step_size and t_max must be ≥ 1, warmup ≥ 0")

    def lr(self, base: float, t: int) -> float:
        """η at iteration ``t`` for base rate ``base``."""
        if self.name == "constant":
            eta = base
        elif self.name == "step":
            eta = base * self.gamma ** (t // self.step_size)
        elif self.name == "exponential":
            eta = base * self.gamma**t
        else:
            tc = min(t, self.t_max)
            cos = 1 + math.cos(math.pi * tc / self.t_max)
            eta = self.eta_min + (base - self.eta_min) * cos / 2
        if self.warmup > 0:
            eta *= self.warmup_start + (1 - self.warmup_start) * min(t, self.warmup) / self.warmup
        return eta
