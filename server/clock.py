"""One shared clock that paces every playing session.

A single asyncio task ticks at ``tick_hz`` and advances each playing session
by the real time elapsed; per-connection timers would cost several times the
CPU with a class connected. Once a second it also frees abandoned sessions.
"""

from __future__ import annotations

import asyncio
import logging
import time

from server.sessions import SessionStore

log = logging.getLogger("backprop_lab.clock")


class Clock:
    """Ticks :class:`SessionStore`'s playing sessions; :meth:`run` until cancelled."""

    def __init__(self, store: SessionStore, hz: float) -> None:
        self.store = store
        self.period = 1.0 / hz
        self.ticks = 0

    def tick(self, dt: float) -> None:
        """Advance every playing session by ``dt`` seconds; errors stay in their session."""
        for s in self.store:
            if s.playing or s.views.wants_tick:  # views: a map/inspector send is due
                try:
                    s.tick(dt)
                except Exception:
                    log.exception("session tick failed", extra={"session": s.id})
                    s.playing = False
                    s.error("internal", "the run stopped because of an internal error")
        self.ticks += 1

    async def run(self) -> None:
        """Tick forever at a steady rate (sleeping to the next deadline, not a fixed delay)."""
        last = time.monotonic()
        next_reap = last + 1.0
        deadline = last
        while True:
            deadline += self.period
            now = time.monotonic()
            if deadline < now - self.period:  # fell behind: do not try to catch up in a burst
                deadline = now
            await asyncio.sleep(max(0.0, deadline - now))
            now = time.monotonic()
            self.tick(min(now - last, 0.25))
            last = now
            if now >= next_reap:
                self.store.reap(now)
                next_reap = now + 1.0
