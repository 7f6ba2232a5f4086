"""One WebSocket connection's life: its own session or the class it follows.

:mod:`server.routes.ws` guards the socket (Origin, size, rate) and runs the
two loops; every message that passes the guards comes here as text
(:meth:`Connection.receive`), is validated against :mod:`server.protocol` and
goes to the connection's session, or, while it follows a class, is refused
as read-only (``hello`` redraws, ``fork`` makes its own copy, ``leave`` stops).
Whatever a client sends, it gets at worst an ``error`` message and the
connection stays usable.

A connection that has neither a session nor a class ``hello_timeout_s`` after it
opened is closed (4002): a socket that never says hello would otherwise hold a
descriptor forever. The caps per client address (sessions, followers of one
class, wrong class codes; see :mod:`server.live.store`) count the connection
under the address :mod:`server.guards` found for it.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Iterator

from pydantic import ValidationError

from server.guards import ADDRESS
from server.live.lessons import here
from server.live.outbox import Outbox
from server.live.relay import ClassRelay, RemoteClass
from server.live.session import Session
from server.live.sharing import Follower, Leader
from server.live.store import SessionLimitError, SessionStore
from server.protocol import (
    Fork,
    Hello,
    LessonCommand,
    Load,
    Share,
    client_adapter,
    server_message,
)
from server.settings import Settings

log = logging.getLogger("backprop_lab.connection")

CLOSE_TRY_LATER = 1013  # the server is full
CLOSE_NO_HELLO = 4002  # neither a session nor a class within hello_timeout_s


def describe(e: ValidationError) -> tuple[str, str, str | None]:
    """``(code, message, field)`` for the first problem: the message names the field."""
    err = e.errors(include_url=False)[0]
    kind = err.get("type", "")
    loc = [str(p) for p in err.get("loc", ())]
    # pydantic puts the union tag (e.g. 'configure') first
    field = ".".join(loc[1:]) if len(loc) > 1 else (loc[0] if loc else None)
    msg = err.get("msg", "invalid message")
    if kind == "json_invalid":
        return "malformed", f"not a JSON message: {err.get('ctx', {}).get('error', msg)}", None
    if kind == "union_tag_invalid":
        tag = err.get("ctx", {}).get("tag", "?")
        expected = err.get("ctx", {}).get("expected_tags", "")
        return "unknown_type", f"unknown message type {tag!r} (expected one of {expected})", \
            "type"
    if kind == "union_tag_not_found":
        return "invalid", "a message needs a 'type' field", "type"
    if kind in ("model_attributes_type", "model_type", "dict_type") and not field:
        return "invalid", "a message must be a JSON object with a 'type' field", None
    if kind == "extra_forbidden":
        return "unknown_field", f"unknown field {field!r}", field
    if kind == "finite_number":
        return "invalid", f"{field}: numbers must be finite (no NaN or Infinity)", field
    return "invalid", (f"{field}: {msg}" if field else msg), field


class Connection:
    """The state of one socket: its outbox, its session or the class it follows."""

    def __init__(self, store: SessionStore, settings: Settings, outbox: Outbox,
                 address: str | None = None, relay: ClassRelay | None = None) -> None:
        """``address``: what the per-address caps count this connection under (default:
        what :class:`server.guards.ConnectionGuard` set for the socket's task; None
        there means the caps leave it alone). Built on the event loop, it closes itself
        if no hello comes in time."""
        self.store = store
        self.settings = settings
        self.outbox = outbox
        self.relay = relay  # class mode across worker processes (None: this one only)
        self.address = address if address is not None else ADDRESS.get()
        self.session: Session | None = None
        self.follower: Follower | None = None  # set while this connection follows a class
        self.batch = False  # the client said in its hello that it takes arrays of messages
        self.packed = False  # … and binary messages of packed frames (with batch only)
        self.received = 0
        self.errors = 0
        self._taken = 0  # messages receive() has taken (on the engine thread)
        self._follow_key: str | None = None  # the id of the run counted as followed from here
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:  # built outside the event loop (a unit test): no deadline
            self._loop = None
        self._hello_extended = False
        if self._loop is not None:
            self._loop.call_later(settings.hello_timeout_s, self._hello_due)

    def _hello_due(self) -> None:
        """``hello_timeout_s`` after the socket opened (on the event loop): close it if it
        has neither a session nor a class. Messages that came in time but that the engine
        thread has not taken yet get one more period."""
        if self.outbox.closed or self.session is not None or self.follower is not None:
            return
        wait = self.settings.hello_timeout_s
        if self._taken < self.received and not self._hello_extended and self._loop:
            self._hello_extended = True
            self._loop.call_later(wait, self._hello_due)
            return
        log.info("no hello", extra={"seconds": wait, "received": self.received})
        self.outbox.close(CLOSE_NO_HELLO, f"no hello within {wait:g} s (hello_timeout_s)")

    @property
    def leader(self) -> Leader | None:
        """The run this connection follows: a session here, or a class on another
        worker (:class:`~server.live.relay.RemoteClass`); None once it ended."""
        return self.follower.leader if self.follower is not None else None

    # ---- replies ---------------------------------------------------------------------

    def reply_error(self, code: str, message: str, **extra: object) -> None:
        """An ``error`` to this connection alone."""
        self.errors += 1
        log.debug("client error", extra={"code": code, "detail": message,
                                         "session": self.session.id if self.session else None})
        # a flood of rate-limit errors coalesces into one pending message
        key = "error:rate_limited" if code == "rate_limited" else None
        self.outbox.put(server_message("error", code=code, message=message, **extra), key=key)

    # ---- messages ----------------------------------------------------------------------

    def receive(self, text: str) -> Iterator[None] | None:
        """Validate one text message and apply it; what each piece of it sends goes out
        together. A long command (a replay) comes back as the pieces still to run (the
        engine thread runs them in this connection's turns)."""
        self._taken += 1
        with self.outbox.hold():
            try:
                msg = client_adapter.validate_json(text)
            except ValidationError as e:
                code, message, field = describe(e)
                self.reply_error(code, message, field=field)
                return None
            except (ValueError, RecursionError) as e:
                self.reply_error("malformed", f"not a JSON message: {e}")
                return None
            pieces = self.apply(msg)
            if pieces is None or not self._step(pieces, msg):
                return None
        return self._rest(pieces, msg)

    def _rest(self, pieces: Iterator[None], msg: object) -> Iterator[None]:
        while True:
            yield
            with self.outbox.hold():
                if not self._step(pieces, msg):
                    return

    def _step(self, pieces: Iterator[None], msg: object) -> bool:
        """Run one piece of a command; False once it is done (or failed)."""
        try:
            next(pieces)
            return True
        except StopIteration:
            return False
        except Exception:
            log.exception("command failed", extra={"command": type(msg).__name__})
            self.reply_error("internal", "the command failed; the session is unchanged")
            return False

    def apply(self, msg: object) -> Iterator[None] | None:
        """Apply one validated message; a session command comes back as its pieces."""
        if isinstance(msg, Hello) and msg.follow and (
                self.session is not None or self._following):
            # to (another) class run, opened below as on a first hello; a code that
            # leads nowhere changes nothing
            same = self._following and (
                self.leader is self.store.shared(msg.follow)
                or (isinstance(self.leader, RemoteClass)
                    and self.leader.code == msg.follow.upper()))
            if not same:  # (the class it follows: a hello redraws, _handle_follower)
                if self._find_class(msg.follow, "nothing changed") is None:
                    return None
                self.leave()
        if self.follower is not None:
            if self._following:
                return self._handle_follower(msg, self.follower)
            self.follower = None  # sharing ended: this connection may start its own run
            self._uncount_follow()
        if self.session is None:
            self.session = self._open_session(msg)
            if self.session is None or isinstance(msg, Hello):
                return None
        if isinstance(msg, Fork):
            self.reply_error("invalid", "fork copies a run you follow; this page follows none",
                             field="type")
            return None
        if isinstance(msg, Share):
            if msg.on:
                self.store.share(self.session, msg.code, msg.key)
            else:
                self.store.unshare(self.session)
            return None
        if isinstance(msg, Load) and not self._may_copy():
            return None
        return self.session.handle_pieces(msg)

    def _may_copy(self) -> bool:
        """Whether this address may copy or load one more run this minute
        (``max_copies_per_minute``: each replays a run); if not, an error says when."""
        address = self.address
        copies = self.store.copies
        if address is None:
            return True
        if not copies.allowed(address):
            wait = math.ceil(copies.wait_s(address))
            self.reply_error("rate_limited", "too many runs copied or opened from this "
                             f"address (max_copies_per_minute="
                             f"{self.settings.max_copies_per_minute}); try again in {wait} s",
                             limit="max_copies_per_minute")
            return False
        copies.spend(address)
        return True

    # ---- own session -------------------------------------------------------------------

    def _open_session(self, msg: object) -> Session | None:
        s = None
        if isinstance(msg, Hello):
            self.batch = msg.batch
            self.packed = self.outbox.takes_packed = msg.batch and msg.packed
            if msg.follow and self._follow(msg.follow):
                return None
        asked = isinstance(msg, Hello) and bool(msg.session)
        if asked:
            assert isinstance(msg, Hello) and msg.session
            s = self.store.resume(msg.session)
        if s is None:
            s = self._new_session()
            if s is None:
                return None
            # the page asked for a run the server does not have (a restart, a crash, a
            # freed session): its first run says so, and the page restores its copy
            s.unknown_session = asked
        s.attach(self.outbox)
        s.unknown_session = False
        return s

    def _new_session(self) -> Session | None:
        try:
            return self.store.create(address=self.address)
        except SessionLimitError as e:
            self.store.refuse(e.limit)
            self.reply_error("limit", str(e), limit=e.limit)
            self.outbox.close(CLOSE_TRY_LATER, "server full")
            return None

    # ---- following a class -------------------------------------------------------------

    @property
    def _following(self) -> bool:
        return self.follower is not None and self.follower.leader is not None

    def _find_class(self, code: str, instead: str) -> Leader | None:
        """The session shared under ``code`` with room for one more follower, or None
        after an error saying why and what happens ``instead``. An address past its
        wrong codes for the minute is refused without the code being looked up. With
        other worker processes, a code not shared here is looked for there: a
        :class:`~server.live.relay.RemoteClass` (whether it exists is known later:
        :meth:`_class_gone`)."""
        st = self.settings
        address = self.address
        failures = self.store.code_failures
        elsewhere = 0.0 if address is None else self.store.tally.elsewhere("code_failures",
                                                                           address)
        if address is not None and not failures.allowed(address, elsewhere):
            wait = math.ceil(failures.wait_s(address, elsewhere))
            self.reply_error("rate_limited", "too many wrong class codes from this address "
                             f"(max_code_failures_per_minute={st.max_code_failures_per_minute})"
                             f"; try again in {wait} s; " + instead,
                             limit="max_code_failures_per_minute", field="follow")
            return None
        leader = self.store.shared(code)
        limit = st.max_followers
        if leader is None and self.relay is not None and self.store.distributed:
            remote = RemoteClass(self.relay, code.upper())
            if address is not None and self.store.followers_from(
                    remote.id, code, address) >= st.max_followers_per_address:
                self._too_many_from_address(instead)
                return None
            return remote  # (max_followers: the owner says how many more, when it greets)
        if leader is None:
            if address is not None:
                failures.spend(address)
            self.reply_error("unknown_code", f"no run is shared under the code {code!r}; "
                             + instead, field="follow")
        elif leader.audience.total() >= limit:
            self.reply_error("limit", f"this class run already has {limit} "
                             "followers (max_followers); " + instead, limit="max_followers",
                             field="follow")
            leader = None
        elif address is not None and self.store.followers_from(
                leader.id, code, address) >= st.max_followers_per_address:
            self._too_many_from_address(instead)
            leader = None
        return leader

    def _too_many_from_address(self, instead: str) -> None:
        n = self.settings.max_followers_per_address
        self.reply_error("limit", f"{n} pages from this address already follow this class "
                         "run (max_followers_per_address); " + instead,
                         limit="max_followers_per_address", field="follow")

    def _count_follow(self, leader: Leader) -> None:
        if self.address is not None and self._follow_key is None:
            self.store.count_follower(leader.id, self.address, 1)
            self._follow_key = leader.id

    def _uncount_follow(self) -> None:
        if self.address is not None and self._follow_key is not None:
            self.store.count_follower(self._follow_key, self.address, -1)
        self._follow_key = None

    def _follow(self, code: str) -> bool:
        """Follow the run shared under ``code``; False (and an error) if there is none
        or it has no room, and the connection gets its own session instead."""
        leader = self._find_class(code, "this is a run of your own")
        if leader is None:
            return False
        self.follower = Follower(self.outbox, self._class_gone)
        leader.add_follower(self.follower)
        self._count_follow(leader)
        log.info("follow", extra={"session": leader.id})
        return True

    def _class_gone(self, leader: Leader, reason: str) -> None:
        """(On the engine thread) the class on another worker that this connection
        asked to follow does not exist (``unknown``) or did not answer: as for a code
        unknown here, an error and a session of its own."""
        if self.follower is None or self.follower.leader is not leader:
            return
        address = self.address
        if reason == "unknown" and address is not None:
            self.store.code_failures.spend(address)
        code = getattr(leader, "code", "")
        self.follower.leader = None
        self.follower = None
        self._uncount_follow()
        if reason == "unknown":
            self.reply_error("unknown_code", f"no run is shared under the code {code!r}; "
                             "this is a run of your own", field="follow")
        elif reason == "full":
            limit = self.settings.max_followers
            self.reply_error("limit", f"this class run already has {limit} followers "
                             "(max_followers); this is a run of your own",
                             limit="max_followers", field="follow")
        else:
            self.reply_error("unknown_code", f"the class {code!r} did not answer ({reason}); "
                             "this is a run of your own", field="follow")
        if self.session is None:
            s = self._new_session()
            if s is not None:
                s.attach(self.outbox)
                self.session = s

    def _handle_follower(self, msg: object, f: Follower) -> Iterator[None] | None:
        """A following connection: ``hello`` redraws, ``fork`` makes its own copy, a
        ``lesson`` ``check`` judges its own prediction on the teacher's open step;
        anything else would change the teacher's run and is refused."""
        leader = self.leader
        assert leader is not None
        if isinstance(msg, Hello):
            leader.add_follower(f)  # drawn afresh
        elif isinstance(msg, LessonCommand) and msg.action == "check":
            # a student's own answer to the teacher's lesson step: counted for the
            # teacher until the reveal, then judged on the teacher's numbers, for this
            # page alone (server.live.lessons)
            if isinstance(leader, RemoteClass):
                leader.check(msg, self.outbox)
            else:
                assert isinstance(leader, Session)
                leader.lessons.check_for(msg, self.outbox.put, self.reply_error, who=here(f))
        elif isinstance(msg, Fork):
            if not self._may_copy():  # the student keeps watching
                return None
            try:
                s = self.store.create(address=self.address)
            except SessionLimitError as e:  # the student keeps watching
                self.store.refuse(e.limit)
                self.reply_error("limit", str(e), limit=e.limit)
                return None
            if isinstance(leader, RemoteClass):
                self._remote_fork(s, leader, f)
                return None
            assert isinstance(leader, Session)
            return self._fork(s, leader, f)
        else:
            self.reply_error("read_only", "this page follows a shared run and cannot change "
                             "it; make your own copy to explore it", field="type")
        return None

    def _fork(self, s: Session, leader: Session, f: Follower) -> Iterator[None]:
        """Copy the leader's run into ``s`` (a piece of replay at a time), then move this
        connection from the class to its own copy."""
        try:
            yield from s.copy_pieces(leader)
        except Exception:
            self.store.remove(s, "copy failed")
            raise
        self._forked(s, leader, f)

    def _forked(self, s: Session, leader: Leader, f: Follower) -> None:
        """The copy is made: this connection leaves the class for its own run ``s``."""
        leader.remove_follower(f)
        self.follower = None
        self._uncount_follow()
        self.outbox.put(server_message("follow", code=None, active=False, reason="forked"))
        s.attach(self.outbox)
        self.session = s

    def _remote_fork(self, s: Session, leader: RemoteClass, f: Follower) -> None:
        """Copy a class run held by another worker: its run file comes through the bus,
        then it is replayed here a piece at a time (in this connection's turns)."""

        def copy(run: dict[str, object] | None) -> Iterator[None] | None:
            if run is None or self.follower is not f or f.leader is not leader:
                self.store.remove(s, "copy failed")
                if run is None:
                    self.reply_error("internal", "the class's run could not be copied "
                                     "(its server did not answer); try again")
                return None
            return self._replay_copy(s, leader, f, run)

        leader.fetch_run(self, copy)

    def _replay_copy(self, s: Session, leader: RemoteClass, f: Follower,
                     run: dict[str, object]) -> Iterator[None]:
        try:
            load = client_adapter.validate_python({"type": "load", "run": run})
            yield from s.handle_pieces(load)
        except Exception:
            self.store.remove(s, "copy failed")
            raise
        if self.follower is f and f.leader is leader:
            self._forked(s, leader, f)
        else:
            self.store.remove(s, "copy not wanted")

    def leave(self) -> None:
        """Stop following, or let this connection's own session go (kept for a reload,
        as on a disconnect): a ``hello`` with ``follow`` moves the connection to a class."""
        if self.follower is not None and self.leader is not None:
            self.leader.remove_follower(self.follower)
        self.follower = None
        self._uncount_follow()
        if self.session is not None and self.session.outbox is self.outbox:
            self.session.detach()
        self.session = None
