"""The pieces a run's history is made of: commands, checkpoints, branches, walkers.

A :class:`Command` is a change applied at a position; a :class:`Branch` is one
future of the run (its command log, checkpoints, head, chart series and
timeline markers); a :class:`Walker` is a stepper walking a branch. No I/O and
no policy: :mod:`server.run.history` decides when to checkpoint, fork and thin,
:mod:`server.run.indexing` builds a loaded run's checkpoints.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.schedules import Schedule
from engine.stepper import PHASES, PhaseRecord, Stepper
from server.protocol import Changes
from server.run.drawing import LEARN_WEIGHT, learn_batch, learn_wire
from server.run.series import Metrics

Pos = tuple[int, int]
"""``(iteration, phase_index)``: the stepper is about to run that phase of that iteration."""

MAX_MARKERS = 200
@dataclass(frozen=True)
class Command:
    """A change applied to the run at position ``(iteration, phase)``.

    ``kind`` is ``"set"`` (``data`` is a :class:`~server.protocol.Changes`),
    ``"edit"`` (``data`` is ``{"id", "index", "value"}``: one parameter entry set
    by hand) or ``"learn"`` (``data`` is ``{"pixels", "label"}``: the next
    iteration runs on a learner's drawing with that class, :mod:`server.run.drawing`;
    always at a phase-0 position).
    """

    iteration: int
    phase: int
    kind: str
    data: Any

    @property
    def pos(self) -> Pos:
        """Where the command applies."""
        return (self.iteration, self.phase)

    @property
    def weight(self) -> int:
        """Its share of a run's change budget (a drawing is longer than a setting)."""
        return LEARN_WEIGHT if self.kind == "learn" else 1

    def wire(self) -> dict[str, Any]:
        """JSON form, as in run files and timeline markers."""
        out: dict[str, Any] = {"iteration": self.iteration, "phase": PHASES[self.phase]}
        if self.kind == "set":
            out["set"] = self.data.model_dump(mode="json", exclude_none=True)
        elif self.kind == "learn":
            out["learn"] = learn_wire(self.data)
        else:
            out["edit"] = {"id": self.data["id"], "index": list(self.data["index"]),
                           "value": self.data["value"]}
        return out

    def marker(self) -> dict[str, Any]:
        """Its timeline marker: the JSON form with its ``kind`` (a drawing's marker
        names its class only: the timeline is sent often)."""
        out: dict[str, Any] = {"iteration": self.iteration, "kind": self.kind, **self.wire()}
        if self.kind == "learn":
            out["learn"] = {"label": self.data["label"]}
        return out


def shared_commands(a: list[Command], b: list[Command]) -> int:
    """How many commands two logs start with in common (a branch holds its parent's
    first ones as the same objects)."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x is not y:
            break
        n += 1
    return n


def engine_changes(ch: Changes) -> dict[str, Any]:
    """The :meth:`Stepper.set_hyper` keyword arguments for validated wire changes."""
    out: dict[str, Any] = {}
    for name in ("lr", "clip_norm", "clip_value", "l1", "l2", "batch_size"):
        v = getattr(ch, name)
        if v is not None:
            out[name] = v
    if ch.schedule is not None:
        out["schedule"] = Schedule(**ch.schedule.model_dump())
    if ch.optimizer is not None:
        out["optimizer"] = ch.optimizer.name
        out["optimizer_params"] = ch.optimizer.params()
    return out


def apply_command(st: Stepper, cmd: Command) -> None:
    """Apply ``cmd`` to ``st`` (raises ValueError if the engine refuses it)."""
    if cmd.kind == "set":
        st.set_hyper(**engine_changes(cmd.data))
    elif cmd.kind == "edit":
        st.set_entry(cmd.data["id"], tuple(cmd.data["index"]), cmd.data["value"])
    elif cmd.kind == "learn":
        st.give_batch(*learn_batch(st, cmd.data))
    else:  # pragma: no cover - constructed only by this module
        raise ValueError(f"unknown command kind {cmd.kind!r}")


def snapshot_nbytes(snap: dict[str, Any]) -> int:
    """Approximate memory of one snapshot: array bytes plus per-object overhead
    (the constants match ``tracemalloc`` within ~10 %, see bench/history.py)."""
    per_array = 176  # ndarray header plus its dict slot
    n = 2_500  # the dicts, the two generator states and the scalars
    for group in ("params", "buffers", "grad_sum"):  # grad_sum: accumulate_grads' p.grad
        for a in snap.get(group, {}).values():
            n += a.nbytes + per_array
    n += snap["order"].nbytes + per_array
    for s in snap["optimizer"].state.values():
        for a in s.values():
            n += a.nbytes + per_array
    return n


@dataclass
class Checkpoint:
    """A snapshot at an iteration boundary and how many commands it already includes."""

    snap: dict[str, Any]
    n_commands: int
    nbytes: int


@dataclass(frozen=True)
class SavedBranch:
    """A branch as a run file gives it back: where it left its parent and its whole
    command log (the commands it shares with the parent are the parent's objects)."""

    id: int
    parent: int | None
    fork: Pos
    commands: list[Command]
    head: Pos
    cursor: Pos | None = None  # where the learner left it (None: at its head)


@dataclass
class Branch:
    """One future of the run: its command log, checkpoints, head, metrics, markers."""

    id: int
    parent: int | None
    fork: Pos
    commands: list[Command] = field(default_factory=list)
    checkpoints: dict[int, Checkpoint] = field(default_factory=dict)
    head: Pos = (0, 0)
    cursor: Pos = (0, 0)
    metrics: Metrics = field(default_factory=Metrics)
    markers: list[dict[str, Any]] = field(default_factory=list)
    halted: dict[str, Any] | None = None
    loss_ema: float | None = None
    last_spike: int = -(10**9)  # metrics point count at the last spike marker

    def checkpoint_before(self, iteration: int) -> tuple[int, Checkpoint]:
        """The latest checkpoint at or before ``iteration`` (iteration 0 always exists)."""
        keys = sorted(self.checkpoints)
        i = bisect.bisect_right(keys, iteration) - 1
        it = keys[max(i, 0)]
        return it, self.checkpoints[it]

    def add_marker(self, marker: dict[str, Any]) -> None:
        """Add a timeline marker; past :data:`MAX_MARKERS` the oldest spike goes first."""
        self.markers.append(marker)
        if len(self.markers) > MAX_MARKERS:
            victim = next((m for m in self.markers if m["kind"] == "spike"), self.markers[0])
            self.markers.remove(victim)


class HistoryError(ValueError):
    """A history request cannot be done (unknown branch, too many commands…)."""


@dataclass
class Walker:
    """A stepper walking one branch: ``applied`` of the branch's commands are in it."""

    stepper: Stepper
    branch: Branch
    applied: int = 0

    @property
    def pos(self) -> Pos:
        """The stepper's position."""
        return (self.stepper.iteration, self.stepper.phase_index)


def records_equal(a: PhaseRecord, b: PhaseRecord) -> bool:
    """True when two records hold the same ids and bit-identical values."""
    if (a.phase, a.iteration) != (b.phase, b.iteration) or a.values.keys() != b.values.keys():
        return False
    for k, va in a.values.items():
        x, y = np.asarray(va), np.asarray(b.values[k])
        if x.shape != y.shape or x.dtype != y.dtype or x.tobytes() != y.tobytes():
            return False
    return True
