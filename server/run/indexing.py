"""Indexing a loaded run: building its branches' checkpoints up to their heads.

A saved run holds commands, not checkpoints: when it is opened, each branch
starts with iteration 0's checkpoint only, and a far seek would replay the
whole run. The :class:`Indexer` trains each branch on a stepper of its own, a
slice at a time (:meth:`Indexer.index_some`), taking the checkpoints as the
history's policy takes them, the active branch first; a branch takes from a
relative every checkpoint of the part of the run they share, so that part is
trained once. Until a branch is indexed, seeks reach as far as it got
(:meth:`Indexer.reach`).
"""

from __future__ import annotations

import math
import weakref
from typing import Protocol, cast

from engine.stepper import NonFiniteError, Stepper, TrainStats
from server.run.branch import Branch, Walker, shared_commands
from server.run.series import trace_rows

#: metrics points a branch gets as it is indexed (its charts come back: the numbers
#: are the engine's, recomputed on the way)
INDEX_METRIC_POINTS = 1_000
#: trace points (batch loss, rate, gradient norms: free, training computes them)
INDEX_TRACE_POINTS = 2_000


class Replayer(Protocol):
    """What the indexer needs of the history: its branches and how it walks them."""

    branches: dict[int, Branch]

    def record_point(self, w: Walker) -> None:
        """Record a metrics point of ``w``'s branch where its stepper is."""

    def sync(self, w: Walker) -> None:
        """At the walker's position: apply logged commands due here, checkpoint if due."""

    def advance(self, n: int, w: Walker, stats: list[TrainStats] | None = None) -> None:
        """``n`` whole iterations of ``w``, keeping commands and checkpoints in step;
        the fast path's per-iteration numbers appended to ``stats``."""


class Indexer:
    """Builds the checkpoints of the queued branches of one history."""

    def __init__(self, history: Replayer, fresh: Stepper, queue: list[Branch]) -> None:
        # (weakly: the history holds its indexer, and a session freed mid-indexing must
        # free its run at once, not when the cyclic collector runs)
        self.history = cast(Replayer, weakref.proxy(history))
        self.fresh = fresh  # a new stepper of the run's settings, the indexer's own
        self.queue = queue  # the branches to index after the current one
        self.walker: Walker | None = None
        self.next()

    def next(self, first: Branch | None = None) -> None:
        """Start indexing ``first`` (taken out of the queue) or the next queued branch."""
        if first is not None and first in self.queue:
            self.queue.remove(first)
        else:
            first = None
            while self.queue and first is None:
                b = self.queue.pop(0)
                first = b if b.id in self.history.branches else None
        if first is None:
            self.walker = None
            return
        self._share_checkpoints(first)
        _, cp = first.checkpoint_before(first.head[0])
        self.fresh.restore(cp.snap)
        self.walker = Walker(self.fresh, first, cp.n_commands)
        self.history.sync(self.walker)

    def prefer(self, b: Branch) -> None:
        """Index ``b`` now (a branch the learner switched to), the one under way after it."""
        if b not in self.queue:
            return
        w = self.walker
        if w is not None and w.branch.head[0] > w.pos[0]:
            self.queue.insert(0, w.branch)
        self.next(b)

    def _share_checkpoints(self, b: Branch) -> None:
        """Give ``b`` every checkpoint of a relative (any branch of its tree) taken on
        the part of the run they share: up to the iteration where their histories part
        (:meth:`_shared_until`), with only commands from the logs' common start (the
        same objects) applied. So a loaded run trains what branches share once,
        whatever order they are indexed in."""
        for d in self.history.branches.values():
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
        branches = self.history.branches

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
                seen = branches.get(seen.parent)
            return out

        ua, ub = agree(a), agree(b)
        common = next((i for i in ua if i in ub), None)
        if common is None:
            return None
        until = min(ua[common], ub[common])
        return None if until == math.inf else int(until)

    def index_some(self, n: int) -> bool:
        """Advance by up to ``n`` iterations; True when there is no more to do (every
        queued branch done, halted or dropped)."""
        w = self.walker
        if w is None:
            return True
        head = w.branch.head
        if w.branch.id not in self.history.branches or w.pos[0] >= head[0]:
            self.next()
            return self.walker is None
        every = max(1, math.ceil(head[0] / INDEX_METRIC_POINTS))
        trace_every = max(1, math.ceil(head[0] / INDEX_TRACE_POINTS))
        stop = min(w.pos[0] + n, head[0])
        while w.pos[0] < stop:
            due = (w.pos[0] // every + 1) * every  # the next iteration with a metrics point
            stats: list[TrainStats] = []
            try:
                self.history.advance(min(stop, due) - w.pos[0], w, stats)
            except NonFiniteError:
                self.next()
                return self.walker is None
            for p in trace_rows(stats, trace_every):
                w.branch.metrics.add_trace(p)
            if w.pos == (due, 0):
                self.history.record_point(w)
        return False

    def waits_for(self, b: Branch) -> bool:
        """Whether ``b`` is being indexed or waits for it."""
        return (self.walker is not None and self.walker.branch is b) or b in self.queue

    def reach(self, b: Branch) -> int:
        """How far seeks in ``b`` reach at once (its head once indexed)."""
        w = self.walker
        if w is not None and w.branch is b:
            return w.pos[0]
        if b in self.queue:
            return max(it for it in b.checkpoints if it <= b.head[0])
        return b.head[0]
