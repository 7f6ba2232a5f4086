"""The run history: seeking gives back exactly the numbers first computed, settings
changed mid-run replay at the point they were made, a change in the past keeps the
old future as a branch, memory stays within budget, and trouble is marked."""

from __future__ import annotations

import copy
import random

import numpy as np
import pytest

from engine.stepper import NonFiniteError, PhaseRecord, Stepper
from server.protocol import Changes, OptimizerModel, RunSettings
from server.run.history import History, records_equal
from server.run.runconfig import run_config

SETTINGS = RunSettings(dataset="xor", hidden=(5, 4), batch_size=10, lr=0.1, seed=3)


def make(settings: RunSettings = SETTINGS, **kw: object) -> History:
    return History(Stepper(run_config(settings)), settings, **kw)  # type: ignore[arg-type]


def keep(rec: PhaseRecord) -> PhaseRecord:
    """A deep copy, so later phases cannot alter what was first computed."""
    return copy.deepcopy(rec)


def step_all(h: History, n_phases: int, log: dict[tuple[int, str], PhaseRecord]) -> None:
    for _ in range(n_phases):
        r = h.step_phase()
        log[(r.iteration, r.phase)] = keep(r)


def shown(h: History, iteration: int, phase: int) -> list[PhaseRecord]:
    """Seek to the point after ``phase`` (1-4) of ``iteration``."""
    pos = (iteration + 1, 0) if phase == 4 else (iteration, phase)
    return h.seek(pos)


def assert_same(got: list[PhaseRecord], log: dict[tuple[int, str], PhaseRecord]) -> None:
    assert got, "seek returned no records"
    for r in got:
        first = log[(r.iteration, r.phase)]
        assert records_equal(r, first), f"{r.phase} of iteration {r.iteration} differs"


def test_seek_returns_the_numbers_first_computed_even_across_changes() -> None:
    h = make(interval=4)
    log: dict[tuple[int, str], PhaseRecord] = {}
    step_all(h, 4 * 7 + 2, log)  # stop at iteration 7, before backward
    h.set(Changes(lr=0.5))  # mid-iteration: the update of iteration 7 uses it
    step_all(h, 2 + 4 * 5, log)  # to iteration 13
    h.set(Changes(optimizer=OptimizerModel(name="adam", beta1=0.8)))
    step_all(h, 4 * 6, log)
    h.stepper.net.params["L1.W"][0, 1] = 0.25  # a weight set by hand at (19, 0)
    h.record("edit", {"id": "L1.W", "index": (0, 1), "value": 0.25})
    step_all(h, 4 * 9, log)  # to iteration 28
    assert h.head == (28, 0)

    positions = [(i, p) for i in range(28) for p in range(1, 5)]
    random.Random(5).shuffle(positions)
    for it, p in positions:
        assert_same(shown(h, it, p), log)
    # the update of iteration 7 used the rate set half-way through it
    assert log[(7, "update")].values["lr"] == 0.5 and log[(6, "update")].values["lr"] == 0.1
    assert log[(19, "forward")].values["L0.a"] is not None
    assert h.stepper.halted is None


def test_fast_path_and_phase_path_agree_so_seek_into_a_fast_run_is_exact() -> None:
    h = make(interval=16)
    h.train(150)
    h.set(Changes(lr=0.02, batch_size=7))
    h.train(100)
    assert h.head == (250, 0)
    got = shown(h, 203, 3)  # forward, loss, backward of iteration 203
    assert [r.phase for r in got] == ["forward", "loss", "backward"]

    # an independent run, phase by phase from iteration 0 with the same change
    ref = Stepper(run_config(SETTINGS))
    records: dict[tuple[int, str], PhaseRecord] = {}
    while ref.iteration < 204:
        if ref.iteration == 150 and ref.phase_index == 0:
            ref.set_hyper(lr=0.02, batch_size=7)
        r = ref.step_phase()
        records[(r.iteration, r.phase)] = keep(r)
    assert_same(got, records)
    assert len(got[0].values["batch"]) == 7


def test_a_change_in_the_past_starts_a_branch_and_keeps_both_futures() -> None:
    h = make(interval=8)
    old: dict[tuple[int, str], PhaseRecord] = {}
    step_all(h, 4 * 40, old)
    h.seek((20, 0))
    branch = h.set(Changes(lr=0.9))
    assert branch is not None and h.active is branch and branch.fork == (20, 0)
    new: dict[tuple[int, str], PhaseRecord] = {}
    step_all(h, 4 * 30, new)
    assert h.head == (50, 0)

    tl = h.timeline()
    assert [b["id"] for b in tl["branches"]] == [0, branch.id]
    assert tl["branches"][1]["fork"] == {"iteration": 20, "phase": "forward"}
    assert tl["branches"][1]["change"]["set"] == {"lr": 0.9}
    assert tl["branches"][0]["length"] == 40 and tl["branches"][1]["length"] == 50

    # the futures differ after the fork, agree before it
    assert not records_equal(new[(30, "update")], old[(30, "update")])
    assert_same(shown(h, 10, 4), old)
    assert_same(shown(h, 35, 2), new)

    # back to the old future: it comes back exactly, at the point where it was left
    got = h.checkout(0)
    assert h.pos == (20, 0)
    assert_same(got, old)
    assert_same(shown(h, 30, 4), old)
    assert h.head == (40, 0)
    h.checkout(branch.id)
    assert_same(shown(h, 45, 3), new)


def test_stepping_forward_from_the_past_replays_the_logged_changes() -> None:
    h = make(interval=4)
    log: dict[tuple[int, str], PhaseRecord] = {}
    step_all(h, 4 * 10, log)
    h.set(Changes(lr=0.3))
    step_all(h, 4 * 10, log)
    h.seek((5, 2))
    again: dict[tuple[int, str], PhaseRecord] = {}
    step_all(h, 4 * 10, again)  # through the change at iteration 10, nothing new
    assert h.head == (20, 0) and len(h.branches) == 1
    for key, rec in again.items():
        assert records_equal(rec, log[key]), key
    h.train(30)  # fast, past the head
    assert h.head == (46, 0)  # iteration 15 finished first, then 30 more


def test_memory_stays_within_budget_by_thinning_checkpoints() -> None:
    h = make(interval=2, budget_bytes=60_000)
    h.train(3000)
    assert h.interval > 2
    cps = h.active.checkpoints
    assert all(it % h.interval == 0 for it in cps)
    assert sum(cp.nbytes for cp in cps.values()) <= 60_000
    # still exact after thinning
    ref = Stepper(run_config(SETTINGS))
    ref.train(2011)
    want = [keep(ref.step_phase()) for _ in range(4)]
    got = shown(h, 2011, 4)
    assert all(records_equal(a, b) for a, b in zip(got, want, strict=True))


def test_a_nonfinite_value_is_marked_and_the_run_can_go_on_from_before_it() -> None:
    h = make(RunSettings(dataset="xor", hidden=(4,), lr=100.0, seed=2,
                         output_activation="linear", loss="mse"), interval=4)
    with pytest.raises(NonFiniteError):
        h.train(10_000)
    marks = [m for m in h.active.markers if m["kind"] == "nonfinite"]
    assert len(marks) == 1
    halt = h.pos
    assert h.stepper.halted is not None
    # the stepper was rewound to a replayable state: its weights are finite
    assert all(np.isfinite(w).all() for w in h.stepper.net.params.values())
    # seeking back to the halt shows it halted again; before it, the run can go on
    h.seek((halt[0] - 30, 0))
    assert h.stepper.halted is None
    h.seek(halt)
    assert h.stepper.halted is not None
    h.seek((3, 0))
    h.set(Changes(lr=0.01))  # a gentler rate from iteration 3: a branch
    h.train(200)
    assert h.pos == (203, 0) and h.stepper.halted is None
    tl = h.timeline()
    assert [b["halted"] for b in tl["branches"]] == [True, False]


def test_loss_spikes_and_setting_changes_become_markers() -> None:
    h = make()
    for i in range(1, 30):
        h.record_metrics({"iteration": i, "train_loss": 1.0 / i, "test_loss": 1.0,
                          "train_acc": 0.5, "test_acc": 0.5, "lr": 0.1})
    h.record_metrics({"iteration": 30, "train_loss": 3.0, "test_loss": 1.0,
                      "train_acc": 0.5, "test_acc": 0.5, "lr": 0.1})
    h.set(Changes(lr=0.2))
    kinds = [(m["kind"], m["iteration"]) for m in h.timeline()["markers"]]
    assert ("spike", 30) in kinds and ("set", 0) in kinds
    assert sum(k == "spike" for k, _ in kinds) == 1
    assert h.settings_now().lr == 0.2 and h.base.lr == 0.1


def test_health_series_are_thinned_apart_and_found_for_every_point_sent() -> None:
    """The per-layer health series keep between half and all of MAX_HEALTH_POINTS; a
    point sent after thinning gets its own values or the nearest earlier ones."""
    from server.run.series import MAX_HEALTH_POINTS, Metrics

    m = Metrics()
    n = 3 * MAX_HEALTH_POINTS
    for i in range(1, n + 1):
        m.add({"iteration": i, "train_loss": 1.0 / i, "test_loss": None, "train_acc": None,
               "test_acc": None, "lr": 0.1, "gnorm": [float(i), 2.0 * i],
               "update_ratio": [1e-3, None]})
    assert MAX_HEALTH_POINTS // 2 <= len(m.health) <= MAX_HEALTH_POINTS
    assert len(m) == n  # the loss columns keep every point (up to MAX_METRIC_POINTS)
    pts = m.points(2_000)
    got = [p["gnorm"][0] for p in pts]
    assert got == sorted(got) and len(set(got)) == len(got)  # no stairs
    for p in pts:
        assert 0 <= p["iteration"] - p["gnorm"][0] < n / len(m.health) + 1
        assert p["gnorm"][1] == 2.0 * p["gnorm"][0] and p["update_ratio"] == [1e-3, None]
    assert pts[-1]["gnorm"] == [float(n), 2.0 * n]
    # a branch's copy up to a fork keeps the points before it, and only those
    fork = m.upto(n // 2)
    assert fork.points()[-1]["gnorm"][0] <= n // 2
    assert fork.health.nbytes < m.health.nbytes


def test_a_saved_runs_branches_are_indexed_sharing_what_they_share() -> None:
    """Saved and loaded, every branch is indexed (the active one first, a checked-out
    one next); a child starts from its parent's checkpoints before the fork instead of
    retraining them, and seeks anywhere give the numbers first computed."""
    from server.protocol import RunFile
    from server.run.runfile import branches_from_file, run_file

    h = make(interval=8)
    log0: dict[tuple[int, str], PhaseRecord] = {}
    step_all(h, 4 * 60, log0)
    h.seek((30, 0))
    b1 = h.set(Changes(lr=0.9))
    assert b1 is not None
    log1: dict[tuple[int, str], PhaseRecord] = {}
    step_all(h, 4 * 30, log1)
    h.seek((45, 2))
    b2 = h.set(Changes(optimizer=OptimizerModel(name="adam")))
    assert b2 is not None
    log2: dict[tuple[int, str], PhaseRecord] = {}
    step_all(h, 4 * 25 + 1, log2)
    h.checkout(b1.id)
    file = RunFile.model_validate(run_file(h))

    st = Stepper(run_config(SETTINGS))
    saved, current = branches_from_file(file, st, max_batch=1000)
    g = History.from_branches(st, SETTINGS, saved, current, interval=8)
    assert current == b1.id and g.active.id == b1.id and g.pos == (0, 0)
    assert {b.id: (b.parent, b.fork, b.head) for b in g.branches.values()} == {
        b.id: (b.parent, b.fork, b.head) for b in h.branches.values()}
    g.start_indexing(Stepper(run_config(SETTINGS)))
    assert g.indexer is not None and g.indexer.branch.id == b1.id
    assert g.indexed == 0 and g.clamp((50, 0)) == (0, 0)  # far seeks wait for the index
    g.index_some(16)
    g.checkout(b2.id)  # not indexed yet: it goes next, from its parent's checkpoints
    assert g.indexer is not None and g.indexer.branch.id == b2.id
    assert g.indexer.pos[0] >= 16 and g.to_index[0].id == b1.id
    while not g.index_some(16):
        pass
    for b in g.branches.values():
        assert max(b.checkpoints) == b.head[0] - b.head[0] % 8, b.id
    # the part a child shares with its parent: the same checkpoints, trained once
    c1 = g.branches[b1.id].checkpoints
    assert all(c1[it] is g.branches[0].checkpoints[it] for it in range(0, 31, 8))
    assert all(g.branches[b2.id].checkpoints[it] is c1[it] for it in range(0, 41, 8))
    assert_same(shown(g, 52, 3), log2)
    assert_same(shown(g, 40, 1), log1)
    g.checkout(0)
    assert_same(shown(g, 57, 4), log0)
    g.checkout(b1.id)
    assert_same(shown(g, 58, 2), log1)


def test_a_branch_whose_parent_was_dropped_saves_its_whole_log() -> None:
    """Past eight branches the oldest goes; its children keep their whole command log
    in the file (base 0) and come back with it."""
    from server.protocol import RunFile
    from server.run.runfile import branches_from_file, run_file

    h = make(interval=8)
    step_all(h, 4 * 10, {})
    for k in range(9):  # each from the previous one, one iteration further
        h.seek((2 + k, 0))
        h.set(Changes(lr=0.01 * (k + 1)))
        step_all(h, 8, {})
    assert 0 not in h.branches and 1 not in h.branches
    file = RunFile.model_validate(run_file(h))
    assert file.branches is not None
    orphan = next(b for b in file.branches if b.id == 2)
    assert orphan.parent == 1 and orphan.base == 0 and len(orphan.commands) == 2
    st = Stepper(run_config(SETTINGS))
    saved, current = branches_from_file(file, st, max_batch=1000)
    g = History.from_branches(st, SETTINGS, saved, current, interval=8)
    assert current == 9
    for b in g.branches.values():
        assert b.commands == h.branches[b.id].commands
        assert (b.parent, b.fork, b.head) == (h.branches[b.id].parent, h.branches[b.id].fork,
                                              h.branches[b.id].head)


def fill_metrics(h: History, n: int) -> None:
    """``n`` metrics points with the health series of the deepest allowed network."""
    from server.settings import Settings

    layers = Settings().max_layers
    for i in range(n):  # ~ 220 bytes each
        h.record_metrics({"iteration": i, "train_loss": 0.5, "test_loss": 0.6,
                          "train_acc": 0.9, "test_acc": None, "lr": 0.03,
                          "gnorm": [0.1] * layers, "update_ratio": [1e-3] * layers})


def test_metrics_and_logs_take_their_room_from_the_checkpoints() -> None:
    """One budget bounds the whole history: with the branch full of metrics points,
    the checkpoints thin so the total stays within it."""
    budget = 600_000
    h = make(interval=2, budget_bytes=budget)
    fill_metrics(h, 1000)
    other = h.nbytes()
    assert budget // 3 < other < budget // 2
    for _ in range(15):
        h.train(200)
        assert h.nbytes() <= budget, h.nbytes()
    assert h.nbytes() - other > budget // 4  # and the checkpoints use what is left
    assert len(h.active.metrics) == 1000


def test_checkpoints_keep_half_the_budget_however_many_metrics() -> None:
    """Metrics have their own caps; past half the budget they no longer squeeze the
    checkpoints, so seeks never fall back to replaying the whole run."""
    budget = 200_000
    h = make(interval=2, budget_bytes=budget)
    fill_metrics(h, 1000)
    assert h.nbytes() > budget  # more metrics than the whole budget
    h.train(3000)
    cps = h.active.checkpoints
    assert budget // 4 < sum(cp.nbytes for cp in cps.values()) <= budget // 2
    assert len(cps) > 10 and h.interval < 1000
