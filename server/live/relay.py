"""Class mode across worker processes: a class whose teacher is on one worker and
whose students are on others (docs/deploy.md, "Several workers").

The worker whose session is shared under a code **owns** the class: it claims the
code on the bus (:mod:`server.live.bus`: unique across the site, refreshed while
the class lives) and, while other workers have followers of it, publishes each
message its class gets **once** — the :class:`~server.live.outbox.Shared` entry's
JSON, the same bytes its own followers are sent — on the class's channel, with a
small header (the owner's *epoch*, a sequence number, the outbox options). Every
worker with followers of that code subscribes once and puts the bytes, undecoded,
on its own followers' outboxes (a :class:`Room` per code).

A follower joining on another worker gets the greeting a follower on the owner
gets (``run``, ``state``, ``timeline``, the frames, the metrics series, the views
open: :meth:`Session.welcome`) by asking the owner over the bus; stream messages
that arrive meanwhile are held and those newer than the greeting delivered after
it. ``fork`` there asks the owner for the run file (what the owner's page keeps
as its ``save``) and replays it locally, a piece at a time; a lesson ``check``
goes to the owner, which counts it among the class's answers (under the asking
worker's id and the student's connection there, never a name) or judges it. A
message from a new epoch (the teacher's page shares again on another worker,
proving it with its share key; or the bus came back) redraws the room's
followers from the new owner.

Threads: every bus call is a coroutine on the event loop; what the engine thread
asks (claim, release, publish, join, leave…) is handed over with
``call_soon_threadsafe`` and a thread-safe queue, and what the loop learns comes
back as jobs on the engine thread (:meth:`Worker.submit`), which alone touches
sessions and connections' state.

About 800 lines, because the two ends of a class across workers — the owner's
(claims, publishing, answering) and the followers' (rooms, greetings, copies) —
share one header format and one request protocol, and read best side by side.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import itertools
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine, Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from server.live.bus import CODE_TTL_S, Bus, BusDownError
from server.live.downloads import Built, find_download
from server.live.outbox import Message, Outbox, Shared
from server.live.playback import keep_params
from server.live.session import merge_metrics
from server.live.sharing import Follower, for_followers
from server.live.store import SessionStore, new_code
from server.live.worker import Worker
from server.protocol import LessonCommand, encode_bytes, server_message
from server.run.runfile import run_file
from server.settings import Settings

log = logging.getLogger("backprop_lab.relay")

#: how long a follower's worker waits for the owner's greeting (or run file)
ASK_TIMEOUT_S = 3.0
#: how often an owner refreshes its codes' claims
REFRESH_S = CODE_TTL_S / 4
#: followers another worker has not confirmed for this long are forgotten
STALE_S = 4 * REFRESH_S
#: how long a worker waits for a download another worker builds
DOWNLOAD_TIMEOUT_S = 20.0
#: how long the directory keeps a session's worker without its being noted again
DIRECTORY_TTL_S = 3600.0
#: how long a room whose class had no owner waits before it asks again
RETRY_S = 1.0
#: stream messages held for followers whose greeting is on its way
BUFFER_MAX = 512
#: the outbox merges a follower's worker may apply (by name: functions do not travel)
MERGES: dict[str, Callable[[Message, Message], Message]] = {
    f.__name__: f for f in (merge_metrics, keep_params)}
Job = Callable[[], Any]


def secret_hash(key: str) -> str:
    """What the bus keeps of a share key (the key itself stays with the page)."""
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def session_hash(session_id: str) -> str:
    """A session's name in the directory (its id controls it and stays here)."""
    return hashlib.sha256(b"session " + session_id.encode()).hexdigest()[:32]


def _options(kw: dict[str, Any]) -> dict[str, Any]:
    """An entry's outbox options as they travel."""
    merge = kw.get("merge")
    return {"k": kw.get("key"), "d": bool(kw.get("droppable")),
            "m": getattr(merge, "__name__", None) if merge is not None else None}


def _kw(head: dict[str, Any]) -> dict[str, Any]:
    """Outbox options back from :func:`_options`."""
    kw: dict[str, Any] = {"droppable": bool(head.get("d"))}
    if head.get("k"):
        kw["key"] = head["k"]
    merge = MERGES.get(head.get("m") or "")
    if merge is not None:
        kw["merge"] = merge
    return kw


class ClassFeed:
    """The owner's side of one class: numbers and publishes its messages (engine
    thread; :class:`~server.live.sharing.Feed`)."""

    def __init__(self, relay: ClassRelay, code: str) -> None:
        self.relay = relay
        self.code = code
        self.epoch = secrets.token_hex(4)
        self.seq = 0

    def put(self, entry: Shared, kw: dict[str, Any]) -> None:
        """Publish ``entry`` once for every other worker's followers."""
        self.seq += 1
        head = {"e": self.epoch, "s": self.seq, "b": entry.bundle, "n": entry.count,
                "f": entry.frames, **_options(kw)}
        self.relay.queue(self.code, head, entry)

    def end(self, reason: str) -> None:
        """Sharing ended: the followers elsewhere are told ``reason``."""
        self.relay.queue(self.code, {"e": self.epoch, "end": reason}, None)

    def announce(self) -> None:
        """This worker owns the class now: rooms elsewhere ask for a greeting."""
        self.relay.queue(self.code, {"e": self.epoch, "hello": True}, None)


class RemoteClass:
    """A class owned by another worker, as a follower here follows it (a
    :class:`~server.live.sharing.Leader`)."""

    def __init__(self, relay: ClassRelay, code: str) -> None:
        self.relay = relay
        self.code = code
        self.id = "class:" + code

    def add_follower(self, f: Follower) -> None:
        """Follow (or, again, redraw): the greeting comes from the owner."""
        f.leader = self
        self.relay.soon(self.relay.join_room, self, f)

    def remove_follower(self, f: Follower) -> None:
        """Stop following."""
        if f.leader is self:
            f.leader = None
        self.relay.soon(self.relay.leave_room, self.code, f)

    def fetch_run(self, owner: Hashable,
                  then: Callable[[dict[str, Any] | None], Any]) -> None:
        """Get the class's run file (None if unreachable); ``then(run)`` runs on the
        engine thread in ``owner``'s turn."""
        self.relay.later(self.relay.fetch_run, self.code, owner, then)

    def check(self, msg: LessonCommand, outbox: Outbox) -> None:
        """A lesson ``check`` judged by the owner, answered on ``outbox``."""
        self.relay.later(self.relay.check, self.code, msg.model_dump(mode="json"), outbox)


@dataclass(eq=False)
class Room:
    """The followers on this worker of one class owned elsewhere (event loop)."""

    code: str
    members: dict[Follower, RemoteClass] = field(default_factory=dict)  # greeted
    waiting: dict[Follower, RemoteClass] = field(default_factory=dict)  # greeting due
    redraw: set[Follower] = field(default_factory=set)  # members waiting for a redraw
    epoch: str | None = None
    owner: str | None = None
    greeting: bool = False
    buffer: list[tuple[dict[str, Any], bytes]] = field(default_factory=list)
    retrying: bool = False  # a redraw that found no owner is tried again soon
    misses: int = 0  # redraws in a row that found no owner
    #: followers kept waiting who were never greeted (new ones whose class's owner did not
    #: answer): told as a new follower is if the class does not come back
    fresh: set[Follower] = field(default_factory=set)

    def __len__(self) -> int:
        return len(self.members) + len(self.waiting)


class ClassRelay:
    """Class codes, streams, greetings and copies between worker processes
    (:class:`~server.live.sharing.Classes` for the store)."""

    def __init__(self, bus: Bus, worker: Worker, store: SessionStore,
                 settings: Settings) -> None:
        self.bus = bus
        self.worker = worker
        self.store = store
        self.settings = settings
        self.loop: asyncio.AbstractEventLoop | None = None
        self.rooms: dict[str, Room] = {}
        self.owned: dict[str, str] = {}  # code → secret hash (event loop)
        self._out: deque[tuple[str, dict[str, Any], Shared | None]] = deque()
        self._out_lock = threading.Lock()
        self._out_event: asyncio.Event | None = None
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sessions: dict[str, str] = {}  # session hash → id, of sessions here
        #: when each worker last told a class here its followers (engine thread)
        self._seen: dict[tuple[int, str], float] = {}
        self.published = 0  # messages published (for /metrics)
        self.dropped = 0  # messages not published: the bus was down

    @property
    def local(self) -> bool:
        """True when no other process shares the bus."""
        return self.bus.local

    # ---- life (event loop) ---------------------------------------------------------------

    async def start(self) -> None:
        """Connect the bus and start publishing and refreshing."""
        self.loop = asyncio.get_running_loop()
        self._out_event = asyncio.Event()
        await self.bus.start(self)
        if not self.bus.local:
            self.spawn(self._publisher())
            self.spawn(self._refresher())

    async def stop(self) -> None:
        """Give the codes back and disconnect."""
        for code in list(self.owned):
            with contextlib.suppress(BusDownError):
                await self.bus.release(code)
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        await self.bus.stop()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run ``coro`` as a task on the loop (on the loop)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Call ``fn(*args)`` on the loop (from any thread)."""
        loop = self.loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(fn, *args)

    def later(self, fn: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> None:
        """Run the coroutine ``fn(*args)`` on the loop (from any thread)."""
        self.soon(lambda: self.spawn(fn(*args)))

    def engine(self, owner: Hashable, job: Job) -> None:
        """Run ``job`` on the engine thread in ``owner``'s turn."""
        self.worker.submit(owner, job)

    # ---- the store's port (engine thread) ------------------------------------------------

    def claim(self, session_id: str, code: str, key: str) -> None:
        """Claim ``code`` for session ``session_id``'s run (the store hears back)."""
        self.later(self._claim, session_id, code, secret_hash(key))

    def release(self, code: str) -> None:
        """Sharing under ``code`` ended here."""
        self.later(self._release, code)

    def follow_elsewhere(self, code: str, followers: list[Follower]) -> None:
        """The class moved to another worker: these followers follow it there."""
        for f in followers:
            RemoteClass(self, code).add_follower(f)

    def placed(self, session_id: str) -> None:
        """A session opened here: noted in the session directory (under a hash: the id
        controls the session and stays here), so that a download its page sends to
        another worker is answered. (Its run is not copied: a learner's reconnect to
        another worker restores it from the page's own copy, docs/deploy.md.)"""
        h = session_hash(session_id)
        self._sessions[h] = session_id
        self.later(self._place, [h])

    def forgotten(self, session_id: str) -> None:
        """A session here was freed."""
        h = session_hash(session_id)
        if self._sessions.pop(h, None) is not None:
            self.later(self._forget, h)

    async def _place(self, keys: list[str]) -> None:
        with contextlib.suppress(BusDownError):
            await self.bus.place(keys, DIRECTORY_TTL_S)

    async def _forget(self, key: str) -> None:
        with contextlib.suppress(BusDownError):
            await self.bus.forget(key)

    def queue(self, code: str, head: dict[str, Any], entry: Shared | None) -> None:
        """Publish ``head`` (and ``entry``'s JSON) on class ``code``'s channel, in order."""
        with self._out_lock:
            wake = not self._out
            self._out.append((code, head, entry))
        if wake and self._out_event is not None:
            self.soon(self._out_event.set)

    # ---- owner: claims (event loop) ------------------------------------------------------

    async def _claim(self, session_id: str, asked: str, secret: str) -> None:
        code, status, other = asked, "ok", None
        for _ in range(8):
            try:
                status, other = await self.bus.claim(code, secret)
            except BusDownError:  # claimed when the bus is back (the refresher)
                status, other = "ok", None
            if status != "taken":
                break
            code = new_code()
        self.owned[code] = secret
        if status == "moved" and other and other != self.bus.worker_id:
            await self._send(other, {"op": "lost", "code": code})
        log.info("class claimed", extra={"code_status": status})

        def settle() -> None:
            if not self.store.claimed(session_id, asked, code):
                self.later(self._release, code)
                return
            s = self.store.shared(code)
            if s is not None:
                feed = ClassFeed(self, code)
                s.audience.feed = feed
                feed.announce()

        self.engine(("class", code), settle)

    async def _release(self, code: str) -> None:
        self.owned.pop(code, None)
        with contextlib.suppress(BusDownError):
            await self.bus.release(code)

    async def _refresher(self) -> None:
        since = 0.0
        while True:
            await asyncio.sleep(REFRESH_S)
            await self._refresh()
            since += REFRESH_S
            if since >= DIRECTORY_TTL_S / 4:  # the directory's entries, now and then
                since = 0.0
                await self._place(list(self._sessions))

    async def _refresh(self) -> None:
        for room in list(self.rooms.values()):  # our followers' counts, to their owners
            if room.owner is not None and len(room):
                await self._send(room.owner, {"op": "count", "code": room.code,
                                              "n": len(room)})
        for code in list(self.owned):
            self.engine(("class", code), functools.partial(self._prune, code))
        if not self.owned:
            return
        try:
            lost = await self.bus.refresh(dict(self.owned))
        except BusDownError:
            return
        for code in lost:
            self._lost(code)

    def _lost(self, code: str) -> None:
        if self.owned.pop(code, None) is not None:
            log.info("class code lost", extra={"code_owner": "another worker"})
            self.engine(("class", code), lambda: self.store.code_lost(code))

    # ---- owner: publishing (event loop) --------------------------------------------------

    async def _publisher(self) -> None:
        assert self._out_event is not None
        while True:
            await self._out_event.wait()
            self._out_event.clear()
            with self._out_lock:
                items = list(self._out)
                self._out.clear()
            out = [(code, orjson.dumps(head) + b"\n"
                    + (entry.json(encode_bytes) if entry is not None else b""))
                   for code, head, entry in items]
            try:
                for i in range(0, len(out), 256):
                    await self.bus.publish(out[i:i + 256])
                self.published += len(out)
            except BusDownError:
                self.dropped += len(out)

    # ---- the bus's handler (event loop) --------------------------------------------------

    def on_up(self) -> None:
        """The bus is (back) up: claim our codes again, note our sessions again and
        redraw every room (messages were missed while it was away)."""
        self.spawn(self._refresh())
        if self._sessions:
            self.spawn(self._place(list(self._sessions)))
        for room in list(self.rooms.values()):
            self._redraw(room)

    def on_worker(self, data: bytes) -> None:
        """A request or reply from another worker."""
        try:
            body = orjson.loads(data)
            op = body["op"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return
        if op == "reply":
            fut = self._pending.pop(str(body.get("id")), None)
            if fut is not None and not fut.done():
                fut.set_result(body)
            return
        code = str(body.get("code", ""))
        if op == "download":
            self.engine(("download", str(body.get("session"))), lambda: self._download(body))
            return
        if op == "lost":
            self._lost(code)
            return
        handler = {"greet": self._greet, "runfile": self._runfile, "count": self._count,
                   "check": self._check, "left": self._left}.get(op)
        if handler is not None:
            self.engine(("class", code), lambda: handler(body))

    # ---- owner: answering (engine thread) ------------------------------------------------

    def _owned_session(self, code: str) -> Any:
        s = self.store.shared(code)
        return s if s is not None and s.audience.feed is not None else None

    def _reply(self, body: dict[str, Any], data: bytes) -> None:
        """Send ``data`` (a reply's JSON) back to the asking worker."""
        self.later(self._send_bytes, str(body.get("from")), data)

    def _reply_json(self, body: dict[str, Any], **fields: Any) -> None:
        self._reply(body, encode_bytes({"op": "reply", "id": body.get("id"), **fields}))

    def _greet(self, body: dict[str, Any]) -> None:
        s = self._owned_session(str(body.get("code")))
        if s is None:
            self._reply_json(body, ok=False)
            return
        a = s.audience
        # the class's max_followers counts every worker's followers: this worker's
        # followers may take what the others leave (its followers already greeted first)
        asker = str(body.get("from"))
        room = max(0, self.settings.max_followers - (a.total() - a.remote.get(asker, 0)))
        self._set_remote(a, {**body, "n": min(int(body.get("n", 0)), room)})
        parts = []
        for msg, kw in s.welcome():
            entry = for_followers(msg)
            if entry is not None:
                parts.append(b'{"kw":' + orjson.dumps(_options(kw)) + b',"msg":'
                             + entry.json(encode_bytes) + b"}")
        head = orjson.dumps({"op": "reply", "id": body.get("id"), "ok": True,
                             "epoch": a.feed.epoch, "seq": a.feed.seq,
                             "followers": a.total(), "room": room})
        self._reply(body, head[:-1] + b',"entries":[' + b",".join(parts) + b"]}")
        s.send_share()

    def _set_remote(self, a: Any, body: dict[str, Any]) -> None:
        worker, n = str(body.get("from")), int(body.get("n", 0))
        if n > 0:
            a.remote[worker] = n
            self._seen[(id(a), worker)] = time.monotonic()
        else:
            a.remote.pop(worker, None)
            self._seen.pop((id(a), worker), None)

    def _prune(self, code: str) -> None:
        """(Engine thread) forget the followers of workers that stopped saying how many
        they have (a worker that died): a class nobody watches any more can end."""
        s = self._owned_session(code)
        if s is None:
            return
        a = s.audience
        old = time.monotonic() - STALE_S
        stale = [w for w in a.remote if self._seen.get((id(a), w), 0.0) < old]
        for w in stale:
            del a.remote[w]
            self._seen.pop((id(a), w), None)
        if stale:
            s.send_share()

    def _count(self, body: dict[str, Any]) -> None:
        s = self._owned_session(str(body.get("code")))
        if s is not None:
            self._set_remote(s.audience, body)
            s.send_share()

    def _left(self, body: dict[str, Any]) -> None:
        """A follower on another worker left: its answer to the open step goes (as a
        follower here leaving: :meth:`LessonDesk.left`; a reload answers again)."""
        s = self._owned_session(str(body.get("code")))
        who = body.get("who")
        if s is not None and isinstance(who, int):
            s.lessons.withdraw((str(body.get("from")), who))

    def _runfile(self, body: dict[str, Any]) -> None:
        s = self._owned_session(str(body.get("code")))
        if s is None:
            self._reply_json(body, ok=False)
            return
        self._reply_json(body, ok=True, run=run_file(s.history, metrics=False))

    def _download(self, body: dict[str, Any]) -> Iterator[None] | None:
        session_id = self._sessions.get(str(body.get("session")))
        s = self.store.get(session_id) if session_id is not None else None
        found = find_download(str(body.get("name")))
        if s is None or found is None:
            self._reply_json(body, ok=False)
            return None
        return self._build(body, found[0](s))

    def _build(self, body: dict[str, Any], pieces: Built) -> Iterator[None]:
        """Build a download a piece per turn, then send it to the worker that asked."""
        try:
            text, name = yield from pieces
        except Exception:
            self._reply_json(body, ok=False)
            raise
        self._reply_json(body, ok=True, text=text, name=name)

    def _check(self, body: dict[str, Any]) -> None:
        s = self._owned_session(str(body.get("code")))
        out: list[dict[str, Any]] = []
        if s is None:
            self._reply_json(body, ok=False)
            return
        try:
            msg = LessonCommand.model_validate(body.get("msg"))
        except ValueError:
            self._reply_json(body, ok=False)
            return

        def put(m: Any, **_: Any) -> None:
            out.append(m)

        def error(code: str, message: str, **extra: Any) -> None:
            out.append(server_message("error", code=code, message=message, **extra))

        # the student's key among the class's answers: its worker and its connection there
        who = body.get("who")
        s.lessons.check_for(msg, put, error,
                            who=(str(body.get("from")), who) if isinstance(who, int) else None)
        self._reply_json(body, ok=True, messages=out)

    # ---- followers' side (event loop) ----------------------------------------------------

    async def _send_bytes(self, worker: str, data: bytes) -> None:
        with contextlib.suppress(BusDownError):
            await self.bus.send(worker, data)

    async def _send(self, worker: str, body: dict[str, Any]) -> None:
        await self._send_bytes(worker, orjson.dumps({**body, "from": self.bus.worker_id}))

    async def _ask(self, worker: str, body: dict[str, Any],
                   timeout: float = ASK_TIMEOUT_S) -> dict[str, Any] | None:
        """Ask ``worker`` and await its reply (None: no answer in time, or the bus is down)."""
        assert self.loop is not None
        rid = f"{self.bus.worker_id}:{next(self._ids)}"
        fut: asyncio.Future[dict[str, Any]] = self.loop.create_future()
        self._pending[rid] = fut
        try:
            await self.bus.send(worker, orjson.dumps({**body, "id": rid,
                                                      "from": self.bus.worker_id}))
            return await asyncio.wait_for(fut, timeout)
        except (TimeoutError, BusDownError):
            return None
        finally:
            self._pending.pop(rid, None)

    async def _ask_owner(self, code: str, body: dict[str, Any]
                         ) -> tuple[dict[str, Any] | None, str | None, bool]:
        """``(reply, owner, unknown)``: ``unknown`` when no worker holds ``code``."""
        try:
            owner = await self.bus.owner(code)
        except BusDownError:
            return None, None, False
        if owner is None:
            return None, None, True
        return await self._ask(owner, {**body, "code": code}), owner, False

    def join_room(self, leader: RemoteClass, f: Follower) -> None:
        """``f`` follows class ``leader.code`` (again: a redraw)."""
        room = self.rooms.get(leader.code)
        if room is None:
            room = self.rooms[leader.code] = Room(leader.code)
        room.members.pop(f, None)
        room.redraw.discard(f)
        room.waiting[f] = leader
        self._greet_soon(room)

    def leave_room(self, code: str, f: Follower) -> None:
        """``f`` stopped following class ``code``."""
        room = self.rooms.get(code)
        if room is None:
            return
        room.members.pop(f, None)
        room.waiting.pop(f, None)
        room.redraw.discard(f)
        room.fresh.discard(f)
        if room.owner is not None:  # its answer to a lesson step no longer counts
            self.spawn(self._send(room.owner, {"op": "left", "code": code,
                                               "who": id(f.outbox)}))
        self._after_change(room)

    def _after_change(self, room: Room) -> None:
        if room.owner is not None:
            self.spawn(self._send(room.owner, {"op": "count", "code": room.code,
                                               "n": len(room)}))
        if not len(room) and not room.greeting:
            self.rooms.pop(room.code, None)
            self.spawn(self.bus.unsubscribe(room.code))

    def _greet_soon(self, room: Room) -> None:
        if not room.greeting:
            room.greeting = True
            self.spawn(self._greet_room(room))

    def _redraw(self, room: Room) -> None:
        """Greet every follower of ``room`` afresh (a new owner, or messages missed)."""
        for f, leader in room.members.items():
            room.waiting[f] = leader
            room.redraw.add(f)
        room.members.clear()
        if room.waiting:
            self._greet_soon(room)

    async def _greet_room(self, room: Room) -> None:
        try:
            while room.waiting:
                await self.bus.subscribe(room.code)
                room.buffer = []
                batch = dict(room.waiting)
                reply, owner, unknown = await self._ask_owner(
                    room.code, {"op": "greet", "n": len(room)})
                if reply is None or not reply.get("ok"):
                    # (no answer from a worker that holds the code: dead, or slow; no
                    # owner to ask at all: Redis is away)
                    self._not_greeted(room, batch, "unknown" if unknown or reply else
                                      "no answer" if owner is not None else "redis away")
                    continue
                self._greeted(room, batch, reply, owner)
        finally:
            room.greeting = False
            room.buffer = []
        self._after_change(room)

    def _not_greeted(self, room: Room, batch: dict[Follower, RemoteClass],
                     reason: str) -> None:
        """No greeting: followers being redrawn stay (their class may come back on
        another worker: its teacher's page shares again), and so do new ones when the
        code's owner did not answer (its worker died: its claim outlives it by up to
        CODE_TTL_S, and a student of that worker reconnecting here is a new follower); new
        ones are told when no worker holds the code, or its owner says it is unknown."""
        for f, leader in batch.items():
            if room.waiting.get(f) is not leader:
                continue
            del room.waiting[f]
            greeted_before = f in room.redraw and f not in room.fresh
            room.redraw.discard(f)
            if greeted_before or reason == "no answer":
                if not greeted_before:
                    room.fresh.add(f)
                room.members[f] = leader
                if not room.retrying:
                    room.retrying = True
                    self.spawn(self._retry(room))
            else:
                room.fresh.discard(f)
                self._tell_gone(f, leader, reason)

    def _tell_gone(self, f: Follower, leader: RemoteClass, reason: str) -> None:
        """(On the engine thread) ``f``'s class is not to be had: an error and a run of
        its own, as for a code unknown here."""
        if f.gone is not None:
            self.engine(("follow", id(f)), functools.partial(f.gone, leader, reason))

    async def _retry(self, room: Room) -> None:
        """Redraw ``room`` again in a while: its owner may be claiming its code again
        (Redis restarted) or its teacher's page may share it again on another worker."""
        await asyncio.sleep(RETRY_S)
        room.retrying = False
        if self.rooms.get(room.code) is not room or not room.members:
            return
        room.misses += 1
        if room.misses * RETRY_S > 2 * CODE_TTL_S:  # its teacher did not come back
            self._end_room(room, "ended")
        else:
            self._redraw(room)

    def _greeted(self, room: Room, batch: dict[Follower, RemoteClass],
                 reply: dict[str, Any], owner: str | None) -> None:
        room.epoch = str(reply.get("epoch"))
        room.owner = owner
        room.misses = 0
        seq = int(reply.get("seq", 0))
        entries = [(Shared(e["msg"]), _kw(e["kw"])) for e in reply.get("entries", [])]
        follow = server_message("follow", code=room.code, active=True,
                                followers=reply.get("followers", 0))
        held = [(head, self._entry(head, data)) for head, data in room.buffer
                if head.get("e") == room.epoch and int(head.get("s", 0)) > seq]
        # the class's room for this worker's followers: those redrawn keep their place,
        # newcomers past it are told the class is full (max_followers, all workers)
        room_left = int(reply.get("room", len(batch) + len(room.members))) - len(room.members)
        order = sorted(batch.items(), key=lambda item: item[0] not in room.redraw)
        for f, leader in order:
            if room.waiting.get(f) is not leader:
                continue
            del room.waiting[f]
            room.redraw.discard(f)
            room.fresh.discard(f)
            if f.leader is not leader:
                continue
            if room_left <= 0:
                if f.gone is not None:
                    self.engine(("follow", id(f)), functools.partial(f.gone, leader, "full"))
                continue
            room_left -= 1
            f.outbox.put(follow)
            for entry, kw in entries:
                f.outbox.put(entry, **kw)
            for head, entry in held:
                f.outbox.put(entry, **_kw(head))
            room.members[f] = leader
        room.buffer = []

    @staticmethod
    def _entry(head: dict[str, Any], data: bytes) -> Shared:
        """A stream message as an outbox entry: its bytes as they came (decoded only
        when its outbox may merge it into a pending one)."""
        item = orjson.loads(data) if head.get("m") else None
        return Shared.encoded(data, bundle=bool(head.get("b")), count=int(head.get("n", 1)),
                              frames=int(head.get("f", 0)), item=item)

    def on_class(self, code: str, data: bytes) -> None:
        """A message on class ``code``'s channel: to this worker's followers."""
        room = self.rooms.get(code)
        if room is None:
            return
        nl = data.find(b"\n")
        try:
            head = orjson.loads(data[:nl])
        except orjson.JSONDecodeError:
            return
        body = data[nl + 1:]
        epoch = head.get("e")
        if "end" in head:
            if epoch == room.epoch:
                self._end_room(room, str(head["end"]))
            return
        if "hello" in head:
            if epoch != room.epoch and room.members:
                self._redraw(room)
            return
        if room.greeting and len(room.buffer) < BUFFER_MAX:
            room.buffer.append((head, body))
        if epoch != room.epoch:
            if not room.greeting and room.members:
                self._redraw(room)  # a new owner we had not heard of
            return
        entry = self._entry(head, body)
        kw = _kw(head)
        for f in room.members:
            f.outbox.put(entry, **kw)

    def _end_room(self, room: Room, reason: str) -> None:
        """Sharing ended at the owner: every follower here is let go (one never greeted
        is told the class did not answer, and gets a run of its own)."""
        self.rooms.pop(room.code, None)
        self.spawn(self.bus.unsubscribe(room.code))
        fresh = {f: room.members.pop(f) for f in room.fresh if f in room.members}
        room.fresh = set()
        for f, leader in fresh.items():
            self._tell_gone(f, leader, "no answer")
        followers = {**room.members, **room.waiting}
        room.members, room.waiting = {}, {}
        msg = server_message("follow", code=room.code, active=False, reason=reason)

        def end() -> None:
            for f, leader in followers.items():
                if f.leader is leader:
                    f.leader = None
                    f.outbox.put(msg)

        self.engine(("class", room.code), end)

    # ---- followers' side: copies and checks ----------------------------------------------

    async def fetch_run(self, code: str, owner: Hashable,
                        then: Callable[[dict[str, Any] | None], Any]) -> None:
        """Get class ``code``'s run file from its owner; ``then(run)`` on the engine
        thread (``run`` None when it could not be had)."""
        reply, _, _ = await self._ask_owner(code, {"op": "runfile"})
        run = reply.get("run") if reply is not None and reply.get("ok") else None
        self.engine(owner, lambda: then(run))

    async def download(self, session_id: str, name: str) -> tuple[str, str] | None:
        """Download ``name`` of a session another worker holds: ``(body, file name)``,
        or None (no worker holds it, or no answer)."""
        h = session_hash(session_id)
        try:
            worker = await self.bus.where(h)
        except BusDownError:
            return None
        if worker is None or worker == self.bus.worker_id:
            return None
        reply = await self._ask(worker, {"op": "download", "session": h, "name": name},
                                DOWNLOAD_TIMEOUT_S)
        if reply is None or not reply.get("ok"):
            return None
        return str(reply["text"]), str(reply["name"])

    async def check(self, code: str, msg: dict[str, Any], outbox: Outbox) -> None:
        """A follower's lesson ``check``, counted or judged by the owner (``who``: its
        connection here), answered on ``outbox``."""
        reply, _, _ = await self._ask_owner(code, {"op": "check", "msg": msg, "who": id(outbox)})
        if reply is None or not reply.get("ok"):
            outbox.put(server_message("error", code="internal", message="the class's "
                                      "server did not answer the check; try again"))
            return
        for m in reply.get("messages", []):
            outbox.put(m)
