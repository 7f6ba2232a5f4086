"""All sessions' histories together stay within max_total_history_mb: the largest are
thinned (checkpoints dropped), and every run still replays exactly."""

from __future__ import annotations

from engine.stepper import Stepper
from server.live import memory
from server.protocol import RunSettings
from server.run.history import History, records_equal
from server.run.runconfig import run_config


def played(iterations: int) -> tuple[History, list]:  # type: ignore[type-arg]
    cfg = RunSettings(hidden=(32, 32))
    h = History(Stepper(run_config(cfg)), cfg, interval=16, budget_bytes=64 * 2**20)
    h.train(iterations)
    last = [h.step_phase() for _ in range(4)]
    return h, last


def test_the_largest_histories_are_thinned_to_fit_and_still_replay_exactly() -> None:
    runs = [played(n) for n in (400, 800, 1600)]
    before = [h.nbytes() for h, _ in runs]
    budget = sum(before) // 3
    total = memory.enforce((h for h, _ in runs), budget)
    after = [h.nbytes() for h, _ in runs]
    assert total == sum(after) <= budget
    assert after[2] < before[2]  # the largest gave memory back
    for h, last in runs:
        again = h.seek(h.pos)
        assert all(records_equal(a, b) for a, b in zip(last, again, strict=True))


def test_within_the_budget_nothing_changes() -> None:
    h, _ = played(200)
    n = h.nbytes()
    assert memory.enforce([h], 10 * n) == n and h.nbytes() == n
