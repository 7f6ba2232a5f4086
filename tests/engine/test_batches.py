"""A run's batches (engine/batches.py): peeking at the next one, the next epoch's order
drawn ahead included, changes nothing of what the run draws."""

from __future__ import annotations

import numpy as np

from engine.config import RunConfig
from engine.stepper import Stepper

CFG = RunConfig(dataset="xor", hidden=(4, 4), batch_size=30, seed=7)  # 100 samples


def draws(peek: bool, n: int = 35) -> tuple[list[np.ndarray], object]:
    st = Stepper(CFG)  # 3 batches an epoch
    b = st.batches
    out = []
    for _ in range(n):
        if peek:
            for _ in range(2):  # (twice: the second is the cached draw)
                start, order, idx, x, t = b.peek(30)
        got = b.next(30)
        if peek:
            assert b.start == start and b.order is order
            assert np.array_equal(got[0], idx) and np.array_equal(got[1], x)
            assert np.array_equal(got[2], t)
        out.append(got[0].copy())
    return out, b.rng.bit_generator.state


def test_peeking_across_epoch_ends_draws_the_same_batches_and_leaves_the_generator() -> None:
    plain, state = draws(False)
    peeked, state2 = draws(True)
    assert all(np.array_equal(a, b) for a, b in zip(plain, peeked, strict=True))
    assert state == state2


def test_an_order_drawn_ahead_is_not_taken_once_the_generator_has_moved() -> None:
    st = Stepper(CFG)
    b = st.batches
    for _ in range(3):
        b.next(30)
    snap = b.snapshot()
    _, ahead, *_ = b.peek(30)  # the next epoch's order, drawn ahead
    b.rng.random()  # the generator moves on (as a restore to elsewhere would move it)
    assert b.next(30)[0] is not None and b.order is not ahead
    b.restore(snap)  # back: the draw from the same state is the same order again
    _, again, *_ = b.peek(30)
    assert np.array_equal(again, ahead)
    b.next(30)
    assert np.array_equal(b.order, ahead)
