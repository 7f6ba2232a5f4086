"""Run files with branches: what a saved run may hold, what a tampered one is refused
for, and how much work opening one costs."""

from __future__ import annotations

from typing import Any

import pytest

from engine.stepper import Stepper
from server.protocol import Changes, RunFile, RunSettings, encode, server_message
from server.run import history as history_mod
from server.run import runfile as runfile_mod
from server.run.history import MAX_COMMANDS, History, HistoryError
from server.run.runconfig import run_config
from server.run.runfile import RunFileError, branches_from_file, run_file
from server.settings import Settings

SETTINGS = RunSettings(dataset="xor", hidden=(4, 3), batch_size=8, lr=0.1, seed=11)


def v2(branches: list[dict[str, Any]], current: int) -> dict[str, Any]:
    return {"format": "backprop-lab-run", "version": 2,
            "settings": SETTINGS.model_dump(mode="json"), "branch": current,
            "branches": branches}


def load(file: dict[str, Any]) -> History:
    run = RunFile.model_validate(file)
    st = Stepper(run_config(run.settings))
    saved, current = branches_from_file(run, st, max_batch=1000)
    h = History.from_branches(st, run.settings, saved, current)
    if h.needs_indexing():
        h.start_indexing(Stepper(run_config(run.settings)))
    return h


def refused(file: dict[str, Any]) -> RunFileError:
    with pytest.raises(RunFileError) as e:
        load(file)
    return e.value


def test_changes_are_counted_over_all_branches_so_a_saved_run_always_loads() -> None:
    """A run keeps at most MAX_COMMANDS changes in all its branches together (shared
    ones once); a run at that limit, with the longest edits there are, still fits in
    one load message."""
    h = History(Stepper(run_config(SETTINGS)), SETTINGS)
    h.train(10)
    for _ in range(MAX_COMMANDS // 2):
        h.stepper.net.params["L2.W"][3, 2] = -0.12345678901234567
        h.record("edit", {"id": "L2.W", "index": (3, 2), "value": -0.12345678901234567})
    h.seek((5, 2))  # a change in the past: a new branch sharing the first ones
    while h.total_commands() < MAX_COMMANDS:
        h.stepper.net.params["L1.W"][1, 3] = 0.98765432109876543
        h.record("edit", {"id": "L1.W", "index": (1, 3), "value": 0.98765432109876543})
    assert len(h.branches) == 2
    with pytest.raises(HistoryError, match=f"at most {MAX_COMMANDS} changes in all"):
        h.set(Changes(lr=0.2))
    message = encode(server_message("load", run=run_file(h)))
    assert len(message.encode()) <= Settings().max_message_bytes
    g = load(run_file(h))
    assert g.total_commands() == MAX_COMMANDS


def test_a_file_with_more_changes_than_a_run_keeps_is_refused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runfile_mod, "MAX_COMMANDS", 3)
    monkeypatch.setattr(history_mod, "MAX_COMMANDS", 3)
    cmds = [{"iteration": i, "set": {"lr": 0.1 + 0.01 * i}} for i in (2, 4)]
    ok = v2([{"id": 0, "length": 20, "commands": cmds},
             {"id": 1, "parent": 0, "fork": {"iteration": 5}, "base": 2, "length": 9,
              "commands": [{"iteration": 6, "set": {"lr": 0.3}}]}], 1)
    assert load(ok).total_commands() == 3  # the two shared ones count once
    ok["branches"][1]["commands"].append({"iteration": 7, "set": {"lr": 0.4}})
    e = refused(ok)
    assert "at most 3 changes in all" in str(e) and e.field == "run.branches.1.commands"


@pytest.mark.parametrize("branches", [
    [{"id": 0, "parent": 1, "length": 20, "commands": [{"iteration": 5, "set": {"lr": 0.2}}]},
     {"id": 1, "parent": 0, "fork": {"iteration": 10}, "base": 1, "length": 20}],
    [{"id": 3, "parent": 3, "length": 20}],
], ids=["cycle", "own-parent"])
def test_a_parent_listed_after_its_child_is_refused(branches: list[dict[str, Any]]) -> None:
    """A server lists parents first; a file that does not (a cycle, a branch its own
    parent) would load and then save a file no server opens."""
    e = refused(v2(branches, branches[0]["id"]))
    assert e.field == "run.branches.0.parent" and "listed before" in str(e)


def test_a_command_before_the_fork_says_so() -> None:
    e = refused(v2([{"id": 0, "length": 20},
                    {"id": 1, "parent": 0, "fork": {"iteration": 10}, "length": 20,
                     "commands": [{"iteration": 4, "set": {"lr": 0.2}}]}], 1))
    assert e.field == "run.branches.1.commands.0" and "before the branch's fork" in str(e)


def chain(ids: list[int], length: int) -> list[dict[str, Any]]:
    """Branches in a line, ``ids[0]`` the root, each forking from the one before
    near its end with one change of its own."""
    out = []
    for k, i in enumerate(ids):
        b: dict[str, Any] = {"id": i, "length": length, "commands": [
            {"iteration": length - 20 + k, "set": {"lr": 0.1 + 0.01 * k}}]}
        if k:
            b.update(parent=ids[k - 1], fork={"iteration": length - 20 + k}, base=k)
        out.append(b)
    return out


@pytest.mark.parametrize("ids,current", [
    ([0, 1, 2, 3, 4, 5, 6, 7], 7),
    ([7, 1, 6, 3, 4, 2, 5, 0], 0),
    ([6, 0, 7, 1, 5, 2, 4, 3], 3),
], ids=["saved-order", "leaf-root-swapped", "scrambled"])
def test_opening_a_run_trains_what_its_branches_share_once(ids: list[int],
                                                           current: int) -> None:
    """Indexing a loaded run borrows checkpoints from any relative on the part they
    share, whichever branch it starts with: the work stays what the load limit
    counts (the shared part once), not once per branch."""
    length = 1500
    h = load(v2(chain(ids, length), current))
    trained = 0
    train = h.advance

    def counting(n: int, w: Any = None, stats: Any = None) -> None:
        nonlocal trained
        before = w.pos[0]
        train(n, w, stats)
        trained += w.pos[0] - before

    h.advance = counting  # type: ignore[method-assign]
    while not h.index_some(64):
        pass
    bound = length + 7 * 20  # what branches_from_file counts against the limit
    assert trained <= bound + 7 * h.interval, (trained, bound)


def test_a_run_that_never_resets_its_gradients_replays_from_its_file_and_on_a_seek() -> None:
    """accumulate_grads (lesson 16's switch) travels in the run file, and the sum it keeps
    between iterations is part of every checkpoint: a loaded run and a seek into the
    past give the very weights the run had."""
    s = SETTINGS.model_copy(update={"accumulate_grads": True})
    h = History(Stepper(run_config(s)), s)
    h.train(25)
    at25 = {k: v.copy() for k, v in h.stepper.net.params.items()}
    h.train(40)
    at65 = {k: v.copy() for k, v in h.stepper.net.params.items()}
    plain = Stepper(run_config(SETTINGS))
    plain.train(65)
    assert any(not (plain.net.params[k] == at65[k]).all() for k in at65)  # it does differ
    h.seek((25, 0))
    assert all((h.stepper.net.params[k] == at25[k]).all() for k in at25)
    assert 64 in h.active.checkpoints  # the way back to 65 starts from iteration 64's
    h.seek((65, 0))
    assert all((h.stepper.net.params[k] == at65[k]).all() for k in at65)
    file = run_file(h)
    assert file["settings"]["accumulate_grads"] is True
    g = load(file)
    g.seek((65, 0))
    assert all((g.stepper.net.params[k] == at65[k]).all() for k in at65)
