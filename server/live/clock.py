"""One shared clock that paces every playing session.

The engine thread (:mod:`server.live.worker`) ticks it at ``tick_hz``; each
tick advances each playing session by the real time elapsed since *that
session* was last advanced; per-connection timers would cost several times the
CPU with a class connected. Once a second it also frees abandoned sessions.

A tick never takes more than ``busy`` of its period: when a class asks for more
work than the machine can do, the sessions not reached in this tick are served
first in the next (round robin), each run plays slower than asked, and the
learners' commands still get their turns between ticks.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from server.live import memory
from server.live.session import Session
from server.live.store import SessionStore

log = logging.getLogger("backprop_lab.clock")

MAX_DT = 0.25  # a session is never advanced by more than this at once


class Clock:
    """Ticks :class:`SessionStore`'s playing sessions; :meth:`run` until cancelled."""

    def __init__(self, store: SessionStore, hz: float, busy: float = 0.7,
                 timer: Callable[[], float] = time.perf_counter) -> None:
        self.store = store
        self.period = 1.0 / hz
        self.budget = busy * self.period
        self.timer = timer
        self.ticks = 0
        self.overruns = 0  # ticks that stopped early for lack of time
        self._cursor = 0
        self._last: dict[str, float] = {}

    @staticmethod
    def wants(s: Session) -> bool:
        """Whether ``s`` has something to do on a tick (playing, or a view send is due)."""
        return s.wants_tick

    def tick(self, now: float) -> int:
        """Advance the sessions that want it, round robin, within the tick's budget.

        Each session is advanced by the time since it was last advanced (at most
        :data:`MAX_DT`); returns how many were served. Errors stay in their session.
        """
        active = [s for s in self.store if self.wants(s)]
        n = len(active)
        # a session that was idle starts afresh (one period), not with its idle time
        self._last = {s.id: self._last[s.id] for s in active if s.id in self._last}
        start = self.timer()
        served = 0
        for i in range(n):
            s = active[(self._cursor + i) % n]
            dt = min(now - self._last.get(s.id, now - self.period), MAX_DT)
            self._last[s.id] = now
            s.crowd = n  # views and metrics space themselves out in a crowd
            try:
                s.tick(dt)
            except Exception:
                log.exception("session tick failed", extra={"session": s.id})
                s.playing = False
                s.error("internal", "the run stopped because of an internal error")
            served += 1
            if served < n and self.timer() - start > self.budget:
                self.overruns += 1
                break
        self._cursor = (self._cursor + served) % n if n else 0
        self.ticks += 1
        return served

    def reap(self, now: float) -> None:
        """Free idle and abandoned sessions, and keep all histories within the
        server-wide budget (the worker calls this once a second)."""
        self.store.reap(now)
        budget = int(self.store.settings.max_total_history_mb * 2**20)
        memory.enforce((h for s in self.store for h in s.histories()), budget)
