"""A run's past, kept compactly so any iteration and phase comes back exactly.

The engine is deterministic: the same seed and the same commands give
bit-identical numbers. So the history does not record frames. It keeps

* **checkpoints** — :meth:`Stepper.snapshot` at iteration boundaries every
  ``interval`` iterations (the interval doubles, and every other checkpoint is
  dropped, whenever the checkpoints would exceed their memory budget), and
* the **command log** — every change made to a running run (a ``set`` of the
  learning rate, optimizer, schedule…, a weight ``edit``), tagged with the
  position at which it was applied.

Seeking to iteration *i*, phase *p* restores the nearest checkpoint at or
before *i*, trains on the fast path to *i* (re-applying logged commands at
their positions) and steps the phases up to *p*; the records it returns are the
numbers first computed, bit for bit. Cost: one restore, at most
``interval − 1`` fast iterations and four phases.

A **position** ``(iteration, phase_index)`` means "the stepper is about to run
phase ``PHASES[phase_index]`` of ``iteration``"; positions compare
lexicographically. The *head* of a branch is the furthest position it reached.

**Branches.** A command given at a position before the head does not destroy
the future: the current branch is kept as it is and a new branch starts at that
position (sharing the parent's checkpoints up to the fork, by reference).
:meth:`History.checkout` switches between them.

Besides, each branch keeps the sampled metrics (float64 columns) and
**markers** for the timeline: setting changed, weight edited, loss spike,
non-finite value.
"""

from __future__ import annotations

import bisect
import copy
import logging
import math
from array import array
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.schedules import Schedule
from engine.stepper import PHASES, NonFiniteError, PhaseRecord, Stepper
from server.protocol import Changes, RunSettings

log = logging.getLogger("backprop_lab.history")

Pos = tuple[int, int]
"""``(iteration, phase_index)``: the stepper is about to run that phase of that iteration."""

METRIC_COLUMNS = ("iteration", "train_loss", "test_loss", "train_acc", "test_acc", "lr")
MAX_METRIC_POINTS = 20_000
#: per-layer series the health charts draw (lists, layer 1 first, in ``metrics`` points)
HEALTH_KEYS = ("gnorm", "update_ratio")
#: health points kept per branch: between half this and this many once thinned, more
#: than the points a branch switch sends (playback.METRICS_ON_SWITCH), so each point
#: sent finds its own or a close earlier one
MAX_HEALTH_POINTS = 4_096
MAX_MARKERS = 200
#: changes a run keeps, all branches together: a saved run of that many (~100 bytes
#: each) still loads within the default max_message_bytes (64 KB)
MAX_COMMANDS = 500
MAX_BRANCHES = 8
SPIKE_RATIO = 2.0
SPIKE_MIN_POINTS = 5


@dataclass(frozen=True)
class Command:
    """A change applied to the run at position ``(iteration, phase)``.

    ``kind`` is ``"set"`` (``data`` is a :class:`~server.protocol.Changes`) or
    ``"edit"`` (``data`` is ``{"id", "index", "value"}``: one parameter entry set
    by hand).
    """

    iteration: int
    phase: int
    kind: str
    data: Any

    @property
    def pos(self) -> Pos:
        """Where the command applies."""
        return (self.iteration, self.phase)

    def wire(self) -> dict[str, Any]:
        """JSON form, as in run files and timeline markers."""
        out: dict[str, Any] = {"iteration": self.iteration, "phase": PHASES[self.phase]}
        if self.kind == "set":
            out["set"] = self.data.model_dump(mode="json", exclude_none=True)
        else:
            out["edit"] = {"id": self.data["id"], "index": list(self.data["index"]),
                           "value": self.data["value"]}
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
        # a new array: records already handed out keep the values they showed
        W = st.net.params[cmd.data["id"]].copy()
        W[tuple(cmd.data["index"])] = cmd.data["value"]
        st.net.params[cmd.data["id"]] = W
        st.halted = None
    else:  # pragma: no cover - constructed only by this module
        raise ValueError(f"unknown command kind {cmd.kind!r}")


def snapshot_nbytes(snap: dict[str, Any]) -> int:
    """Approximate memory of one snapshot: array bytes plus per-object overhead
    (the constants match ``tracemalloc`` within ~10 %, see bench/history.py)."""
    per_array = 176  # ndarray header plus its dict slot
    n = 2_500  # the dicts, the two generator states and the scalars
    for group in ("params", "buffers"):
        for a in snap[group].values():
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


class Health:
    """The per-layer series of :data:`HEALTH_KEYS` (‖∂L/∂W‖ and ‖ΔW‖/‖W‖ of each layer),
    as float64 columns beside their iterations, for the health charts to come back
    after a branch switch (a branch keeps its parent's up to the fork).

    Coarser than :class:`Metrics` and evenly spaced: every ``stride``-th point is
    kept, and past :data:`MAX_HEALTH_POINTS` every other one of those goes and the
    stride doubles; the latest point is kept aside, so the charts end on it.
    Memory: 8 × (1 + 2 × layers) bytes a point, at most ~230 KB a branch for 3
    layers (~690 KB for 10).
    """

    def __init__(self) -> None:
        self.iteration: array[float] = array("d")
        self.cols: dict[str, list[array[float]]] = {k: [] for k in HEALTH_KEYS}
        self.stride = 1
        self.seen = 0  # points offered so far (the next one's ordinal)
        self.last: tuple[int, dict[str, list[float | None]]] | None = None

    def __len__(self) -> int:
        return len(self.iteration)

    def add(self, point: dict[str, Any]) -> None:
        """Take the per-layer lists of one ``metrics`` point (if it has them)."""
        if not any(isinstance(point.get(k), list | tuple) for k in HEALTH_KEYS):
            return
        it = int(point["iteration"])
        values = {k: [None if v is None else float(v) for v in point.get(k) or ()]
                  for k in HEALTH_KEYS}
        self.last = (it, values)
        ordinal = self.seen
        self.seen += 1
        if ordinal % self.stride:
            return
        n = len(self.iteration)
        self.iteration.append(float(it))
        for k in HEALTH_KEYS:
            vals = values[k]
            cols = self.cols[k]
            while len(cols) < len(vals):
                cols.append(array("d", [math.nan]) * n)
            for l, col in enumerate(cols):
                v = vals[l] if l < len(vals) else None
                col.append(math.nan if v is None else v)
        if len(self.iteration) > MAX_HEALTH_POINTS:
            self.iteration = self.iteration[::2]
            self.cols = {k: [c[::2] for c in cols] for k, cols in self.cols.items()}
            self.stride *= 2

    def upto(self, iteration: int) -> Health:
        """A copy holding the points at or before ``iteration``."""
        out = Health()
        n = bisect.bisect_right(self.iteration, iteration)
        out.iteration = self.iteration[:n]
        out.cols = {k: [c[:n] for c in cols] for k, cols in self.cols.items()}
        out.stride = self.stride
        out.seen = n * self.stride  # the branch's next point continues the spacing
        if self.last is not None and self.last[0] <= iteration:
            out.last = self.last
        return out

    def at(self, iteration: int) -> dict[str, list[float | None]]:
        """The per-layer values of the point at ``iteration`` or, thinned away, the
        nearest one before it (``{}`` when there is none)."""
        if self.last is not None and self.last[0] <= iteration:
            last_it, values = self.last
            if last_it == iteration or not self.iteration or self.iteration[-1] < last_it:
                return {k: list(v) for k, v in values.items()}
        i = bisect.bisect_right(self.iteration, iteration) - 1
        if i < 0:
            return {}
        out: dict[str, list[float | None]] = {}
        for k, cols in self.cols.items():
            out[k] = [None if math.isnan(c[i]) else c[i] for c in cols]
        return out

    @property
    def nbytes(self) -> int:
        """Bytes held by the columns."""
        n = 8 * len(self.iteration) + 64
        return n + sum(c.itemsize * len(c) + 64 for cols in self.cols.values() for c in cols)


@dataclass(frozen=True)
class SavedBranch:
    """A branch as a run file gives it back: where it left its parent and its whole
    command log (the commands it shares with the parent are the parent's objects)."""

    id: int
    parent: int | None
    fork: Pos
    commands: list[Command]
    head: Pos


class Metrics:
    """Sampled metrics as float64 columns (``None`` accuracies stored as NaN), and the
    health charts' per-layer series (:class:`Health`).

    Memory: 8 bytes × 6 columns per point; thinned to every other point past
    :data:`MAX_METRIC_POINTS`.
    """

    def __init__(self) -> None:
        self.cols: dict[str, array[float]] = {c: array("d") for c in METRIC_COLUMNS}
        self.health = Health()

    def __len__(self) -> int:
        return len(self.cols["iteration"])

    @property
    def last_iteration(self) -> int:
        """Iteration of the latest point (−1 when empty)."""
        it = self.cols["iteration"]
        return int(it[-1]) if it else -1

    def add(self, point: dict[str, Any]) -> None:
        """Append one ``metrics`` point (dict with :data:`METRIC_COLUMNS`)."""
        for c in METRIC_COLUMNS:
            v = point.get(c)
            self.cols[c].append(math.nan if v is None else float(v))
        self.health.add(point)
        if len(self) > MAX_METRIC_POINTS:
            for c in METRIC_COLUMNS:
                col = self.cols[c]
                self.cols[c] = array("d", col[::2] if len(col) % 2 else col[1::2])

    def upto(self, iteration: int) -> Metrics:
        """A copy holding the points at or before ``iteration``."""
        out = Metrics()
        n = bisect.bisect_right(self.cols["iteration"], iteration)
        for c in METRIC_COLUMNS:
            out.cols[c] = self.cols[c][:n]
        out.health = self.health.upto(iteration)
        return out

    def points(self, max_points: int | None = None) -> list[dict[str, Any]]:
        """The points as ``metrics`` message dicts (evenly thinned to ``max_points``),
        with the per-layer health series where they were recorded."""
        n = len(self)
        step = 1 if not max_points or n <= max_points else math.ceil(n / max_points)
        idx = list(range(n - 1, -1, -step))[::-1]
        out = []
        for i in idx:
            p: dict[str, Any] = {c: self.cols[c][i] for c in METRIC_COLUMNS}
            p["iteration"] = int(p["iteration"])
            for c in ("train_acc", "test_acc"):
                if math.isnan(p[c]):
                    p[c] = None
            p.update(self.health.at(p["iteration"]))
            out.append(p)
        return out

    @property
    def nbytes(self) -> int:
        """Bytes held by the columns."""
        return sum(col.itemsize * len(col) + 64 for col in self.cols.values()) \
            + self.health.nbytes


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


class History:
    """Checkpoints + command log + branches for one session's run.

    ``stepper`` is the session's live stepper: seeking restores into it, so the
    session keeps using the same object. Every advance of the run must go
    through :meth:`step_phase` and :meth:`train` so commands and checkpoints are
    kept in step.

    ``budget_bytes`` bounds everything the history holds (:meth:`nbytes`): the
    checkpoints get what the branches' metrics, command logs and markers leave,
    and are thinned (the interval doubled) to fit.
    """

    def __init__(self, stepper: Stepper, settings: RunSettings, *,
                 budget_bytes: int = 24 * 2**20, interval: int = 64) -> None:
        self.base = settings
        self.budget_bytes = budget_bytes
        self.interval = interval
        self._next_id = 1
        root = Branch(0, None, (0, 0))
        self.branches: dict[int, Branch] = {0: root}
        self.live = Walker(stepper, root)
        self.indexer: Walker | None = None  # builds a loaded run's checkpoints
        self.to_index: list[Branch] = []  # the loaded branches it builds next
        self._fresh: Stepper | None = None  # the indexer's stepper
        self.index_task: Any = None  # the asyncio task driving the indexer
        self.changed = True  # the timeline needs re-sending
        self._in_step = True  # False: the stepper's state is not this branch's (restore)
        self.sent_at = -math.inf  # when the last timeline message went out
        self.sent_length = -1  # and the run's length it showed
        self._cp_bytes = 0
        self._sync()

    @classmethod
    def from_log(cls, stepper: Stepper, settings: RunSettings, commands: list[Command],
                 head: Pos, **kw: Any) -> History:
        """A history for a saved run of one branch: ``commands`` replayed up to ``head``
        (lazily: checkpoints are taken as the replay passes them)."""
        return cls.from_branches(stepper, settings,
                                 [SavedBranch(0, None, (0, 0), list(commands), head)], 0, **kw)

    @classmethod
    def from_branches(cls, stepper: Stepper, settings: RunSettings,
                      saved: list[SavedBranch], current: int, **kw: Any) -> History:
        """A history for a saved run's branches (ids, forks and logs as saved), on
        branch ``current`` at iteration 0; the others are left at their heads. Each
        starts with iteration 0's checkpoint only (shared: commands are applied after
        a restore); :meth:`start_indexing` builds the rest."""
        h = cls(stepper, settings, **kw)
        cp0 = h.active.checkpoints[0]
        h.branches = {}
        for sb in saved:
            b = Branch(sb.id, sb.parent, sb.fork, commands=list(sb.commands),
                       checkpoints={0: cp0}, head=sb.head, cursor=sb.head)
            for c in sb.commands:
                b.add_marker({"iteration": c.iteration, "kind": c.kind, **c.wire()})
            h.branches[sb.id] = b
        h.live = Walker(stepper, h.branches[current])
        h.active.cursor = (0, 0)
        h._next_id = max(h.branches) + 1
        h._sync()
        return h

    @classmethod
    def copy_of(cls, src: History, stepper: Stepper, fresh: Stepper, **kw: Any) -> History:
        """A copy of ``src`` for another session, on ``stepper`` (a new one of
        ``src.base``): the same branches and command logs, so it replays bit for bit,
        with ``src``'s checkpoints shared (a snapshot is never changed once taken),
        its metrics, markers and halts copied, and at ``src``'s position.

        Branches are indexed on ``fresh`` (another new stepper) as a loaded run's are:
        each from its latest checkpoint to its head, one interval at most for a run
        played to the end, so no seek replays more than what ``src`` would."""
        saved = [SavedBranch(b.id, b.parent, b.fork, list(b.commands), b.head)
                 for b in sorted(src.branches.values(), key=lambda b: b.id)]
        h = cls.from_branches(stepper, src.base, saved, src.active.id, **kw)
        h.interval = src.interval
        for b in h.branches.values():
            theirs = src.branches[b.id]
            b.checkpoints = dict(theirs.checkpoints)
            b.metrics = copy.deepcopy(theirs.metrics)
            b.markers = [dict(m) for m in theirs.markers]
            b.halted = None if theirs.halted is None else dict(theirs.halted)
            b.loss_ema, b.last_spike = theirs.loss_ema, theirs.last_spike
        h._cp_bytes = h._count_cp_bytes()
        h._enforce_budget()
        if h.needs_indexing():
            h.start_indexing(fresh)
        try:
            h.seek(src.pos)
        except NonFiniteError:  # pragma: no cover - src got there without one
            log.info("copy stopped before a non-finite value", extra={"iteration": src.pos[0]})
        return h

    # ---- positions -----------------------------------------------------------------

    @property
    def stepper(self) -> Stepper:
        """The session's live stepper."""
        return self.live.stepper

    @property
    def active(self) -> Branch:
        """The branch the live stepper walks."""
        return self.live.branch

    @active.setter
    def active(self, b: Branch) -> None:
        self.live.branch = b

    @property
    def applied(self) -> int:
        """How many of the active branch's commands the live stepper has applied."""
        return self.live.applied

    @applied.setter
    def applied(self, n: int) -> None:
        self.live.applied = n

    @property
    def pos(self) -> Pos:
        """The live stepper's position."""
        return self.live.pos

    @property
    def head(self) -> Pos:
        """Furthest position of the active branch."""
        return self.active.head

    def settings_now(self) -> RunSettings:
        """The run's settings at the current position (base + applied ``set`` commands)."""
        update: dict[str, Any] = {}
        for cmd in self.active.commands[:self.applied]:
            if cmd.kind == "set":
                update.update({k: getattr(cmd.data, k) for k in cmd.data.model_fields_set
                               if getattr(cmd.data, k) is not None})
        return self.base.model_copy(update=update) if update else self.base

    # ---- keeping commands and checkpoints in step ------------------------------------

    def _sync(self, w: Walker | None = None) -> None:
        """At the walker's position: apply logged commands due here, checkpoint if due."""
        w = w or self.live
        st = w.stepper
        pos = w.pos
        cmds = w.branch.commands
        while w.applied < len(cmds) and cmds[w.applied].pos <= pos:
            apply_command(st, cmds[w.applied])
            w.applied += 1
        if st.phase_index == 0 and st.iteration % self.interval == 0 \
                and st.iteration not in w.branch.checkpoints and st.halted is None:
            snap = st.snapshot()
            cp = Checkpoint(snap, w.applied, snapshot_nbytes(snap))
            w.branch.checkpoints[st.iteration] = cp
            self._cp_bytes += cp.nbytes
            self._enforce_budget()

    def _moved(self, w: Walker) -> None:
        self._sync(w)
        if w.pos > w.branch.head:
            w.branch.head = w.pos
            w.branch.halted = None

    def _raw_step(self, w: Walker | None = None) -> PhaseRecord:
        w = w or self.live
        self._sync(w)
        rec = w.stepper.step_phase()
        self._moved(w)
        return rec

    def _raw_train(self, n: int, w: Walker | None = None) -> None:
        """``n`` whole iterations (after finishing an open one), stopping at
        checkpoint boundaries and logged commands."""
        w = w or self.live
        st = w.stepper
        while st.phase_index != 0:
            self._raw_step(w)
        target = st.iteration + n
        cmds = w.branch.commands
        while st.iteration < target:
            self._sync(w)
            nxt = cmds[w.applied] if w.applied < len(cmds) else None
            if nxt is not None and nxt.iteration == st.iteration:
                # a command inside this iteration: go phase by phase through it
                for _ in range(4):
                    self._raw_step(w)
                continue
            stop = min(target, (st.iteration // self.interval + 1) * self.interval)
            if nxt is not None:
                stop = min(stop, nxt.iteration)
            st.train(stop - st.iteration)
            self._moved(w)

    # ---- indexing a loaded run -----------------------------------------------------

    def needs_indexing(self) -> bool:
        """Whether a branch of a loaded run reaches past its first checkpoint interval
        (then :meth:`start_indexing` is worth a stepper)."""
        return any(b.head[0] > self.interval for b in self.branches.values())

    def start_indexing(self, fresh: Stepper) -> None:
        """Build the branches' checkpoints up to their heads on ``fresh`` (a new stepper
        of the run's settings), :meth:`index_some` at a time: the active branch first,
        then the others by id. A branch starts from the latest checkpoint it can take
        from a relative on the part of the run they share (:meth:`_share_checkpoints`),
        so that part is trained once."""
        rest = sorted((b for b in self.branches.values() if b is not self.active),
                      key=lambda b: b.id)
        self.to_index = [b for b in [self.active, *rest] if b.head[0] > self.interval]
        self._fresh = fresh
        self._index_next()

    def _index_next(self, first: Branch | None = None) -> None:
        """Start indexing ``first`` (taken out of the queue) or the next queued branch."""
        if first is not None and first in self.to_index:
            self.to_index.remove(first)
        else:
            first = None
            while self.to_index and first is None:
                b = self.to_index.pop(0)
                first = b if b.id in self.branches else None
        if first is None:
            self.indexer = None
            return
        assert self._fresh is not None
        self._share_checkpoints(first)
        _, cp = first.checkpoint_before(first.head[0])
        self._fresh.restore(cp.snap)
        self.indexer = Walker(self._fresh, first, cp.n_commands)
        self._sync(self.indexer)

    def _share_checkpoints(self, b: Branch) -> None:
        """Give ``b`` every checkpoint of a relative (any branch of its tree) taken on
        the part of the run they share: up to the iteration where their histories part
        (:meth:`_shared_until`), with only commands from the logs' common start (the
        same objects) applied. So a loaded run trains what branches share once,
        whatever order they are indexed in."""
        for d in self.branches.values():
            if d is b or not d.checkpoints:
                continue
            until = self._shared_until(b, d)
            if until is None:
                continue
            shared = shared_commands(d.commands, b.commands)
            for it, cp in d.checkpoints.items():
                if it <= until and cp.n_commands <= shared:
                    b.checkpoints.setdefault(it, cp)

    def _shared_until(self, a: Branch, b: Branch) -> int | None:
        """The last iteration at whose start branches ``a`` and ``b`` are in the same
        state (both descend from a common branch and neither has forked away from it
        before), or None when they are not related (a parent dropped)."""
        def agree(x: Branch) -> dict[int, float]:
            # each ancestor of x (x included) → up to where x follows it
            out: dict[int, float] = {}
            until = math.inf
            seen: Branch | None = x
            while seen is not None and seen.id not in out:
                out[seen.id] = until
                if seen.parent is None:
                    break
                until = min(until, seen.fork[0])
                seen = self.branches.get(seen.parent)
            return out

        ua, ub = agree(a), agree(b)
        common = next((i for i in ua if i in ub), None)
        if common is None:
            return None
        until = min(ua[common], ub[common])
        return None if until == math.inf else int(until)

    def index_some(self, n: int) -> bool:
        """Advance the indexer by up to ``n`` iterations; True when there is no more
        to do (every queued branch done, halted or dropped)."""
        w = self.indexer
        if w is None:
            return True
        head = w.branch.head
        if w.branch.id not in self.branches or w.pos[0] >= head[0]:
            self._index_next()
            return self.indexer is None
        try:
            self._raw_train(min(n, head[0] - w.pos[0]), w)
        except NonFiniteError:
            self._index_next()
            return self.indexer is None
        return False

    def _unindexed(self, b: Branch) -> bool:
        """Whether ``b`` is being indexed or waits for it."""
        return (self.indexer is not None and self.indexer.branch is b) or b in self.to_index

    def _reach(self, b: Branch) -> int:
        """How far seeks in ``b`` reach at once (its head once indexed)."""
        w = self.indexer
        if w is not None and w.branch is b:
            return w.pos[0]
        if b in self.to_index:
            return max(it for it in b.checkpoints if it <= b.head[0])
        return b.head[0]

    # ---- advancing (the session's live run) ----------------------------------------

    def step_phase(self) -> PhaseRecord:
        """Run the next phase (re-applying logged commands when behind the head)."""
        try:
            return self._raw_step()
        except NonFiniteError as e:
            self._halt(e)
            raise

    def step_iteration(self) -> tuple[list[PhaseRecord], NonFiniteError | None]:
        """The remaining phases of the current iteration (all four from its start), as
        :meth:`step_phase` (fast play): the records, and the error that halted the run
        in one of them (the records are then those of the phases before it). The
        engine steps the iteration at once (:meth:`Stepper.step_iteration`), and
        commands and checkpoints are kept in step once for it, unless a logged command
        falls inside it."""
        w = self.live
        st = w.stepper
        self._sync(w)
        cmds = w.branch.commands
        recs: list[PhaseRecord] = []
        if st.phase_index != 0 or (w.applied < len(cmds)
                                   and cmds[w.applied].iteration == st.iteration):
            try:
                recs.append(self.step_phase())
                while st.phase_index != 0:
                    recs.append(self.step_phase())
            except NonFiniteError as e:
                return recs, e
            return recs, None
        try:
            recs = st.step_iteration()
        except NonFiniteError as e:
            self._halt(e)
            # the phases before the halt, as first computed (a replay; rare)
            try:
                recs = self.seek(self.pos) if self.pos[1] > 0 else []
            except NonFiniteError:  # pragma: no cover - the replay stops before the halt
                recs = []
            return recs, e
        self._moved(w)
        return recs, None

    def train(self, n: int) -> None:
        """Fast path: ``n`` whole iterations, as :meth:`Stepper.train`."""
        try:
            self._raw_train(n)
        except NonFiniteError as e:
            self._halt(e)
            raise

    def _halt(self, e: NonFiniteError) -> None:
        """The run produced a non-finite value: mark it, and rewind the stepper to
        the replayable state just before (the live state is half-updated)."""
        pos = self.pos
        b = self.active
        b.head = max(b.head, pos)
        b.halted = {"iteration": e.iteration, "phase": e.phase, "where": e.where}
        if not any(m["kind"] == "nonfinite" and m["iteration"] == e.iteration
                   for m in b.markers):
            b.add_marker({"iteration": e.iteration, "kind": "nonfinite", "phase": e.phase,
                          "where": e.where})
        try:
            self._replay_to(pos)
        except NonFiniteError:
            log.info("non-finite state at the halt position", extra={"iteration": pos[0]})
        self.stepper.halted = e
        self.changed = True

    # ---- seeking -------------------------------------------------------------------

    def _replay_to(self, pos: Pos) -> None:
        """Put the stepper at ``pos`` by restore + replay (no frames). Going forward
        within reach of no nearer checkpoint, it carries on from where it is."""
        it, cp = self.active.checkpoint_before(pos[0])
        st = self.stepper
        if not (self._in_step and st.halted is None and it <= self.pos[0]
                and self.pos <= pos):
            st.restore(cp.snap)
            self.applied = cp.n_commands
            self._in_step = True
        self._sync()
        while self.pos < pos and st.phase_index != 0:
            self._raw_step()
        if self.pos < pos:
            self._raw_train(pos[0] - st.iteration)
        while self.pos < pos:
            self._raw_step()
        self._sync()

    def clamp(self, pos: Pos) -> Pos:
        """``pos`` limited to the run so far (``(0, 0)`` … head) and, while a loaded
        run is being indexed, to the part whose checkpoints exist."""
        b = self.active
        pos = max((0, 0), min(pos, b.head))
        if self._unindexed(b):
            reach = self._reach(b)
            it, _ = b.checkpoint_before(pos[0])
            if pos[0] > reach and pos[0] - it > 2 * self.interval:
                pos = (reach, 0)
        return pos

    @property
    def indexed(self) -> int:
        """Iterations of the active branch that a seek reaches quickly."""
        return self._reach(self.active)

    def seek(self, pos: Pos) -> list[PhaseRecord]:
        """Go to ``pos`` (clamped to the head) and return the records of the phases
        already run in the iteration shown there.

        At ``(i, p)`` with ``p > 0`` those are phases ``0 … p−1`` of iteration ``i``;
        at ``(i, 0)`` all four phases of iteration ``i − 1`` (none at ``(0, 0)``).
        They equal, bit for bit, the records first computed at those phases.
        Raises :class:`NonFiniteError` if the replay meets a non-finite value
        (possible only for a loaded run whose recorded length is too long).
        """
        pos = self.clamp(pos)
        if pos[1] == 0 and pos[0] > 0:
            start, n_phases = (pos[0] - 1, 0), 4
        else:
            start, n_phases = (pos[0], 0), pos[1]
        try:
            self._replay_to(start)
            records = [self._raw_step() for _ in range(n_phases)]
        except NonFiniteError as e:
            self._halt(e)
            raise
        b = self.active
        if b.halted is not None and self.pos == b.head:
            self.stepper.halted = NonFiniteError(b.halted["phase"], b.halted["where"],
                                                 b.halted["iteration"])
        self.changed = True
        return records

    # ---- changes, branches ---------------------------------------------------------

    def record(self, kind: str, data: Any) -> Branch | None:
        """Log a command just applied to the stepper at the current position.

        Behind the head this starts a new branch (the old future is kept); the
        new branch is returned (``None`` when the active branch was extended).
        """
        b = self.active
        pos = self.pos
        if self.total_commands() >= MAX_COMMANDS:
            raise HistoryError(f"a run keeps at most {MAX_COMMANDS} changes in all its "
                               "branches; reset to go on")
        new: Branch | None = None
        if pos < b.head or self.applied < len(b.commands):
            new = self._fork(pos)
            b = new
        cmd = Command(pos[0], pos[1], kind, data)
        b.commands.append(cmd)
        self.applied = len(b.commands)
        marker: dict[str, Any] = {"iteration": pos[0], "kind": kind, "phase": PHASES[pos[1]]}
        marker.update(cmd.wire())
        b.add_marker(marker)
        b.head = max(b.head, pos)
        b.halted = None
        self.changed = True
        return new

    def total_commands(self) -> int:
        """Changes logged in all branches, those branches share counted once (a saved
        run holds each once, so this bounds a run file's size)."""
        return len({id(c) for b in self.branches.values() for c in b.commands})

    def set(self, changes: Changes) -> Branch | None:
        """Apply ``changes`` now (``set`` message) and log them; see :meth:`record`.

        Raises ValueError (nothing changed) if the engine refuses a value.
        """
        self.stepper.set_hyper(**engine_changes(changes))
        return self.record("set", changes)

    def _fork(self, pos: Pos) -> Branch:
        parent = self.active
        parent.cursor = pos
        if len(self.branches) >= MAX_BRANCHES:
            victim = min((b for b in self.branches.values() if b is not parent),
                         key=lambda b: b.id)
            del self.branches[victim.id]
            self._cp_bytes = self._count_cp_bytes()
        b = Branch(self._next_id, parent.id, pos)
        self._next_id += 1
        b.commands = parent.commands[:self.applied]
        b.checkpoints = {it: cp for it, cp in parent.checkpoints.items() if it <= pos[0]}
        b.head = pos
        b.cursor = pos
        b.metrics = parent.metrics.upto(pos[0])
        b.markers = [m for m in parent.markers if m["iteration"] <= pos[0]]
        b.loss_ema = parent.loss_ema
        self.branches[b.id] = b
        self.active = b
        log.info("branch", extra={"branch": b.id, "parent": parent.id, "iteration": pos[0]})
        return b

    def checkout(self, branch_id: int) -> list[PhaseRecord]:
        """Switch to branch ``branch_id`` at the position it was left; returns the
        records to show there (as :meth:`seek`)."""
        b = self.branches.get(branch_id)
        if b is None:
            raise HistoryError(f"no branch {branch_id}; branches: {sorted(self.branches)}")
        self.active.cursor = self.pos
        self.active = b
        self._in_step = False
        self.changed = True
        if b in self.to_index:
            # a loaded branch not indexed yet: index it now, the one under way after it
            w = self.indexer
            if w is not None and w.branch.head[0] > w.pos[0]:
                self.to_index.insert(0, w.branch)
            self._index_next(b)
        return self.seek(b.cursor)

    # ---- metrics and markers -------------------------------------------------------

    def record_metrics(self, point: dict[str, Any]) -> None:
        """Keep a ``metrics`` point (once per iteration); mark loss spikes."""
        b = self.active
        it = int(point["iteration"])
        if it <= b.metrics.last_iteration:
            return
        b.metrics.add(point)
        loss = point.get("train_loss")
        if loss is None or not math.isfinite(loss):
            return
        ema = b.loss_ema
        if ema is not None and len(b.metrics) > SPIKE_MIN_POINTS and loss > SPIKE_RATIO * ema \
                and loss - ema > 1e-3 and len(b.metrics) - b.last_spike > 10:
            b.add_marker({"iteration": it, "kind": "spike", "loss": loss, "before": ema})
            b.last_spike = len(b.metrics)
            self.changed = True
        b.loss_ema = loss if ema is None else 0.9 * ema + 0.1 * loss

    # ---- memory --------------------------------------------------------------------

    def _unique_checkpoints(self) -> dict[int, Checkpoint]:
        out: dict[int, Checkpoint] = {}
        for b in self.branches.values():
            for cp in b.checkpoints.values():
                out[id(cp)] = cp
        return out

    def _count_cp_bytes(self) -> int:
        return sum(cp.nbytes for cp in self._unique_checkpoints().values())

    def nbytes(self) -> int:
        """Bytes held: checkpoints (shared ones once), metrics, command log, markers."""
        return self._count_cp_bytes() + self._other_bytes()

    def _other_bytes(self) -> int:
        """Bytes of every branch's metrics, command log and markers (~200 bytes each)."""
        return sum(b.metrics.nbytes + 200 * (len(b.commands) + len(b.markers))
                   for b in self.branches.values())

    def _enforce_budget(self) -> None:
        """Past the budget, double the interval and drop the checkpoints off it. The
        checkpoints get what metrics and logs leave, but at least half the budget: the
        metrics are bounded by their own caps (≈ 14 MB at worst), and a history with no
        checkpoints left would replay the whole run on every seek."""
        limit = max(self.budget_bytes - self._other_bytes(), self.budget_bytes // 2)
        while self._cp_bytes > limit and self.interval < 2**30:
            self.interval *= 2
            for b in self.branches.values():
                b.checkpoints = {it: cp for it, cp in b.checkpoints.items()
                                 if it % self.interval == 0}
            self._cp_bytes = self._count_cp_bytes()
            log.info("history thinned", extra={"interval": self.interval})

    # ---- the timeline message ------------------------------------------------------

    def timeline(self) -> dict[str, Any]:
        """The ``timeline`` message body: length, position, markers, branches."""
        b = self.active
        branches = []
        for br in sorted(self.branches.values(), key=lambda x: x.id):
            m = br.metrics
            first = next((c for c in br.commands if c.pos >= br.fork), None) \
                if br.parent is not None else None
            branches.append({
                "id": br.id, "parent": br.parent,
                "fork": {"iteration": br.fork[0], "phase": PHASES[br.fork[1]]},
                "length": br.head[0],
                "change": None if first is None else first.wire(),
                "train_loss": m.cols["train_loss"][-1] if len(m) else None,
                "halted": br.halted is not None,
            })
        return {
            "branch": b.id,
            "length": b.head[0],
            "end_phase": PHASES[b.head[1]],
            "iteration": self.pos[0],
            "phase": PHASES[self.pos[1]],
            "interval": self.interval,
            "indexed": self.indexed,
            "markers": b.markers,
            "branches": branches,
        }


def records_equal(a: PhaseRecord, b: PhaseRecord) -> bool:
    """True when two records hold the same ids and bit-identical values."""
    if (a.phase, a.iteration) != (b.phase, b.iteration) or a.values.keys() != b.values.keys():
        return False
    for k, va in a.values.items():
        x, y = np.asarray(va), np.asarray(b.values[k])
        if x.shape != y.shape or x.dtype != y.dtype or x.tobytes() != y.tobytes():
            return False
    return True
