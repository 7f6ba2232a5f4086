"""A bounded, coalescing outgoing queue for one connection.

A client that reads slowly must cost bounded memory and must never hold up
others. Messages are queued in order; when the queue is full the oldest
*droppable* message (a frame superseded by newer ones) is discarded, and
messages put under a ``key`` replace (or merge into) the pending one with the
same key, so a slow reader always receives the latest state.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

Message = dict[str, Any]


class Outbox:
    """Pending messages of one connection; :meth:`get` waits for the next."""

    def __init__(self, limit: int = 64) -> None:
        self.limit = limit
        self._queue: OrderedDict[int | str, tuple[Message, bool]] = OrderedDict()
        self._seq = 0
        self._event = asyncio.Event()
        self.dropped = 0
        self.closed = False

    def __len__(self) -> int:
        return len(self._queue)

    def put(
        self,
        msg: Message,
        *,
        droppable: bool = False,
        key: str | None = None,
        merge: Callable[[Message, Message], Message] | None = None,
    ) -> None:
        """Queue ``msg``; with ``key``, replace or ``merge(old, new)`` a pending one."""
        if self.closed:
            return
        if key is not None and key in self._queue:
            old, _ = self._queue[key]
            self._queue[key] = (merge(old, msg) if merge else msg, droppable)
            if merge is None:
                self._queue.move_to_end(key)
        else:
            self._seq += 1
            self._queue[key if key is not None else self._seq] = (msg, droppable)
        while len(self._queue) > self.limit:
            victim = next((k for k, (_, d) in self._queue.items() if d), None)
            if victim is None:
                victim = next(iter(self._queue))
            del self._queue[victim]
            self.dropped += 1
        self._event.set()

    async def get(self) -> Message:
        """The oldest pending message, waiting for one if none is queued."""
        while not self._queue:
            self._event.clear()
            await self._event.wait()
        _, (msg, _) = self._queue.popitem(last=False)
        return msg

    def close(self) -> None:
        """Drop everything and ignore later puts."""
        self.closed = True
        self._queue.clear()
