"""One shared clock that paces every playing session.

The engine thread (:mod:`server.live.worker`) ticks it at ``tick_hz``; each
tick advances each playing session by the real time elapsed since *that
session* was last advanced; per-connection timers would cost several times the
CPU with a class connected. Once a second it also frees abandoned sessions.

A tick never takes more than ``busy`` of its period while other work waits
(``others()``: a learner's command, a download): when a class asks for more
work than the machine can do, each run plays slower than asked, and the
learners' commands still get their turns between ticks. With nothing else
waiting it goes on to ``full`` of the period (work-conserving: a saturated
server idled the rest of every period, 0.7–0.8 of a core used).

Fair in time, not in turns (max-min fairness). A session whose ticks cost
less than an equal share of the tick's budget is served on every tick; the
others share what is left, least engine time used first (as a completely fair
scheduler does): a learner whose iteration costs 0.1 ms is served every tick
however many sessions of 10 ms iterations play beside it, and those play
slower, in equal time.
Round robin by turns gave each session the same number of turns instead, so
one small network beside twelve of the largest got one turn in seven (31 % of
its frame rate in bench/abuse.py). A session that starts playing joins at the
back of the line (level with the most-served one): it waits at most one round,
and a crowd pressing play at once cannot push a playing learner aside.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine import stacked
from server.live import memory
from server.live.session import Session
from server.live.store import SessionStore

log = logging.getLogger("backprop_lab.clock")

MAX_DT = 0.25  # a session is never advanced by more than this at once


@dataclass(slots=True)
class Seat:
    """A session's place on the clock."""

    last: float | None = None  #: clock time it was last advanced (None: afresh)
    used: float = 0.0  #: engine seconds it has had, the line's order
    cost: float = math.inf  #: its recent engine seconds per tick (inf: not measured yet)
    seen: int = -1  #: the last tick it was active on
    dt: float = 0.0  #: the time this tick would advance it by
    rests: bool = False  #: whether it rests this tick (:meth:`Clock.tick`)


class Clock:
    """Ticks :class:`SessionStore`'s playing sessions; :meth:`run` until cancelled."""

    def __init__(self, store: SessionStore, hz: float, busy: float = 0.7,
                 timer: Callable[[], float] = time.perf_counter, full: float = 0.95,
                 others: Callable[[], bool] = lambda: True, together: bool = True) -> None:
        self.store = store
        self.period = 1.0 / hz
        self.budget = busy * self.period
        self.full = max(full, busy) * self.period
        #: whether other work waits for the engine thread (then a tick stops at budget)
        self.others = others
        self.timer = timer
        self.ticks = 0
        #: compute the fast iterations of runs of one shape together (engine.stacked)
        self.together = together
        self.stacked = 0  # iterations computed together (for tests and /metrics)
        #: seconds a run's share of computing together costs (recent, per run)
        self._together_cost = 0.0
        self.overruns = 0  # ticks that stopped early for lack of time
        #: each active session's place on the clock, by id (kept while it stays active)
        self._seats: dict[str, Seat] = {}

    @staticmethod
    def wants(s: Session) -> bool:
        """Whether ``s`` has something to do on a tick (playing, or a view send is due)."""
        return s.wants_tick

    def used(self, sid: str) -> float:
        """Engine seconds session ``sid`` has had on the clock, relative to the others
        (its place in the line; for tests)."""
        return self._seats[sid].used

    def _seated(self, active: list[Session]) -> list[Seat]:
        """Each of ``active``'s seats, in order. A session that was not active on the
        last tick starts afresh: one period of play, not its idle time, and level with
        the most-served of the others (the back of the line)."""
        seats = self._seats
        tick = self.ticks
        out = []
        fresh = []
        back = 0.0
        for s in active:
            seat = seats.get(s.id)
            if seat is None or seat.seen != tick - 1:
                seat = seats[s.id] = Seat()
                fresh.append(seat)
            elif seat.used > back:
                back = seat.used
            seat.seen = tick
            out.append(seat)
        for seat in fresh:
            seat.used = back + 1e-9
        return out  # (the seats of sessions gone idle: dropped by reap)

    def tick(self, now: float) -> int:
        """Advance the sessions that want it, least-served first, within the tick's budget.

        Each session is advanced by the time since it was last advanced (at most
        :data:`MAX_DT`); returns how many were served. Errors stay in their session.
        A run in fast play whose next iteration is not due on this tick (at 30 it/s on
        a 60 Hz clock, every other tick) rests: its time goes to the next tick, which
        serves it whatever comes (a rest is never two ticks long: its views and a
        class's answers wait at most one period).
        """
        active = [s for s in self.store if self.wants(s)]
        n = len(active)
        seats = self._seated(active)
        period = self.period
        rest_max = 1.5 * period
        for seat, s in zip(seats, active, strict=True):
            if seat.last is None:  # (afresh: one period, even if it rests this tick)
                seat.last = now - period
            seat.dt = dt = min(now - seat.last, MAX_DT)
            seat.rests = dt < rest_max and s.rests(dt)
        # max-min fair: a session whose ticks cost less than an equal share of the budget
        # is served every tick; the others share the rest, least-served first
        share = self.budget / max(n, 1)
        line = sorted(zip(seats, active, strict=True),
                      key=lambda p: (p[0].cost > share, p[0].used))
        start = self.timer()
        grouped: set[int] = set()  # (the steppers computed together, by id)
        each = 0.0
        if self.together:
            due = self._due_together(line)
            try:
                self.stacked += stacked.ahead(due)
            except Exception:  # each run then steps alone, as it would have
                log.exception("stepping runs together failed")
            if due:
                spent_together = self.timer() - start
                self._together_cost = (0.7 * self._together_cost
                                       + 0.3 * spent_together / len(due))
                grouped = {id(st) for st in due if st._fast is not None}
                each = spent_together / max(len(grouped), 1)
        served = 0
        for i, (seat, s) in enumerate(line):
            s.crowd = n  # views and metrics space themselves out in a crowd
            if seat.rests:
                continue
            seat.last = now
            dt = seat.dt
            t0 = self.timer()
            try:
                s.tick(dt)
            except Exception:
                log.exception("session tick failed", extra={"session": s.id})
                s.playing = False
                s.error("internal", "the run stopped because of an internal error")
            t1 = self.timer()
            # (a tick that did nothing still counts a little: equal sessions take turns);
            # a run computed with its group is charged its share of the group's time
            seat.used += max(t1 - t0, 1e-6) + (
                each if grouped and id(s.stepper) in grouped else 0.0)
            cost = seat.cost
            seat.cost = t1 - t0 if cost == math.inf else 0.7 * cost + 0.3 * (t1 - t0)
            served += 1
            spent = t1 - start
            if i + 1 < n and spent > self.budget and (spent > self.full or self.others()):
                self.overruns += 1
                break
        self.ticks += 1
        return served

    def _due_together(self, line: list[tuple[Seat, Session]]) -> list[Any]:
        """The steppers of the runs about to play one fast iteration on this tick, to
        be computed together where they share a shape (engine.stacked: the same
        numbers, a fraction of the calls): in serving order, as far as the tick's time
        is likely to reach by their recent costs (an iteration computed for a run the
        tick does not reach would be thrown away)."""
        limit = self.budget if self.others() else self.full
        spent = 0.0
        due = []
        for seat, s in line:
            if spent > limit:
                break
            if seat.rests:
                continue  # (served on a later tick: nothing of this one's time)
            if seat.cost != math.inf:
                spent += seat.cost
            if isinstance(s, Session) and s.plays_one_fast_iteration(seat.dt):
                due.append(s.stepper)
                spent += self._together_cost  # (its share of the group, paid up front)
        return due

    def reap(self, now: float) -> None:
        """Free idle and abandoned sessions, and keep all histories within the
        server-wide budget (the worker calls this once a second)."""
        if self.store.reap(now):
            memory.release(now)  # the freed sessions' pages back to the system
        else:
            memory.release_due(now)  # one asked for too soon after the last
        if len(self._seats) > 64:  # (the seats of sessions no longer active: a second's)
            self._seats = {k: v for k, v in self._seats.items() if v.seen >= self.ticks - 1}
        budget = int(self.store.settings.max_total_history_mb * 2**20)
        memory.enforce((h for s in self.store for h in s.histories()), budget)

