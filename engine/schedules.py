"""Learning-rate schedules, as ``torch.optim.lr_scheduler`` computes them.

The schedule is a pure function of the iteration ``t`` (0-based, stepped once
per iteration) and the base rate η₀:

* ``constant``:    η₀
* ``step``:        η₀ · γ^⌊t / step_size⌋                      (StepLR)
* ``exponential``: η₀ · γᵗ                                      (ExponentialLR)
* ``cosine``:      η_min + (η₀ − η_min) c_t,  c_t = (1 + cos(π t/T))/2,
  for t ≤ T; η_min after T                                  (CosineAnnealingLR)

``warmup`` = w iterations of linear warm-up with start factor ``s`` (a
``LinearLR(start_factor=s, total_iters=w)``) are chained with the schedule as
``ChainedScheduler([LinearLR(...), Scheduler(...)])`` does: both are stepped
every iteration, the warm-up first, each applying its own *recursive* rule
to the rate the other left. With f_t = s + (1 − s) min(t, w)/w:

* LinearLR multiplies the rate by f_t / f_{t−1};
* StepLR and ExponentialLR multiply it by γ (when their rule says so), so
  with warm-up ``step`` and ``exponential`` are simply f_t times the above;
* CosineAnnealingLR maps η to η_min + (η − η_min) · c_t / c_{t−1}, which does
  not commute with a factor when η_min > 0. Unrolled from η_0 = s η₀::

      η_t = f_t c_t (η₀ + η_min Σ_{k=1..t} (1/c_k − 1/c_{k−1}) / f_k)    (t < T)

  After the warm-up (f = 1) the rule is plain cosine annealing from η_w:
  η_t = η_min + (η_w − η_min) c_t / c_w; at t = T it gives η_min exactly.

Every term of that sum is ≥ 0, so nothing cancels. Its partial sums are
kept every 256 iterations of the warm-up as the run reaches them (a few
numbers, however long it is); the block in use is summed on from there,
once. With η_min = 0 the rate is η₀ f_t c_t, the warm-up factor times the
cosine; that is the only case where the order of the two schedulers
does not matter (CosineAnnealingLR stepped before LinearLR gives another rate
during the warm-up when η_min > 0).

Past T the engine stays at η_min, where torch's recursion rises again (a
cosine period of 2T): ``docs/engine.md`` says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from engine import catalog

SCHEDULES = catalog.names("schedules")
_P = catalog.schedule_param

#: iterations between two kept partial sums of a cosine schedule's warm-up
_BLOCK = 256


@dataclass(frozen=True)
class Schedule:
    """A learning-rate schedule; :meth:`lr` gives η at iteration ``t``. Names,
    defaults and ranges: ``engine/catalog.py`` (``SCHEDULES``, ``SCHEDULE_PARAMS``)."""

    name: str = catalog.str_default(catalog.setting("schedule"))
    step_size: int = catalog.int_default(_P("step_size"))
    gamma: float = catalog.float_default(_P("gamma"))
    t_max: int = catalog.int_default(_P("t_max"))
    eta_min: float = catalog.float_default(_P("eta_min"))
    warmup: int = catalog.int_default(_P("warmup"))
    warmup_start: float = catalog.float_default(_P("warmup_start"))

    def __post_init__(self) -> None:
        catalog.check_schedule(self.name, {p.name: getattr(self, p.name)
                                           for p in catalog.SCHEDULE_PARAMS})

    def warmup_factor(self, t: int) -> float:
        """f_t = s + (1 − s) · min(t, w)/w (1 without warm-up)."""
        w = self.warmup
        if w <= 0:
            return 1.0
        s = self.warmup_start
        return s + (1 - s) * min(t, w) / w

    def _cos(self, t: int) -> float:
        """c_t = (1 + cos(π t/T))/2."""
        return (1 + math.cos(math.pi * t / self.t_max)) / 2

    def _terms(self, lo: int, hi: int) -> np.ndarray:
        """g_t = (1/c_t − 1/c_{t−1})/f_t for t = lo … hi − 1 (g_0 = 0), shape (hi − lo,)."""
        w, s = self.warmup, self.warmup_start
        t = np.arange(max(lo - 1, 0), hi, dtype=np.float64)
        c = (1 + np.cos(np.pi * t / self.t_max)) / 2
        inv = 1 / c
        f = s + (1 - s) * np.minimum(t[1:], w) / w
        g = (inv[1:] - inv[:-1]) / f
        return np.concatenate(([0.0], g)) if lo == 0 else g

    @property
    def _warm_len(self) -> int:
        """How many iterations the summed part covers: t = 0 … min(w, T − 1)."""
        return min(self.warmup, self.t_max - 1) + 1

    def _block_sums(self, j: int, before: float) -> np.ndarray:
        """S_t for t in block ``j`` (K = :data:`_BLOCK` iterations from jK, the last
        block shorter), summed in order on from ``before`` = S_{jK−1}."""
        lo = j * _BLOCK
        g = self._terms(lo, min(lo + _BLOCK, self._warm_len))
        g[0] += before
        S = np.cumsum(g)   # adds in order
        S.setflags(write=False)
        return S

    def _sum(self, t: int) -> float:
        """S_t = Σ_{k=1..t} (1/c_k − 1/c_{k−1})/f_k for t ≤ min(w, T − 1).

        Summed block by block, always over the same blocks, so S_t is one fixed
        value whichever t was asked for first. Kept (frozen dataclass, hence
        ``object.__setattr__``; each a whole new tuple, so a reader never sees
        half of one): S_{jK−1} for every block j reached so far, a few numbers
        however long the warm-up, grown as the run gets there; and the sums of
        the block in use, since iterations come in order.
        """
        j, r = divmod(t, _BLOCK)
        last = self.__dict__.get("_last_block")
        if last is None or last[0] != j:
            cps = self.__dict__.get("_checkpoints", (0.0,))
            if len(cps) <= j:
                grown = list(cps)
                while len(grown) <= j:
                    k = len(grown) - 1
                    grown.append(float(self._block_sums(k, grown[k])[-1]))
                cps = tuple(grown)
                object.__setattr__(self, "_checkpoints", cps)
            last = (j, self._block_sums(j, cps[j]))
            object.__setattr__(self, "_last_block", last)
        return float(last[1][r])

    @cached_property
    def _sum_at_warmup_end(self) -> float:
        """S_w, read by every iteration after the warm-up."""
        return self._sum(self.warmup)

    def lr(self, base: float, t: int) -> float:
        """η at iteration ``t`` for base rate ``base``."""
        name = self.name
        if name == "cosine":
            return self._cosine(base, t)
        if name == "constant":
            eta = base
        elif name == "step":
            eta = base * self.gamma ** (t // self.step_size)
        else:
            eta = base * self.gamma**t
        if self.warmup > 0:
            eta *= self.warmup_factor(t)
        return eta

    def _cosine(self, base: float, t: int) -> float:
        """η_t of ``cosine``, warm-up included (formulas in the module docstring)."""
        T, eta_min = self.t_max, self.eta_min
        if t >= T:
            return eta_min
        w = self.warmup
        if w <= 0:
            return eta_min + (base - eta_min) * self._cos(t)
        if not eta_min:
            return self.warmup_factor(t) * self._cos(t) * base
        if t <= w:
            return self.warmup_factor(t) * self._cos(t) * (base + eta_min * self._sum(t))
        # after the warm-up (f_w = 1): cosine annealing from η_w
        eta_w = self._cos(w) * (base + eta_min * self._sum_at_warmup_end)
        return eta_min + (eta_w - eta_min) * self._cos(t) / self._cos(w)
