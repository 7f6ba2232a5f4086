"""Schedules with a warm-up against PyTorch's schedulers stepped together.

PyTorch has no closed form for a chained warm-up: ``ChainedScheduler([LinearLR,
X])`` (or stepping both every iteration) lets each scheduler's ``get_lr`` apply
its recursive rule to the rate the other left in the optimizer. The classes
below transcribe those rules step by step as ``torch/optim/lr_scheduler.py``
(torch 2.x) writes them — the initial step in the constructor, ``initial_lr``
set once per group, ``last_epoch`` counting steps — so the engine's
closed forms are checked against the recursion itself, not against a formula
derived from it.
"""

from __future__ import annotations

import math

import pytest

from engine.schedules import Schedule

RTOL = 1e-12


class _Group:
    """One optimizer parameter group: its current ``lr`` and ``initial_lr``."""

    def __init__(self, lr: float) -> None:
        self.lr = lr
        self.initial_lr: float | None = None


class _Scheduler:
    """``LRScheduler``: ``base_lr`` from the group's ``initial_lr`` (set by the
    first scheduler built), then an initial step at ``last_epoch`` 0."""

    def __init__(self, group: _Group) -> None:
        self.group = group
        if group.initial_lr is None:
            group.initial_lr = group.lr
        self.base_lr = group.initial_lr
        self.last_epoch = -1
        self.initial = True
        self.step()
        self.initial = False

    def step(self) -> None:
        self.last_epoch += 1
        self.group.lr = self.get_lr()

    def get_lr(self) -> float:
        raise NotImplementedError


class _LinearLR(_Scheduler):
    def __init__(self, group: _Group, start_factor: float, total_iters: int,
                 end_factor: float = 1.0) -> None:
        self.s, self.e, self.n = start_factor, end_factor, total_iters
        super().__init__(group)

    def get_lr(self) -> float:
        lr, e = self.group.lr, self.last_epoch
        if e == 0:
            return lr * self.s
        if self.initial or e > self.n:
            return lr
        return lr * (1.0 + (self.e - self.s) / (self.n * self.s + (e - 1) * (self.e - self.s)))


class _StepLR(_Scheduler):
    def __init__(self, group: _Group, step_size: int, gamma: float) -> None:
        self.step_size, self.gamma = step_size, gamma
        super().__init__(group)

    def get_lr(self) -> float:
        e = self.last_epoch
        if e == 0 or e % self.step_size != 0:
            return self.group.lr
        return self.group.lr * self.gamma


class _ExponentialLR(_Scheduler):
    def __init__(self, group: _Group, gamma: float) -> None:
        self.gamma = gamma
        super().__init__(group)

    def get_lr(self) -> float:
        return self.group.lr if self.initial else self.group.lr * self.gamma


class _CosineAnnealingLR(_Scheduler):
    def __init__(self, group: _Group, T_max: int, eta_min: float) -> None:
        self.T, self.eta_min = T_max, eta_min
        super().__init__(group)

    def get_lr(self) -> float:
        lr, e, T, m = self.group.lr, self.last_epoch, self.T, self.eta_min
        if self.initial:
            return lr
        if (e - 1 - T) % (2 * T) == 0:
            return lr + (self.base_lr - m) * (1 - math.cos(math.pi / T)) / 2
        return (1 + math.cos(math.pi * e / T)) / (1 + math.cos(math.pi * (e - 1) / T)) \
            * (lr - m) + m


def torch_rates(base: float, s: Schedule, n: int, warmup_first: bool = True) -> list[float]:
    """The rate each of ``n`` iterations uses: read before ``optimizer.step()``,
    then every scheduler stepped (the warm-up first, as ``ChainedScheduler([LinearLR,
    X])`` lists it, or last)."""
    g = _Group(base)
    scheds: list[_Scheduler] = []
    warm = _LinearLR(g, s.warmup_start, s.warmup) if s.warmup else None
    if s.name == "step":
        scheds.append(_StepLR(g, s.step_size, s.gamma))
    elif s.name == "exponential":
        scheds.append(_ExponentialLR(g, s.gamma))
    elif s.name == "cosine":
        scheds.append(_CosineAnnealingLR(g, s.t_max, s.eta_min))
    if warm is not None:
        scheds.insert(0 if warmup_first else len(scheds), warm)
    out = []
    for _ in range(n):
        out.append(g.lr)
        for sc in scheds:
            sc.step()
    return out


COSINE_WARM = {
    "short warm-up": Schedule("cosine", t_max=100, eta_min=0.01, warmup=10, warmup_start=0.1),
    "long warm-up": Schedule("cosine", t_max=1000, eta_min=0.05, warmup=700, warmup_start=0.1),
    "warm-up = T": Schedule("cosine", t_max=300, eta_min=0.2, warmup=300, warmup_start=0.01),
    "warm-up > T": Schedule("cosine", t_max=20, eta_min=0.1, warmup=50, warmup_start=0.3),
    "floor above the start": Schedule("cosine", t_max=60, eta_min=0.09, warmup=25,
                                      warmup_start=0.05),
    "one-step warm-up": Schedule("cosine", t_max=8, eta_min=0.02, warmup=1, warmup_start=0.5),
    "η_min = 0": Schedule("cosine", t_max=40, warmup=15, warmup_start=0.2),
    "warm-up over blocks": Schedule("cosine", t_max=2000, eta_min=0.03, warmup=1300,
                                    warmup_start=0.002),
}


@pytest.mark.parametrize("base", [0.1, 1.0])
@pytest.mark.parametrize("name", list(COSINE_WARM))
def test_cosine_with_warmup_is_torchs_chained_recursion(name: str, base: float) -> None:
    s = COSINE_WARM[name]
    want = torch_rates(base, s, s.t_max + 1)
    got = [s.lr(base, t) for t in range(s.t_max + 1)]
    for t, (a, b) in enumerate(zip(got, want, strict=True)):
        assert a == pytest.approx(b, rel=RTOL, abs=1e-15), (name, t)
    assert got[-1] == s.eta_min   # torch's recursion lands on η_min exactly at T
    # past T the engine stays at the floor (torch's cosine would rise again)
    assert [s.lr(base, t) for t in (s.t_max + 1, 5 * s.t_max)] == [s.eta_min] * 2


def test_the_warmup_is_stepped_before_the_cosine() -> None:
    # with η_min > 0 the order matters: the engine is ChainedScheduler([LinearLR, Cosine])
    s = COSINE_WARM["floor above the start"]
    other = torch_rates(0.1, s, 30, warmup_first=False)
    assert max(abs(s.lr(0.1, t) / other[t] - 1) for t in range(30)) > 0.02


@pytest.mark.parametrize("s", [
    Schedule("step", step_size=3, gamma=0.5, warmup=7, warmup_start=0.25),
    Schedule("step", step_size=10, gamma=0.3, warmup=4, warmup_start=0.1),
    Schedule("exponential", gamma=0.9, warmup=12, warmup_start=0.05),
    Schedule("exponential", gamma=0.99, warmup=1, warmup_start=0.6),
    Schedule("constant", warmup=9, warmup_start=0.3),
    Schedule("cosine", t_max=50, eta_min=0.004),
    Schedule("step", step_size=5, gamma=0.7),
    Schedule("exponential", gamma=0.95),
], ids=repr)
def test_every_schedule_is_torchs_recursion(s: Schedule) -> None:
    n = s.t_max + 1 if s.name == "cosine" else 60
    want = torch_rates(0.2, s, n)
    for t in range(n):
        assert s.lr(0.2, t) == pytest.approx(want[t], rel=RTOL, abs=1e-15), t


def test_a_long_cosine_warmup_reads_the_same_at_any_iteration() -> None:
    # the warm-up's partial sums are kept every few hundred iterations: any t,
    # in any order, gives the same bits as walking up to it
    s = Schedule("cosine", t_max=5000, eta_min=0.01, warmup=3000, warmup_start=0.01)
    walked = [s.lr(0.5, t) for t in range(0, 5001, 7)]
    fresh = Schedule("cosine", t_max=5000, eta_min=0.01, warmup=3000, warmup_start=0.01)
    jumped = [fresh.lr(0.5, t) for t in reversed(range(0, 5001, 7))][::-1]
    assert walked == jumped
    want = torch_rates(0.5, s, 5001)
    for t in range(0, 5001, 7):
        assert s.lr(0.5, t) == pytest.approx(want[t], rel=1e-11), t
