"""Per-address counts shared by the workers of one site, so each per-address cap holds
for the site, not for each process.

With ``BPL_WORKERS=N`` the kernel spreads one address's connections over the
workers, and each worker used to count only its own: one address could hold N times
each per-address cap, and guess class codes N times as fast. Now every worker tells
the others, through the bus (:meth:`server.live.bus.Bus.tally`, one Redis call),
what it counts, every ``address_sync_s`` (1 s), and a cap is checked against its
own count plus the others' last word:

    refused when  mine(address) + elsewhere(address) ≥ cap

Kinds and their keys (what :meth:`AddressTally.count` registers):

- ``websockets``: address → WebSockets open (``max_websockets_per_address``,
  :class:`server.guards.ConnectionGuard`);
- ``sessions``: address → sessions held (``max_sessions_per_address``,
  :class:`server.live.store.SessionStore`);
- ``followers``: ``"<CODE> <address>"`` → pages following class ``CODE``
  (``max_followers_per_address``);
- ``code_failures``: address → wrong class codes the address's bucket is short of
  (capacity − tokens, ``max_code_failures_per_minute``): the buckets of all the
  workers drain together, and each refills on its own as before.

The others' counts are at most one period old, plus the time of one Redis call. So a
client that opens many at once, faster than a period, can get up to each cap on every
worker before the workers hear of each other; what was let in stays, and nothing more
is let in until the site-wide count is below the cap again. Wrong class codes are a
rate: each worker's bucket refills at 1/N of the rate when N workers are heard, so the
site's refill is the cap's. A worker that stops telling (killed, or Redis away) drops
out after :data:`TTL_PERIODS` periods; one that stops cleanly says it holds nothing
first. ``max_connections_per_address`` (HTTP sockets) stays per process: it guards each
process's own file descriptors.

Threads: :meth:`AddressTally.sync` runs on the event loop; the counts it reads are
copied whole (a dict copy holds the GIL); what the engine thread reads,
:meth:`elsewhere`, is replaced in one assignment, never changed in place.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from server.live.bus import Bus, BusDownError, Counts

log = logging.getLogger("backprop_lab.tally")

#: a worker not heard for this many periods drops out of the others' counts
TTL_PERIODS = 3.0
KINDS = ("websockets", "sessions", "followers", "code_failures")


class AddressTally:
    """This worker's per-address counts (from the sources registered) and the sum of
    the other workers' (as last heard)."""

    def __init__(self) -> None:
        self._sources: dict[str, Callable[[], dict[str, float]]] = {}
        self._others: dict[str, dict[str, float]] = {}
        #: told how many workers count, this one included, after each sync
        self.on_workers: Callable[[int], None] = lambda n: None
        self.syncs = 0  # times the others were heard (for tests and /metrics)
        self.failures = 0  # times the bus was down when it was time to sync

    def count(self, kind: str, source: Callable[[], dict[str, float]]) -> None:
        """Have ``source()`` (key → count, this worker's) told to the others as ``kind``."""
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}")
        self._sources[kind] = source

    def elsewhere(self, kind: str, key: str) -> float:
        """What the other workers count of ``key`` (0 alone, or not heard lately)."""
        got = self._others.get(kind)
        return got.get(key, 0.0) if got else 0.0

    def collect(self) -> Counts:
        """This worker's counts now, the keys with a count above zero."""
        out: Counts = {}
        for kind, source in self._sources.items():
            keys = {k: float(n) for k, n in source().items() if n > 0}
            if keys:
                out[kind] = keys
        return out

    async def sync(self, bus: Bus, ttl_s: float) -> None:
        """Tell the others this worker's counts and hear theirs (raises
        :class:`~server.live.bus.BusDownError` when the bus is down)."""
        said = await bus.tally(self.collect(), ttl_s)
        others: dict[str, dict[str, float]] = {}
        for counts in said:
            for kind, keys in counts.items():
                into = others.setdefault(kind, {})
                for key, n in keys.items():
                    into[key] = into.get(key, 0.0) + float(n)
        self._others = others  # (one assignment: a reader sees the old or the new)
        self.on_workers(1 + len(said))
        self.syncs += 1

    def forget(self) -> None:
        """Count nothing from the others (not heard lately)."""
        self._others = {}
        self.on_workers(1)

    async def run(self, bus: Bus, period_s: float) -> None:
        """:meth:`sync` every ``period_s`` until cancelled. While the bus is down the
        others' counts are kept until they would have expired, then forgotten."""
        ttl = TTL_PERIODS * period_s
        loop = asyncio.get_running_loop()
        heard = loop.time()
        while True:
            try:
                await self.sync(bus, ttl)
                heard = loop.time()
            except Exception as e:  # a count must never stop the site
                self.failures += 1
                if not isinstance(e, BusDownError):
                    log.exception("address tally failed")
                if loop.time() - heard > ttl:
                    self.forget()
            await asyncio.sleep(period_s)

    async def leave(self, bus: Bus, period_s: float) -> None:
        """Tell the others this worker holds nothing (it is stopping)."""
        try:
            await bus.tally({}, TTL_PERIODS * period_s)
        except Exception:  # (stopping anyway: it drops out after TTL_PERIODS)
            log.debug("address tally: could not say goodbye", exc_info=True)
