"""The engine thread: every session's work, off the event loop, in fair turns.

The event loop does I/O only: it accepts connections, reads messages, sends
what outboxes hold and answers HTTP. Everything that touches a session — a
command, the shared clock's ticks, a loaded run's indexing, a download's
content — runs on one :class:`Worker` thread that owns all session state, so
nothing there needs a lock and no engine step can hold the loop: a learner's
handshake and ``/healthz`` are answered while a big network trains.

Fairness. Work is queued per *owner* (a connection, a session's indexer, a
download) and served round robin, one *piece* per turn. A job is a callable;
if it returns a generator, each ``next()`` is one piece and the rest of the
job waits for the owner's next turn, ahead of the owner's later jobs (so a
long seek finishes before the learner's next command runs, and other learners
get their turns in between). Pieces are kept short by the cost model
(:mod:`server.run.cost`), so a heavy session slows itself, not the others.
The clock's ticks come first whenever they are due (play is what a class
watches), within the clock's own time budget per tick. After a tick that could
not serve every playing session (the clock's ``overruns``), with no other work
waiting, the thread steps aside for :data:`SEND_TURN_S` so the event loop, which
shares the GIL, sends what the tick made before the next one starts.

Only :class:`~server.live.outbox.Outbox` is shared with the event loop; it is
thread-safe.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Hashable
from typing import Any, Protocol, TypeVar

from server.live.outbox import gathered_wakes

log = logging.getLogger("backprop_lab.worker")

T = TypeVar("T")
Job = Callable[[], Any]
#: how often the store frees idle and abandoned sessions
REAP_PERIOD_S = 1.0
#: how long the engine thread steps aside after a tick that could not serve everyone
SEND_TURN_S = 0.001


class Ticker(Protocol):
    """What the worker drives on a schedule: the shared clock."""

    @property
    def period(self) -> float:
        """Seconds between ticks."""

    def tick(self, now: float) -> int:
        """Advance the playing sessions; how many were served."""

    def reap(self, now: float) -> None:
        """Free idle and abandoned sessions."""


class Worker:
    """One thread that runs every session's work, owner by owner in turn."""

    def __init__(self, ticker: Ticker | None = None, name: str = "engine") -> None:
        self.ticker = ticker
        self.name = name
        self._cv = threading.Condition()
        self._queues: dict[Hashable, deque[Any]] = {}  # owner → jobs (or a running generator)
        self._ring: deque[Hashable] = deque()  # owners with work, in turn
        self._thread: threading.Thread | None = None
        self._running: Hashable | None = None  # the owner whose piece runs now
        self._stopping = False
        self.pieces = 0  # pieces run (for tests and logs)
        self.busy_s = 0.0  # seconds spent on jobs and on the clock's ticks
        self.longest_s = 0.0  # the longest single piece

    # ---- from any thread ---------------------------------------------------------

    def start(self) -> None:
        """Start the thread (once; later calls do nothing)."""
        with self._cv:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the piece under way; queued work is dropped."""
        with self._cv:
            self._stopping = True
            self._cv.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        with self._cv:
            self._queues.clear()
            self._ring.clear()
            self._thread = None

    def submit(self, owner: Hashable, job: Job) -> None:
        """Queue ``job`` for ``owner`` (after the owner's earlier jobs)."""
        with self._cv:
            q = self._queues.get(owner)
            if q is None:
                q = self._queues[owner] = deque()
                if owner != self._running:  # (a running owner rejoins the ring after)
                    self._ring.append(owner)
            q.append(job)
            self._cv.notify()
        if self._thread is None:
            self.start()

    def cancel(self, owner: Hashable) -> None:
        """Drop ``owner``'s queued work (a generator under way stops at its next turn:
        it is dropped, not closed, as it may be running on the worker right now)."""
        with self._cv:
            if self._queues.pop(owner, None) is not None and owner in self._ring:
                self._ring.remove(owner)

    def waiting(self) -> int:
        """Owners with work queued (a measure of how far behind the thread is)."""
        with self._cv:
            return len(self._queues)

    def pending(self, owner: Hashable) -> int:
        """Jobs queued for ``owner`` (a generator under way counts as one)."""
        with self._cv:
            return len(self._queues.get(owner, ()))

    async def call(self, owner: Hashable, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the worker in ``owner``'s turn and await its result."""
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()

        def job() -> None:
            if not fut.set_running_or_notify_cancel():
                return
            try:
                fut.set_result(fn())
            except BaseException as e:  # handed to the awaiting coroutine
                fut.set_exception(e)

        self.submit(owner, job)
        return await asyncio.wrap_future(fut)

    async def call_pieces(self, owner: Hashable, fn: Callable[[], Generator[Any, None, T]]
                          ) -> T:
        """Run the generator ``fn()`` on the worker, one ``next()`` per turn of ``owner``,
        and await what it returns. If the owner's work is cancelled meanwhile, the
        awaiting coroutine gets :class:`concurrent.futures.CancelledError`."""
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()

        def job() -> Generator[None, None, None]:
            if not fut.set_running_or_notify_cancel():
                return
            try:
                result = yield from fn()
            except GeneratorExit:  # dropped by cancel() and collected
                fut.set_exception(concurrent.futures.CancelledError())
                raise
            except BaseException as e:  # handed to the awaiting coroutine
                fut.set_exception(e)
            else:
                fut.set_result(result)

        self.submit(owner, job)
        return await asyncio.wrap_future(fut)

    # ---- the thread ------------------------------------------------------------------

    def _run(self) -> None:
        ticker = self.ticker
        period = ticker.period if ticker is not None else 1.0
        next_tick = time.monotonic()
        next_reap = next_tick + REAP_PERIOD_S
        while True:
            if self._stopping:  # (a clock that is always due never reaches the wait below)
                return
            now = time.monotonic()
            if ticker is not None and now >= next_tick:
                overruns = getattr(ticker, "overruns", 0)
                with gathered_wakes():  # the tick's messages go to the loop at once
                    self._guard(ticker.tick, now)
                next_tick += period
                if next_tick < now - period:  # fell behind: no burst of catch-up ticks
                    next_tick = now + period
                if getattr(ticker, "overruns", 0) > overruns and not self._ring:
                    # saturated: the tick could not serve every session and nothing else
                    # waits (a waiting command goes first: it cut the tick short). Give the
                    # event loop the GIL before the next tick, to send what this one made;
                    # else it waits for a forced switch, falls behind, and learners' frames
                    # are coalesced away (p99 interval at 200 learners 1.19 s → 0.42 s)
                    time.sleep(SEND_TURN_S)
                if now >= next_reap:
                    self._guard(ticker.reap, now)
                    next_reap = now + REAP_PERIOD_S
                continue
            with self._cv:
                if self._stopping:
                    return
                if not self._ring:
                    wait = next_tick - now if ticker is not None else None
                    self._cv.wait(wait)
                    if self._stopping:
                        return
                    continue
                owner = self._ring.popleft()
                q = self._queues.get(owner)
                if not q:  # (cancelled meanwhile)
                    continue
                item = q[0]
                self._running = owner
            try:
                with gathered_wakes():
                    self._piece(owner, item)
            except Exception:  # the thread must outlive any bookkeeping slip
                log.exception("worker piece failed", extra={"owner": type(owner).__name__})
            finally:
                with self._cv:
                    self._running = None
                    q = self._queues.get(owner)
                    if q and owner not in self._ring:
                        self._ring.append(owner)

    def _piece(self, owner: Hashable, item: Any) -> None:
        """Run one piece of ``owner``'s first job, then put the owner back in turn."""
        t0 = time.perf_counter()
        done = True
        try:
            if isinstance(item, Generator):
                next(item)
                done = False
            else:
                result = item()
                if isinstance(result, Generator):
                    with self._cv:
                        q = self._queues.get(owner)
                        if q is not None and q and q[0] is item:
                            q[0] = result
                    done = False
        except StopIteration:
            done = True
        except Exception:
            log.exception("job failed", extra={"owner": type(owner).__name__})
        finally:
            dt = time.perf_counter() - t0
            self.pieces += 1
            self.busy_s += dt
            self.longest_s = max(self.longest_s, dt)
        with self._cv:
            q = self._queues.get(owner)
            if q is None:  # cancelled meanwhile
                return
            if done and q and q[0] is item:
                q.popleft()
            elif not done and q and q[0] is not item and isinstance(item, Generator):
                return  # (cancelled and re-submitted meanwhile: the old job is dropped)
            if not q:
                del self._queues[owner]

    def _guard(self, fn: Callable[[float], Any], now: float) -> None:
        t0 = time.perf_counter()
        try:
            fn(now)
        except Exception:
            log.exception("scheduled work failed", extra={"what": fn.__name__})
        finally:
            self.busy_s += time.perf_counter() - t0
