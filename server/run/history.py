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

This module is one class of about 800 lines, on purpose: every method keeps
the same invariants (commands applied in order, checkpoints taken at the
interval, the memory budget, the head) and splitting it would spread them. Its
parts are elsewhere: the pieces in :mod:`server.run.branch`, the chart series in
:mod:`server.run.series`, a loaded run's indexing in :mod:`server.run.indexing`.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Generator, Iterator
from typing import Any, TypeVar

from engine import metrics
from engine.stacked import Fast
from engine.stepper import PHASES, NonFiniteError, PhaseRecord, Stepper, TrainStats
from server.protocol import Changes, RunSettings
from server.run.branch import (
    Branch,
    Checkpoint,
    Command,
    HistoryError,
    Pos,
    SavedBranch,
    Walker,
    apply_command,
    engine_changes,
    records_equal,
    snapshot_nbytes,
)
from server.run.drawing import LEARN_WEIGHT, learn_batch
from server.run.indexing import INDEX_METRIC_POINTS, INDEX_TRACE_POINTS, Indexer
from server.run.series import metrics_point, trace_rows

# re-exported: a run's history is used through this module
__all__ = ["Branch", "Command", "History", "HistoryError", "Pos", "SavedBranch", "drain",
           "records_equal"]

log = logging.getLogger("backprop_lab.history")


class Computed:
    """What the engine computed for every run of this process, for ``/metrics``:
    ``iterations`` stepped or replayed (indexing and seeks included), ``together``
    those of them that fast play took from a group (engine.stacked). Written on the
    engine thread only; a reader elsewhere sees a recent value."""

    iterations: int = 0
    together: int = 0


COMPUTED = Computed()
T = TypeVar("T")

#: changes a run keeps, all branches together: a saved run of that many (~100 bytes
#: each) still loads within the default max_message_bytes (64 KB)
MAX_COMMANDS = 500
MAX_BRANCHES = 8
#: work of one piece of a seek's replay (then other learners get their turn)
PIECE_S = 0.005
PIECE_MAX_ITERATIONS = 256
SPIKE_RATIO = 2.0
SPIKE_MIN_POINTS = 5


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
        #: the interval before any thinning (a page back after leaving gets it again)
        self.dense_interval = interval
        self._next_id = 1
        root = Branch(0, None, (0, 0))
        self.branches: dict[int, Branch] = {0: root}
        self.live = Walker(stepper, root)
        self.indexing: Indexer | None = None  # builds a loaded run's checkpoints
        self.changed = True  # the timeline needs re-sending
        self._in_step = True  # False: the stepper's state is not this branch's (restore)
        self.sent_at = -math.inf  # when the last timeline message went out
        self.sent_length = -1  # and the run's length it showed
        self.sent_pos: Pos = (-1, 0)  # and the position
        self._cp_bytes = 0
        #: the last seek's records, with the stepper, branch and position they are of:
        #: a seek to where the live stepper already is (a page drawn again: a reload,
        #: a copy attached) returns them instead of replaying an interval at once
        self._shown: tuple[Stepper, Branch, Pos, list[PhaseRecord]] | None = None
        self.sync()

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
            cursor = sb.head if sb.cursor is None else min(max(sb.cursor, (0, 0)), sb.head)
            b = Branch(sb.id, sb.parent, sb.fork, commands=list(sb.commands),
                       checkpoints={0: cp0}, head=sb.head, cursor=cursor)
            for c in sb.commands:
                b.add_marker(c.marker())
            h.branches[sb.id] = b
        h.live = Walker(stepper, h.branches[current])
        h.active.cursor = (0, 0)
        h._next_id = max(h.branches) + 1
        h.sync()
        return h

    @classmethod
    def copy_of(cls, src: History, stepper: Stepper, fresh: Stepper, **kw: Any) -> History:
        """A copy of ``src`` for another session, on ``stepper`` (a new one of
        ``src.base``): the same branches and command logs, so it replays bit for bit,
        with ``src``'s checkpoints shared (a snapshot is never changed once taken),
        its metrics, markers and halts copied; at iteration 0 (seek to ``src.pos``).

        Branches are indexed on ``fresh`` (another new stepper) as a loaded run's are:
        each from its latest checkpoint to its head, one interval at most for a run
        played to the end, so no seek replays more than what ``src`` would."""
        saved = [SavedBranch(b.id, b.parent, b.fork, list(b.commands), b.head)
                 for b in sorted(src.branches.values(), key=lambda b: b.id)]
        h = cls.from_branches(stepper, src.base, saved, src.active.id, **kw)
        h.interval, h.dense_interval = src.interval, src.dense_interval
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

    def sync(self, w: Walker | None = None) -> None:
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
        if w is self.live:
            self._shown = None  # (its arrays are not kept past the position they are of)
        self.sync(w)
        if w.pos > w.branch.head:
            w.branch.head = w.pos
            w.branch.halted = None

    def _raw_step(self, w: Walker | None = None) -> PhaseRecord:
        w = w or self.live
        self.sync(w)
        rec = w.stepper.step_phase()
        if rec.phase == "update":
            COMPUTED.iterations += 1
        self._moved(w)
        return rec

    def advance(self, n: int, w: Walker | None = None,
                stats: list[TrainStats] | None = None) -> None:
        """``n`` whole iterations (after finishing an open one), stopping at
        checkpoint boundaries and logged commands; the fast path's per-iteration
        numbers are appended to ``stats`` (iterations stepped phase by phase
        through a logged command have none there)."""
        w = w or self.live
        st = w.stepper
        while st.phase_index != 0:
            self._raw_step(w)
        target = st.iteration + n
        cmds = w.branch.commands
        while st.iteration < target:
            self.sync(w)
            nxt = cmds[w.applied] if w.applied < len(cmds) else None
            if nxt is not None and nxt.iteration == st.iteration:
                # a command inside this iteration: go phase by phase through it
                for _ in range(4):
                    self._raw_step(w)
                continue
            stop = min(target, (st.iteration // self.interval + 1) * self.interval)
            if nxt is not None:
                stop = min(stop, nxt.iteration)
            k = stop - st.iteration
            done = st.train(k)
            COMPUTED.iterations += k
            if stats is not None:
                stats.append(done)
            self._moved(w)

    # ---- indexing a loaded run (server.run.indexing) ---------------------------------

    def needs_indexing(self) -> bool:
        """Whether a branch of a loaded run lacks checkpoints past its first interval,
        or has iterations but no metrics (its charts would be empty): then
        :meth:`start_indexing` is worth a stepper."""
        return any(self._unbuilt(b) for b in self.branches.values())

    def _unbuilt(self, b: Branch) -> bool:
        sparse = b.head[0] > max(b.checkpoints, default=0) + self.interval
        return sparse or (b.head[0] > 0 and not len(b.metrics))

    def start_indexing(self, fresh: Stepper) -> None:
        """Build the branches' checkpoints up to their heads on ``fresh`` (a new stepper
        of the run's settings), :meth:`index_some` at a time: the active branch first,
        then the others by id."""
        rest = sorted((b for b in self.branches.values() if b is not self.active),
                      key=lambda b: b.id)
        queue = [b for b in [self.active, *rest] if self._unbuilt(b)]
        self.indexing = Indexer(self, fresh, queue)

    @property
    def indexer(self) -> Walker | None:
        """The walker building checkpoints now (None when indexing is done)."""
        return None if self.indexing is None else self.indexing.walker

    @property
    def to_index(self) -> list[Branch]:
        """The loaded branches indexed next."""
        return [] if self.indexing is None else self.indexing.queue

    def index_some(self, n: int) -> bool:
        """Advance the indexer by up to ``n`` iterations; True when there is no more
        to do (every queued branch done, halted or dropped)."""
        if self.indexing is None:
            return True
        done = self.indexing.index_some(n)
        if done:  # (its stepper goes: a whole network's worth, per loaded run)
            self.indexing = None
        return done

    def _unindexed(self, b: Branch) -> bool:
        return self.indexing is not None and self.indexing.waits_for(b)

    def _reach(self, b: Branch) -> int:
        return b.head[0] if self.indexing is None else self.indexing.reach(b)

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
        self.sync(w)
        recs: list[PhaseRecord] = []
        if self._by_phases(w):
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
        COMPUTED.iterations += 1
        self._moved(w)
        return recs, None

    @staticmethod
    def _by_phases(w: Walker) -> bool:
        """Whether the walker's next iteration goes phase by phase: one is under way,
        or a logged command falls inside it (after :meth:`sync`)."""
        cmds = w.branch.commands
        return w.stepper.phase_index != 0 or (
            w.applied < len(cmds) and cmds[w.applied].iteration == w.stepper.iteration)

    def step_fast(self) -> Fast | None:
        """Fast play's next whole iteration from the one computed with other runs of
        this shape (:meth:`Stepper.step_fast`, :mod:`engine.stacked`): the stepper and
        the history move on as :meth:`step_iteration` moves them. None, with nothing
        changed, when there is none for this iteration or a logged command falls
        inside it (then :meth:`step_iteration`)."""
        w = self.live
        st = w.stepper
        if st._fast is None:
            return None
        self.sync(w)
        if self._by_phases(w):
            st._fast = None
            return None
        f = st.step_fast()
        if f is not None:
            COMPUTED.iterations += 1
            COMPUTED.together += 1
            self._moved(w)
        return f

    def train(self, n: int) -> list[TrainStats]:
        """Fast path: ``n`` whole iterations, as :meth:`Stepper.train`; their
        per-iteration numbers (:class:`~engine.records.TrainStats`, in pieces)."""
        stats: list[TrainStats] = []
        try:
            self.advance(n, stats=stats)
        except NonFiniteError as e:
            self._halt(e)
            raise
        return stats

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
        """Put the stepper at ``pos`` by restore + replay (no frames), at once."""
        drain(self._replay_pieces(pos))

    def _replay_pieces(self, pos: Pos, record: bool = False) -> Iterator[None]:
        """:meth:`_replay_to` in pieces of about :data:`PIECE_S` of training each (a
        yield between them). Going forward within reach of no nearer checkpoint, it
        carries on from where it is. With ``record``, metrics points are taken on the
        way, as the indexer takes them (a loaded run opened at its position)."""
        it, cp = self.active.checkpoint_before(pos[0])
        st = self.stepper
        if not (self._in_step and st.halted is None and it <= self.pos[0]
                and self.pos <= pos):
            st.restore(cp.snap)
            self.applied = cp.n_commands
            self._in_step = True
        self.sync()
        while self.pos < pos and st.phase_index != 0:
            self._raw_step()
        n = 1
        every = self._points_every()
        while self.pos[0] < pos[0]:
            t0 = time.perf_counter()
            k = min(n, pos[0] - st.iteration)
            due = (st.iteration // every + 1) * every
            if record:
                k = min(k, due - st.iteration)
            stats: list[TrainStats] | None = [] if record else None
            self.advance(k, stats=stats)
            for p in trace_rows(stats or [], self._points_every(INDEX_TRACE_POINTS)):
                self.record_trace(p)
            if record and self.pos == (due, 0):
                self.record_point(self.live)
            per = (time.perf_counter() - t0) / k
            n = max(1, min(PIECE_MAX_ITERATIONS, int(PIECE_S / max(per, 1e-7))))
            if self.pos[0] < pos[0]:
                yield
        while self.pos < pos:
            self._raw_step()
        self.sync()

    def _points_every(self, points: int = INDEX_METRIC_POINTS) -> int:
        """Iterations between the metrics points (or trace points) a replay records
        (as the indexer's)."""
        return max(1, math.ceil(self.active.head[0] / points))

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

    def let_go(self) -> None:
        """Keep none of the values shown at the position (a session kept for a reload):
        the live stepper's last iteration and the last seek's records go; a seek to the
        same position computes them again, as after any move."""
        self._shown = None
        self.stepper.forget_last()

    def seek(self, pos: Pos) -> list[PhaseRecord]:
        """Go to ``pos`` (clamped to the head) and return the records of the phases
        already run in the iteration shown there (:meth:`seek_pieces`, at once).

        Where the live stepper already is (the last seek's position, on the same
        branch, nothing run since) the last seek's records come back without a replay:
        the phases before a position are the branch's past, which no command changes
        (a change behind the head starts another branch), and the commands logged
        there are applied already."""
        shown = self._shown
        if (shown is not None and shown[0] is self.stepper and shown[1] is self.active
                and self._in_step and shown[2] == self.pos == self.clamp(pos)):
            self.changed = True
            return list(shown[3])
        return drain(self.seek_pieces(pos))

    def seek_pieces(self, pos: Pos, record: bool = False
                    ) -> Generator[None, None, list[PhaseRecord]]:
        """Go to ``pos`` (clamped to the head), a piece of replay at a time, and return
        the records of the phases already run in the iteration shown there.

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
            yield from self._replay_pieces(start, record)
            records = [self._raw_step() for _ in range(n_phases)]
            if record and self.pos[1] == 0 and self.pos[0] % self._points_every() == 0:
                self.record_point(self.live)  # (the last whole iteration's, when it is due)
        except NonFiniteError as e:
            self._halt(e)
            raise
        b = self.active
        if b.halted is not None and self.pos == b.head:
            self.stepper.halted = NonFiniteError(b.halted["phase"], b.halted["where"],
                                                 b.halted["iteration"])
        self.changed = True
        self._shown = (self.stepper, b, self.pos, records)
        return records

    # ---- changes, branches ---------------------------------------------------------

    def record(self, kind: str, data: Any) -> Branch | None:
        """Log a command just applied to the stepper at the current position.

        Behind the head this starts a new branch (the old future is kept); the
        new branch is returned (``None`` when the active branch was extended).
        """
        b = self.active
        pos = self.pos
        cmd = Command(pos[0], pos[1], kind, data)
        if self.total_commands() + cmd.weight > MAX_COMMANDS:
            raise HistoryError(f"a run keeps at most {MAX_COMMANDS} changes in all its "
                               f"branches (a drawing learned counts {LEARN_WEIGHT}); "
                               "reset to go on")
        new: Branch | None = None
        if pos < b.head or self.applied < len(b.commands):
            new = self._fork(pos)
            b = new
        b.commands.append(cmd)
        self.applied = len(b.commands)
        b.add_marker(cmd.marker())
        b.head = max(b.head, pos)
        b.halted = None
        self.changed = True
        return new

    def total_commands(self) -> int:
        """Changes logged in all branches, those branches share counted once (a saved
        run holds each once, so this bounds a run file's size), each by its
        :attr:`~server.run.branch.Command.weight`."""
        unique = {id(c): c for b in self.branches.values() for c in b.commands}
        return sum(c.weight for c in unique.values())

    def set(self, changes: Changes) -> Branch | None:
        """Apply ``changes`` now (``set`` message) and log them; see :meth:`record`.

        Raises ValueError (nothing changed) if the engine refuses a value.
        """
        self.stepper.set_hyper(**engine_changes(changes))
        return self.record("set", changes)

    def learn(self, data: dict[str, Any]) -> Branch | None:
        """Make the next iteration run on a learner's drawing (``learn`` message; ``data``
        as :func:`server.run.drawing.check_learn` gives it) and log it; see
        :meth:`record`. Only between iterations. Raises ValueError (HistoryError at
        the change budget) with nothing changed."""
        st = self.stepper
        if st.phase_index != 0:
            raise ValueError("a drawing is learned between iterations")
        x, t = learn_batch(st, data)
        branch = self.record("learn", data)
        st.give_batch(x, t)
        return branch

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
        return drain(self.checkout_pieces(branch_id))

    def checkout_pieces(self, branch_id: int) -> Generator[None, None, list[PhaseRecord]]:
        """:meth:`checkout`, its replay a piece at a time."""
        b = self.branches.get(branch_id)
        if b is None:
            raise HistoryError(f"no branch {branch_id}; branches: {sorted(self.branches)}")
        self.active.cursor = self.pos
        self.active = b
        self._in_step = False
        self.changed = True
        if self.indexing is not None:
            # a loaded branch not indexed yet: index it now, the one under way after it
            self.indexing.prefer(b)
        return (yield from self.seek_pieces(b.cursor))

    # ---- metrics and markers -------------------------------------------------------

    def record_point(self, w: Walker) -> None:
        """A metrics point of ``w``'s branch at its stepper's position (an indexer on
        its way: the charts of a loaded run come back as it is indexed)."""
        st = w.stepper
        m = metrics.collect(st)
        lr = m["lr"] if m["lr"] is not None else st.lr_at(max(st.iteration - 1, 0))
        self.record_metrics(metrics_point(m, lr), w.branch)

    def record_metrics(self, point: dict[str, Any], b: Branch | None = None) -> None:
        """Keep a ``metrics`` point of branch ``b`` (the active one by default), in
        iteration order, once per iteration; mark loss spikes."""
        b = b or self.active
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

    def record_trace(self, point: dict[str, Any]) -> None:
        """Keep a trace point (:func:`server.run.series.trace_point`) of the active
        branch, once per iteration."""
        self.active.metrics.add_trace(point)

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

    def shrink(self, budget_bytes: int) -> None:
        """Hold at most ``budget_bytes`` from now on (the server is short of memory):
        checkpoints are thinned to fit; seeks replay further, nothing is lost."""
        self.budget_bytes = min(self.budget_bytes, budget_bytes)
        self._enforce_budget()

    def regrow(self, budget_bytes: int) -> None:
        """Hold up to ``budget_bytes`` again (a page back after leaving): checkpoints are
        taken as densely as before any thinning from here on (thinned again if the
        budget needs it); the ones thinned away stay gone, so a seek far back still
        replays from a sparser one."""
        self.budget_bytes = max(self.budget_bytes, budget_bytes)
        self.interval = self.dense_interval
        self._enforce_budget()

    def _enforce_budget(self) -> None:
        """Past the budget, double the interval and drop the checkpoints off it. The
        checkpoints get what metrics and logs leave, but at least half the budget: the
        metrics are bounded by their own caps (≈ 14 MB at worst), and a history with no
        checkpoints left would replay the whole run on every seek."""
        limit = max(self.budget_bytes - self._other_bytes(), self.budget_bytes // 2)
        if self._cp_bytes <= limit:
            return
        # the checkpoint a seek to the live position starts from stays: a page back
        # after leaving (a thinned history) replays as little as before it left
        # (else up to the thinned interval at once: 1.5 s for the largest network)
        here = self.active
        keep = here.checkpoint_before(max(self.pos[0] - 1, 0))[0]
        while self._cp_bytes > limit and self.interval < 2**30:
            self.interval *= 2
            for b in self.branches.values():
                b.checkpoints = {it: cp for it, cp in b.checkpoints.items()
                                 if it % self.interval == 0 or (b is here and it == keep)}
            self._cp_bytes = self._count_cp_bytes()
            log.info("history thinned", extra={"interval": self.interval})
            if {it for b in self.branches.values() for it in b.checkpoints} <= {0, keep}:
                break  # the first and the live one's are all that is left: they stay

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




def drain(pieces: Generator[None, None, T] | Iterator[None]) -> T:
    """Run every piece of a generator at once; its return value."""
    try:
        while True:
            next(pieces)
    except StopIteration as stop:
        return stop.value
