"""The bus on a Redis server (``BPL_REDIS_URL``): :class:`~server.live.bus.Bus` with
redis-py's asyncio client.

Claims are keys with a time to live, changed by small Lua scripts so that a check
and its change are one step (two workers never both get a code); streams and
requests are pub/sub channels, read by one connection that comes back by itself
after Redis restarts (subscribing again, then telling the handler ``on_up``).
Calls fail fast while Redis is away (no retries inside a call): they raise
:class:`~server.live.bus.BusDownError`, and the relay carries on without the bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict

import orjson

from server.live.bus import (
    CODE_TTL_S,
    PREFIX,
    Bus,
    BusDownError,
    BusHandler,
    Counts,
    MemoryBus,
)

log = logging.getLogger("backprop_lab.bus")

_CLAIM = """
local v = redis.call('GET', KEYS[1])
local mine = ARGV[1] .. ' ' .. ARGV[2]
if not v then redis.call('SET', KEYS[1], mine, 'PX', ARGV[3]); return {1, ''} end
local sp = string.find(v, ' ', 1, true)
local owner = string.sub(v, 1, sp - 1)
if owner == ARGV[1] then redis.call('SET', KEYS[1], mine, 'PX', ARGV[3]); return {1, ''} end
if ARGV[2] ~= '' and string.sub(v, sp + 1) == ARGV[2] then
  redis.call('SET', KEYS[1], mine, 'PX', ARGV[3]); return {2, owner}
end
return {0, owner}
"""

_REFRESH = """
local lost = {}
for i, k in ipairs(KEYS) do
  local v = redis.call('GET', k)
  local mine = ARGV[1] .. ' ' .. ARGV[i + 2]
  if (not v) or v == mine then redis.call('SET', k, mine, 'PX', ARGV[2])
  else table.insert(lost, i) end
end
return lost
"""

_RELEASE = """
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, string.len(ARGV[1]) + 1) == ARGV[1] .. ' ' then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

_FORGET = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# each worker's counts, stamped with Redis's own clock (the workers' clocks may differ):
# write this worker's, drop the ones older than the time to live, return the others'
_TALLY = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], ARGV[1], now .. ' ' .. ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
local all = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #all, 2 do
  local v = all[i + 1]
  local sp = string.find(v, ' ', 1, true)
  if now - tonumber(string.sub(v, 1, sp - 1)) > tonumber(ARGV[3]) then
    redis.call('HDEL', KEYS[1], all[i])
  elseif all[i] ~= ARGV[1] then
    table.insert(out, string.sub(v, sp + 1))
  end
end
return out
"""

#: how long the reader waits for a message before it looks at subscription changes
_POLL_S = 0.05
_BACKOFF_MAX_S = 1.0


class RedisBus(Bus):
    """The bus on a Redis server (redis-py's asyncio client)."""

    def __init__(self, url: str, worker_id: str) -> None:
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        super().__init__(worker_id, local=False)
        # fail fast while Redis is away: no retries inside a call (the reader reconnects)
        self.redis = Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=2.0,
                                    retry=Retry(NoBackoff(), 0))
        self.url = url
        self._claim = self.redis.register_script(_CLAIM)
        self._refresh = self.redis.register_script(_REFRESH)
        self._release = self.redis.register_script(_RELEASE)
        self._forget = self.redis.register_script(_FORGET)
        self._tally = self.redis.register_script(_TALLY)
        self.handler: BusHandler | None = None
        self._want: set[str] = set()  # channels wanted
        self._have: set[str] = set()  # channels subscribed on the reader's connection
        self._waiters: defaultdict[str, list[asyncio.Future[None]]] = defaultdict(list)
        self._changed = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._stopping = False
        self._me = PREFIX + "worker:" + worker_id

    async def start(self, handler: BusHandler) -> None:
        self.handler = handler
        self._changed = asyncio.Event()
        self._want.add(self._me)
        self._reader = asyncio.create_task(self._read(), name="redis reader")

    async def stop(self) -> None:
        self._stopping = True
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        with contextlib.suppress(Exception):
            await self.redis.aclose()
        self.up = False

    # ---- the reader: one pub/sub connection, back after Redis restarts -------------------

    async def _read(self) -> None:
        from redis.exceptions import RedisError

        backoff = 0.1
        while not self._stopping:
            ps = self.redis.pubsub()
            self._have = set()
            try:
                await self._sync(ps)
                while not self._stopping:
                    if self._want != self._have:
                        await self._sync(ps)
                    msg = await ps.get_message(ignore_subscribe_messages=False, timeout=_POLL_S)
                    if msg is None:
                        continue
                    backoff = 0.1
                    self._dispatch(msg)
            except (RedisError, OSError) as e:
                if self.up:
                    log.warning("redis down", extra={"worker": self.worker_id,
                                                       "error": f"{type(e).__name__}: {e}"})
                    self.downs += 1
                self.up = False
            finally:
                with contextlib.suppress(Exception):
                    await ps.aclose()
            if not self._stopping:
                await asyncio.sleep(backoff)
                backoff = min(_BACKOFF_MAX_S, backoff * 2)

    async def _sync(self, ps: object) -> None:
        """Subscribe and unsubscribe the reader's connection to what is wanted."""
        add = sorted(self._want - self._have)
        drop = sorted(self._have - self._want)
        if add:
            await ps.subscribe(*add)  # type: ignore[attr-defined]
            self._have.update(add)
        if drop:
            await ps.unsubscribe(*drop)  # type: ignore[attr-defined]
            self._have.difference_update(drop)

    def _dispatch(self, msg: dict[str, object]) -> None:
        kind = msg.get("type")
        channel = msg.get("channel")
        name = channel.decode() if isinstance(channel, bytes) else str(channel)
        if kind == "subscribe":
            for fut in self._waiters.pop(name, []):
                if not fut.done():
                    fut.set_result(None)
            if name == self._me and not self.up:
                self.up = True
                log.info("redis up", extra={"worker": self.worker_id})
                if self.handler is not None:
                    self.handler.on_up()
            return
        if kind != "message" or self.handler is None:
            return
        data = msg.get("data")
        if not isinstance(data, bytes):
            return
        if name == self._me:
            self.handler.on_worker(data)
        elif name.startswith(PREFIX + "class:"):
            self.handler.on_class(name[len(PREFIX) + 6:], data)

    # ---- commands ------------------------------------------------------------------------

    async def _call(self, coro: object) -> object:
        from redis.exceptions import RedisError

        try:
            return await coro  # type: ignore[misc]
        except (RedisError, OSError) as e:
            raise BusDownError(f"{type(e).__name__}: {e}") from e

    async def claim(self, code: str, secret: str) -> tuple[str, str | None]:
        r = await self._call(self._claim(keys=[PREFIX + "code:" + code],
                                         args=[self.worker_id, secret,
                                               int(CODE_TTL_S * 1000)]))
        assert isinstance(r, list)
        status, held = int(r[0]), r[1]
        other = held.decode() if isinstance(held, bytes) and held else None
        return {1: "ok", 2: "moved"}.get(status, "taken"), other

    async def refresh(self, codes: dict[str, str]) -> list[str]:
        if not codes:
            return []
        names = list(codes)
        lost = await self._call(self._refresh(
            keys=[PREFIX + "code:" + c for c in names],
            args=[self.worker_id, int(CODE_TTL_S * 1000), *(codes[c] for c in names)]))
        return [names[int(i) - 1] for i in lost]  # type: ignore[attr-defined]

    async def release(self, code: str) -> None:
        await self._call(self._release(keys=[PREFIX + "code:" + code], args=[self.worker_id]))

    async def owner(self, code: str) -> str | None:
        v = await self._call(self.redis.get(PREFIX + "code:" + code))
        return v.split(b" ", 1)[0].decode() if isinstance(v, bytes) else None

    async def publish(self, items: list[tuple[str, bytes]]) -> None:
        if not items:
            return
        async with self.redis.pipeline(transaction=False) as p:
            for code, data in items:
                p.publish(PREFIX + "class:" + code, data)
            await self._call(p.execute())

    async def _wait_subscribed(self, channel: str) -> None:
        if not self.up:
            return  # made when the reader connects again
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters[channel].append(fut)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(fut, 2.0)

    async def subscribe(self, code: str) -> None:
        channel = PREFIX + "class:" + code
        if channel in self._want:
            return
        self._want.add(channel)
        await self._wait_subscribed(channel)

    async def unsubscribe(self, code: str) -> None:
        self._want.discard(PREFIX + "class:" + code)

    async def send(self, worker: str, data: bytes) -> None:
        await self._call(self.redis.publish(PREFIX + "worker:" + worker, data))

    async def place(self, keys: list[str], ttl_s: float) -> None:
        if not keys:
            return
        async with self.redis.pipeline(transaction=False) as p:
            for key in keys:
                p.set(PREFIX + "session:" + key, self.worker_id, px=int(ttl_s * 1000))
            await self._call(p.execute())

    async def forget(self, key: str) -> None:
        await self._call(self._forget(keys=[PREFIX + "session:" + key], args=[self.worker_id]))

    async def where(self, key: str) -> str | None:
        v = await self._call(self.redis.get(PREFIX + "session:" + key))
        return v.decode() if isinstance(v, bytes) else None


    async def tally(self, counts: Counts, ttl_s: float) -> list[Counts]:
        said = await self._call(self._tally(keys=[PREFIX + "tally"], args=[
            self.worker_id, orjson.dumps(counts), int(ttl_s * 1000)]))
        return [orjson.loads(c) for c in said]  # type: ignore[attr-defined]


def make_bus(redis_url: str, worker_id: str) -> Bus:
    """The bus the settings ask for: Redis when ``redis_url`` is set, else this process."""
    return RedisBus(redis_url, worker_id) if redis_url else MemoryBus(worker_id)
