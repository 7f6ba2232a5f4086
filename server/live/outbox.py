"""A bounded, coalescing outgoing queue for one connection.

A client that reads slowly must cost bounded memory and must never hold up
others. Producers (the session, the shared clock) only ever :meth:`Outbox.put`
— which never blocks and never awaits the socket — and one send loop per
connection awaits :meth:`Outbox.get`. When a client stops reading, only its own
send loop waits (on the socket's flow control); its outbox stays within
``limit`` messages:

- messages put under a ``key`` (``state``, ``run``, ``metrics``, maps…) replace
  the pending one with that key, or ``merge(old, new)`` into it, so a slow
  reader still receives the *latest* state;
- when the queue is over ``limit``, the oldest *droppable* message (a phase
  frame, superseded by newer ones) is discarded first, then the oldest
  unkeyed one (an error), and keyed ones (the latest state) only as a last resort.

An entry may also be a *bundle*: a list of messages that go out together, in
order, as one entry (fast play's four frames of an iteration, so a tick costs
one put and one encoding instead of four), or those four frames packed
(:class:`server.run.compact.PackedFrames`: their numbers in one row of float64,
sent in a binary message to a page that takes them, else as the four frames).
:meth:`Outbox.pop` hands out entries; :meth:`Outbox.drain` flattens bundles into
their messages.

An entry put on many outboxes at once (a shared run's stream, fanned out to the
class that follows it) is wrapped in :class:`Shared`, so it is encoded once, by
the first send loop that sends it, and the others send the same bytes.

The queue is bounded in bytes too (``max_bytes``, estimated from the arrays
and strings a message holds, :func:`approx_bytes`): the oldest droppable
entries go first, so a client that stops reading holds at most about
``max_bytes``, whatever the network's size.

Producers run on the engine thread (:mod:`server.live.worker`) and the send
loop on the event loop: every method is thread-safe, and a put wakes a waiting
:meth:`get` through the loop's thread-safe callback (one for all the outboxes a
tick or a piece of work filled: :func:`gathered_wakes`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import orjson

from server.run.compact import CompactValues, PackedFrames

Message = dict[str, Any]
Bundle = Message | list[Message]  # a message, or a bundle of them sent together in order


log = logging.getLogger("backprop_lab.outbox")

_gathering = threading.local()


@contextlib.contextmanager
def gathered_wakes() -> Iterator[None]:
    """Within the block, this thread's wake-ups of send loops are gathered and handed
    to each event loop at once when the block ends: one ``call_soon_threadsafe`` per
    loop, not one per outbox.

    The engine thread wraps each clock tick and each piece of work in it. Every wake
    of the loop costs a hand-over of the GIL both ways (the loop thread sleeps in
    ``epoll`` without it): woken once per message, the loop took the GIL thousands
    of times a second under 200 playing learners, and the hand-overs (a futex wake
    and a context switch each) were a fifth of the server's CPU
    (docs/performance.md). A message put early in a tick waits for the tick's end
    (up to about one clock period; in a piece of work, the piece's length); every
    session's does, so the intervals between a learner's frames are unchanged.
    Nested blocks join the outer one.
    """
    if getattr(_gathering, "wakes", None) is not None:
        yield
        return
    wakes: list[tuple[asyncio.AbstractEventLoop, Outbox]] = []
    _gathering.wakes = wakes
    try:
        yield
    finally:
        _gathering.wakes = None
        by_loop: dict[asyncio.AbstractEventLoop, list[Outbox]] = {}
        for loop, outbox in wakes:
            by_loop.setdefault(loop, []).append(outbox)
        for loop, outboxes in by_loop.items():
            with contextlib.suppress(RuntimeError):  # (a loop closed meanwhile)
                loop.call_soon_threadsafe(_wake_all, outboxes)


def _wake_all(outboxes: list[Outbox]) -> None:
    """On the event loop: deliver each outbox's messages at once where its connection
    can (:attr:`Outbox.deliver_now`), else wake its send loop."""
    for ob in outboxes:
        now = ob.deliver_now
        try:
            done = now is not None and now()
        except Exception:  # (before it took anything: its send loop sends them)
            log.exception("delivering at once failed")
            done = False
        if not done:
            ob._event.set()


class Shared:
    """A message or bundle put on several outboxes: its JSON is computed once.

    The wrapped messages must not change once put (every outbox holds the same
    objects). A class's message that came from another worker process
    (:mod:`server.live.relay`) arrives as JSON already: :meth:`encoded` wraps those
    bytes, and its ``item`` is decoded only if a sender needs the objects (a client
    that did not ask for batches)."""

    __slots__ = ("_item", "_json", "_text", "bundle", "count", "frames", "nbytes", "packed")

    def __init__(self, item: Bundle) -> None:
        self._item: Bundle | None = item
        #: the same frames packed, for the followers whose page takes them (of_packed)
        self.packed: PackedFrames | None = None
        self.nbytes = approx_bytes(item)
        self.bundle = isinstance(item, list)
        items = item if isinstance(item, list) else [item]
        self.count = len(items)
        self.frames = sum(1 for m in items if isinstance(m, dict) and m.get("type") == "frame")
        self._json: bytes | None = None
        self._text: str | None = None

    @classmethod
    def of_packed(cls, packed: PackedFrames) -> Shared:
        """Packed frames put on several outboxes: the packed form for the pages that take
        it, the four frames (made, and encoded once, only if a page or another worker
        needs them as JSON) for the others."""
        s = cls.__new__(cls)
        s._item = None
        s.packed = packed
        s._json = None
        s._text = None
        s.nbytes = packed.nbytes
        s.bundle = True
        s.count = packed.count
        s.frames = packed.frames
        return s

    @classmethod
    def encoded(cls, data: bytes, *, bundle: bool, count: int, frames: int,
                item: Bundle | None = None) -> Shared:
        """A shared entry whose JSON is ``data`` (a bundle's: an array of ``count``
        messages, ``frames`` of them phase frames); ``item``, if given, its objects."""
        s = cls.__new__(cls)
        s._item = item
        s.packed = None
        s._json = data
        s._text = None
        s.nbytes = 16 + len(data)
        s.bundle = bundle
        s.count = count
        s.frames = frames
        return s

    @property
    def item(self) -> Bundle:
        """The message or bundle (decoded from the JSON on first use if it came encoded,
        or made of its packed frames)."""
        if self._item is None and self.packed is not None:
            self._item = self.packed.item
        if self._item is None:
            assert self._json is not None
            self._item = orjson.loads(self._json)
        return self._item

    def json(self, encode: Callable[[Bundle], bytes]) -> bytes:
        """``encode(item)``, computed on the first call."""
        if self._json is None:
            self._json = encode(self.item)
        return self._json

    def text(self, encode: Callable[[Bundle], bytes]) -> str:
        """:meth:`json` as text (what a WebSocket text frame takes), computed once."""
        if self._text is None:
            self._text = self.json(encode).decode()
        return self._text


#: what an outbox holds: a message, a bundle, one of them shared, or packed frames (a
#: bundle of four frames)
Entry = Bundle | Shared | PackedFrames

#: JSON characters per byte of a float64 array (shortest round-trip digits, commas)
JSON_PER_ARRAY_BYTE = 2.5


_SCALARS = frozenset({int, float, bool, type(None)})


def approx_bytes(item: Any, depth: int = 0) -> int:
    """About how many bytes ``item`` takes queued and encoded: its arrays (at
    :data:`JSON_PER_ARRAY_BYTE`), strings and containers, looked into three levels
    deep (a frame's values dict holds the arrays); cheap, not exact."""
    t = type(item)  # exact types first: fast play sizes a bundle 30 times a second
    if t is CompactValues or t is Shared or t is PackedFrames:  # (sized when made)
        return item.nbytes
    if t in _SCALARS:
        return 16 if depth < 3 else 64
    if t is dict and depth < 3:
        return _dict_bytes(item, depth)
    if t is list and depth < 3 and item and type(item[0]) is dict:  # a bundle's frames
        return 16 + sum([_dict_bytes(m, depth + 1) if type(m) is dict
                         else approx_bytes(m, depth + 1) for m in item])
    if isinstance(item, Shared | CompactValues):
        return item.nbytes
    if isinstance(item, np.ndarray):
        return 32 + int(item.nbytes * JSON_PER_ARRAY_BYTE)
    if isinstance(item, str | bytes):
        return 16 + len(item)
    if depth >= 3:
        return 64
    if isinstance(item, dict):
        return _dict_bytes(item, depth)
    if isinstance(item, list | tuple):
        if item and not isinstance(item[0], dict | list | tuple | np.ndarray):
            return 16 + 12 * len(item)  # a list of numbers
        return 16 + sum(approx_bytes(v, depth + 1) for v in item)
    return 16


def _dict_bytes(item: dict[str, Any], depth: int) -> int:
    """:func:`approx_bytes` of a dict (``depth`` < 3)."""
    n = 64
    scalar = 16 if depth < 2 else 64
    # (strings, scalars and, a level from the bottom, containers inline: a frame's
    # fields, a metrics point's per-layer lists)
    deep = _DEEP if depth >= 2 else _NO_TYPES
    for k, v in item.items():
        tv = type(v)
        n += 16 + len(k) + (16 + len(v) if tv is str else scalar if tv in _SCALARS
                            else 64 if tv in deep else approx_bytes(v, depth + 1))
    return n


#: containers :func:`approx_bytes` counts as 64 bytes below its third level
_DEEP = frozenset({list, tuple, dict})
_NO_TYPES: frozenset[type] = frozenset()


def unwrap(entry: Entry) -> Bundle:
    """The message or bundle of an entry."""
    return entry.item if isinstance(entry, Shared | PackedFrames) else entry


def _count(entry: Entry) -> int:
    """Messages in an entry."""
    if isinstance(entry, Shared | PackedFrames):
        return entry.count
    item = unwrap(entry)
    return len(item) if isinstance(item, list) else 1


def _frames(entry: Entry) -> int:
    """Phase frames in an entry."""
    if isinstance(entry, Shared | PackedFrames):
        return entry.frames
    item = unwrap(entry)
    items = item if isinstance(item, list) else [item]
    return sum(1 for m in items if isinstance(m, dict) and m.get("type") == "frame")


class OutboxClosedError(Exception):
    """The outbox was closed and is empty; ``code`` and ``reason`` are for the socket."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"outbox closed ({code} {reason})")
        self.code = code
        self.reason = reason


class Outbox:
    """Pending messages of one connection; :meth:`get` waits for the next."""

    def __init__(self, limit: int = 64, max_bytes: int = 8 * 2**20) -> None:
        self.limit = limit
        self.max_bytes = max_bytes
        self._queue: OrderedDict[int | str, tuple[Entry, bool, int]] = OrderedDict()
        self._seq = 0
        self._droppable: deque[int | str] = deque()
        self._lock = threading.Lock()
        self._event = asyncio.Event()
        self._waiting = False  # a get() waits for the event
        self._held = 0  # hold() depth: get() waits until a command's messages are all in
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
            self._loop_thread = threading.get_ident()
        except RuntimeError:
            self._loop = None
            self._loop_thread = 0
        self.bytes = 0  # approx_bytes of what is queued
        self.dropped = 0
        self.sent = 0
        self.frames = 0  # of the messages sent, phase frames
        self.peak = 0
        self.peak_bytes = 0
        self.closed = False
        self.close_code = 1000
        self.close_reason = ""
        #: set by the connection: on the event loop, send what is queued at once if
        #: that cannot wait (True; its send loop keeps waiting), else False (the send
        #: loop is woken). Saves a task's wake-up per learner and iteration.
        self.deliver_now: Callable[[], bool] | None = None
        #: set by the connection: its page takes packed frames (``hello``'s ``packed``)
        self.takes_packed = False

    def __len__(self) -> int:
        return len(self._queue)

    def put(
        self,
        msg: Entry,
        *,
        droppable: bool = False,
        key: str | None = None,
        merge: Callable[[Message, Message], Message] | None = None,
    ) -> None:
        """Queue ``msg`` (a message or a non-empty bundle); with ``key``, replace (or,
        for messages, ``merge(old, new)`` into) the pending entry with that key."""
        size = approx_bytes(msg)
        with self._lock:
            if self.closed:
                return
            if key is not None and key in self._queue:
                old, _, old_size = self._queue[key]
                # (an entry that came encoded is decoded only to be merged)
                a, b = (unwrap(old), unwrap(msg)) if merge is not None else (None, None)
                self.bytes -= old_size
                if isinstance(a, dict) and isinstance(b, dict):
                    assert merge is not None
                    merged = merge(a, b)  # this outbox's own now
                    size = approx_bytes(merged)
                    self._queue[key] = (merged, droppable, size)
                else:  # superseded: the new one goes out in its place, in order
                    self._queue[key] = (msg, droppable, size)
                    self._queue.move_to_end(key)
                    self.dropped += _count(old)
            else:
                self._seq += 1
                self._queue[key if key is not None else self._seq] = (msg, droppable, size)
            self.bytes += size
            if droppable:
                self._droppable.append(key if key is not None else self._seq)
                if len(self._droppable) > 4 * self.limit:  # drop keys no longer queued
                    self._droppable = deque(k for k, (_, d, _) in self._queue.items() if d)
            while len(self._queue) > self.limit or (
                    self.bytes > self.max_bytes and len(self._queue) > 1):
                _, _, n = entry = self._queue.pop(self._victim())
                self.bytes -= n
                self.dropped += _count(entry[0])
            self.peak = max(self.peak, len(self._queue))
            self.peak_bytes = max(self.peak_bytes, self.bytes)
            wake = self._waiting and not self._held
            if wake:
                self._waiting = False
        if wake:
            self._wake()

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Within the block, :meth:`get` hands out nothing: what one command puts goes
        out together, and a message it puts twice under one key goes out once."""
        with self._lock:
            self._held += 1
        try:
            yield
        finally:
            with self._lock:
                self._held -= 1
                wake = self._waiting and not self._held and bool(self._queue)
                if wake:
                    self._waiting = False
            if wake:
                self._wake()

    def _wake(self) -> None:
        """Set the event for a waiting get(), from whichever thread we are on (within
        :func:`gathered_wakes`, at the block's end with the others)."""
        loop = self._loop
        if loop is None or threading.get_ident() == self._loop_thread:
            self._event.set()
        elif not loop.is_closed():
            gathered: list[tuple[asyncio.AbstractEventLoop, Outbox]] | None = \
                getattr(_gathering, "wakes", None)
            if gathered is not None:
                gathered.append((loop, self))
            else:
                loop.call_soon_threadsafe(self._event.set)

    def _victim(self) -> int | str:
        """The key to drop: the oldest droppable, else the oldest unkeyed, else the oldest."""
        while self._droppable:  # O(1) amortized: keys already sent are skipped once
            k = self._droppable.popleft()
            entry = self._queue.get(k)
            if entry is not None and entry[1]:
                return k
        # keyed messages are few (one per key), so this scan is short
        return next((k for k in self._queue if isinstance(k, int)), next(iter(self._queue)))

    def pop(self) -> Entry | None:
        """The oldest pending entry (a message or a bundle) without waiting, or None."""
        with self._lock:
            if not self._queue:
                return None
            key, (msg, droppable, size) = self._queue.popitem(last=False)
            if droppable and self._droppable and self._droppable[0] == key:
                self._droppable.popleft()
            self.bytes -= size
            self.sent += _count(msg)
            self.frames += _frames(msg)
            return msg

    def take_now(self, most: int) -> list[Entry] | None:
        """For :attr:`deliver_now`, on the event loop while the send loop waits in
        :meth:`get`: the oldest entries, up to ``most`` messages (at least one entry),
        taken as :meth:`get` and :meth:`pop` would hand them out; the send loop keeps
        waiting (woken if more are left). None if :meth:`get` would hand out nothing
        now (a command's messages are held, or the outbox is closed)."""
        with self._lock:
            if self._held or self.closed or self._waiting:
                return None  # (_waiting: nothing woke it, so nothing is for it to take)
            out: list[Entry] = []
            n = 0
            while self._queue and n < most:
                key, (msg, droppable, size) = self._queue.popitem(last=False)
                if droppable and self._droppable and self._droppable[0] == key:
                    self._droppable.popleft()
                self.bytes -= size
                k = _count(msg)
                self.sent += k
                self.frames += _frames(msg)
                out.append(msg)
                n += k
            more = bool(self._queue)
            if not more:
                self._waiting = True  # (its get() still waits: the next put wakes it)
        if more:
            self._event.set()
        return out

    def drain(self) -> list[Message]:
        """Every pending message, oldest first, bundles flattened (for tests and shutdown)."""
        out: list[Message] = []
        while (e := self.pop()) is not None:
            m = unwrap(e)
            if isinstance(m, list):
                out += m
            else:
                out.append(m)
        return out

    async def get(self) -> Entry:
        """The oldest pending entry, waiting for one; :class:`OutboxClosedError` once closed
        and everything queued before the close has been taken."""
        while True:
            with self._lock:
                held = self._held and not self.closed
            msg = None if held else self.pop()
            if msg is not None:
                return msg
            with self._lock:
                if self._queue and not (self._held and not self.closed):
                    continue
                if self.closed:
                    raise OutboxClosedError(self.close_code, self.close_reason)
                self._event.clear()
                self._waiting = True
            await self._event.wait()

    def close(self, code: int = 1000, reason: str = "", *, discard: bool = False) -> None:
        """Refuse later puts; :meth:`get` hands out what is queued (unless ``discard``),
        then raises :class:`OutboxClosedError` so the send loop closes the socket."""
        with self._lock:
            if not self.closed:
                self.closed = True
                self.close_code = code
                self.close_reason = reason
            if discard:
                self._queue.clear()
                self._droppable.clear()
                self.bytes = 0
            self._waiting = False
        self._wake()
