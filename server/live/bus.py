"""What several worker processes share: class codes, class streams, requests between
workers and the session directory, behind one small interface (:class:`Bus`).

Every call is a coroutine on the event loop: the engine thread never waits on the
network (:mod:`server.live.relay` hands its messages over through a thread-safe
queue, as the outbox does). Two implementations:

- :class:`MemoryBus` — one process, nothing to install (``make run``): its
  :class:`MemoryHub` is private unless a test hands two buses the same hub, which
  then behave as two workers of one site;
- :class:`~server.live.redisbus.RedisBus` — ``BPL_REDIS_URL``: keys with a time to
  live for the claims, pub/sub channels for the streams and the requests. When
  Redis goes away it says so (:attr:`Bus.up`), calls fail fast with
  :class:`BusDownError`, and it reconnects by itself, subscribes again and tells
  its handler (``on_up``), which claims its codes again and redraws its classes.

Keys and channels (prefix ``bpl:``): ``code:<CODE>`` → ``"<worker> <secret hash>"``
with a time to live of :data:`CODE_TTL_S`, refreshed by its owner; ``class:<CODE>``,
the channel a class's stream is published on (once, by the owner); ``worker:<id>``,
the channel of one worker's requests and replies; ``session:<hash>`` → the worker
that holds a session, for a download that lands elsewhere (the id itself, a
secret, never leaves the process); ``tally``, a hash of each worker's per-address
counts (:meth:`Bus.tally`, :mod:`server.live.tally`), a field per worker stamped with
the time it was written.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import defaultdict
from typing import Protocol

log = logging.getLogger("backprop_lab.bus")

#: how long a class code stays claimed without its owner refreshing it (a worker that
#: died holds its codes this long, unless its teacher's page shares again elsewhere)
CODE_TTL_S = 20.0
PREFIX = "bpl:"

#: kind → key → count: what one worker tells the others it counts (server.live.tally)
Counts = dict[str, dict[str, float]]


class BusDownError(Exception):
    """The shared part is unreachable now (Redis restarting): try again later."""


class BusHandler(Protocol):
    """What a bus delivers, on the event loop."""

    def on_class(self, code: str, data: bytes) -> None:
        """A message published on the channel of class ``code`` (subscribed here)."""

    def on_worker(self, data: bytes) -> None:
        """A request or reply sent to this worker."""

    def on_up(self) -> None:
        """Connected (again): subscriptions are back; claims may have been lost."""


class Bus:
    """The interface (and the bookkeeping both implementations share)."""

    def __init__(self, worker_id: str, local: bool) -> None:
        self.worker_id = worker_id
        #: True when no other process shares it: classes stay inside this process
        self.local = local
        self.up = False
        self.downs = 0  # times it went away (for the operator)

    async def start(self, handler: BusHandler) -> None:
        """Connect and deliver to ``handler`` from now on."""

    async def stop(self) -> None:
        """Disconnect."""

    async def claim(self, code: str, secret: str) -> tuple[str, str | None]:
        """Claim ``code`` for this worker: ``("ok", None)``; ``("moved", old owner)`` when
        another worker held it under the same ``secret`` (a teacher's page sharing again
        here); ``("taken", owner)`` otherwise."""
        raise NotImplementedError

    async def refresh(self, codes: dict[str, str]) -> list[str]:
        """Keep this worker's ``codes`` (code → secret) claimed, claiming again those
        that expired (Redis restarted); the ones another worker holds now (lost)."""
        raise NotImplementedError

    async def release(self, code: str) -> None:
        """Give ``code`` up, if this worker holds it."""
        raise NotImplementedError

    async def owner(self, code: str) -> str | None:
        """The worker that holds ``code``, or None."""
        raise NotImplementedError

    async def publish(self, items: list[tuple[str, bytes]]) -> None:
        """Publish each ``(code, data)`` on its class's channel, in order."""
        raise NotImplementedError

    async def subscribe(self, code: str) -> None:
        """Receive class ``code``'s channel (returns once subscribed, or at once when
        down: the subscription is made on reconnecting)."""
        raise NotImplementedError

    async def unsubscribe(self, code: str) -> None:
        """Stop receiving class ``code``'s channel."""
        raise NotImplementedError

    async def send(self, worker: str, data: bytes) -> None:
        """Send ``data`` to ``worker``'s channel."""
        raise NotImplementedError

    async def place(self, keys: list[str], ttl_s: float) -> None:
        """Note in the session directory that this worker holds ``keys``."""
        raise NotImplementedError

    async def forget(self, key: str) -> None:
        """Remove ``key`` from the directory (if this worker holds it)."""
        raise NotImplementedError

    async def where(self, key: str) -> str | None:
        """The worker that holds ``key``, or None."""
        raise NotImplementedError

    async def tally(self, counts: Counts, ttl_s: float) -> list[Counts]:
        """Tell the other workers this worker's ``counts`` (replacing what it said
        before) and hear theirs: each other worker's last counts, if said within
        ``ttl_s`` seconds (a worker that stopped saying drops out; its entry is
        removed)."""
        raise NotImplementedError


# ---- one process ------------------------------------------------------------------------


class MemoryHub:
    """The shared state of :class:`MemoryBus` instances: what Redis is to RedisBus."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.values: dict[str, tuple[str, float]] = {}  # key → (value, expiry)
        self.channels: defaultdict[str, set[MemoryBus]] = defaultdict(set)
        self.workers: dict[str, MemoryBus] = {}
        self.tallies: dict[str, tuple[float, Counts]] = {}  # worker → (said at, counts)
        self.now = time.monotonic

    def get(self, key: str) -> str | None:
        """The value of ``key`` unless it expired (lock held)."""
        v = self.values.get(key)
        if v is None:
            return None
        if v[1] <= self.now():
            del self.values[key]
            return None
        return v[0]

    def set(self, key: str, value: str, ttl_s: float) -> None:
        """Set ``key`` for ``ttl_s`` seconds (lock held)."""
        self.values[key] = (value, self.now() + ttl_s)


class MemoryBus(Bus):
    """The bus inside one process (or, with a shared ``hub``, between buses of one
    process: two apps of a test)."""

    def __init__(self, worker_id: str = "0", hub: MemoryHub | None = None) -> None:
        super().__init__(worker_id, local=hub is None)
        self.hub = hub or MemoryHub()
        self.handler: BusHandler | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    async def start(self, handler: BusHandler) -> None:
        self.handler = handler
        self.loop = asyncio.get_running_loop()
        with self.hub.lock:
            self.hub.workers[self.worker_id] = self
        self.up = True
        handler.on_up()

    async def stop(self) -> None:
        self.up = False
        with self.hub.lock:
            self.hub.workers.pop(self.worker_id, None)
            for subs in self.hub.channels.values():
                subs.discard(self)

    def _deliver(self, kind: str, code: str, data: bytes) -> None:
        """Hand ``data`` to this bus's handler on its own loop (any thread)."""
        loop, handler = self.loop, self.handler
        if loop is None or handler is None or loop.is_closed():
            return
        if kind == "class":
            loop.call_soon_threadsafe(handler.on_class, code, data)
        else:
            loop.call_soon_threadsafe(handler.on_worker, data)

    def _check(self) -> None:
        if not self.up:
            raise BusDownError("the bus is stopped")

    async def claim(self, code: str, secret: str) -> tuple[str, str | None]:
        self._check()
        key = PREFIX + "code:" + code
        mine = f"{self.worker_id} {secret}"
        with self.hub.lock:
            v = self.hub.get(key)
            owner, held = v.split(" ", 1) if v else (None, "")
            if owner is None or owner == self.worker_id or (secret and held == secret):
                self.hub.set(key, mine, CODE_TTL_S)
                return ("ok", None) if owner in (None, self.worker_id) else ("moved", owner)
            return ("taken", owner)

    async def refresh(self, codes: dict[str, str]) -> list[str]:
        self._check()
        lost = []
        with self.hub.lock:
            for code, secret in codes.items():
                key = PREFIX + "code:" + code
                v = self.hub.get(key)
                mine = f"{self.worker_id} {secret}"
                if v is None or v == mine:
                    self.hub.set(key, mine, CODE_TTL_S)
                else:
                    lost.append(code)
        return lost

    async def release(self, code: str) -> None:
        key = PREFIX + "code:" + code
        with self.hub.lock:
            v = self.hub.get(key)
            if v is not None and v.split(" ", 1)[0] == self.worker_id:
                del self.hub.values[key]

    async def owner(self, code: str) -> str | None:
        self._check()
        with self.hub.lock:
            v = self.hub.get(PREFIX + "code:" + code)
        return v.split(" ", 1)[0] if v else None

    async def publish(self, items: list[tuple[str, bytes]]) -> None:
        self._check()
        for code, data in items:
            with self.hub.lock:
                subs = list(self.hub.channels.get(code, ()))
            for bus in subs:
                bus._deliver("class", code, data)

    async def subscribe(self, code: str) -> None:
        with self.hub.lock:
            self.hub.channels[code].add(self)

    async def unsubscribe(self, code: str) -> None:
        with self.hub.lock:
            subs = self.hub.channels.get(code)
            if subs is not None:
                subs.discard(self)
                if not subs:
                    del self.hub.channels[code]

    async def send(self, worker: str, data: bytes) -> None:
        self._check()
        with self.hub.lock:
            bus = self.hub.workers.get(worker)
        if bus is not None:
            bus._deliver("worker", "", data)

    async def place(self, keys: list[str], ttl_s: float) -> None:
        self._check()
        with self.hub.lock:
            for key in keys:
                self.hub.set(PREFIX + "session:" + key, self.worker_id, ttl_s)

    async def forget(self, key: str) -> None:
        with self.hub.lock:
            if self.hub.get(PREFIX + "session:" + key) == self.worker_id:
                del self.hub.values[PREFIX + "session:" + key]

    async def where(self, key: str) -> str | None:
        self._check()
        with self.hub.lock:
            return self.hub.get(PREFIX + "session:" + key)

    async def tally(self, counts: Counts, ttl_s: float) -> list[Counts]:
        self._check()
        with self.hub.lock:
            now = self.hub.now()
            tallies = self.hub.tallies
            tallies[self.worker_id] = (now, counts)
            for w in [w for w, (at, _) in tallies.items() if now - at > ttl_s]:
                del tallies[w]
            return [c for w, (_, c) in tallies.items() if w != self.worker_id]
