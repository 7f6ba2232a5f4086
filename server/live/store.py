"""The registry of live sessions: create, resume, and free idle or abandoned ones.

Memory per learner is bounded by the limits in :mod:`server.settings`; memory
for the whole server by ``max_sessions`` and by freeing, once a second (the
shared clock calls :meth:`SessionStore.reap`), sessions whose connection went
away more than ``disconnect_grace_s`` ago and connected sessions left idle
(no command, not playing) for ``idle_timeout_s`` — unless a class follows
them: a shared run stays while anyone watches it (and can copy it).

A session can be *shared* with a class (:meth:`SessionStore.share`): it gets a
short code that other connections give in their ``hello`` to follow the run
read-only (:class:`server.live.sharing.Follower`).

Per client address (what :mod:`server.guards` counts a connection under; None
for an address the caps leave alone) the store keeps how many sessions it holds
(``max_sessions_per_address``: one script cannot take every session), how many
of its connections follow each class run (``max_followers_per_address``: one
cannot take a class's seats) and its wrong class codes
(``max_code_failures_per_minute``: codes cannot be guessed by the thousand).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import Counter
from collections.abc import Iterator

from server.guards import AddressBuckets
from server.live.playback import Scheduler
from server.live.session import Session
from server.live.sharing import Classes, Follower
from server.live.tally import AddressTally
from server.settings import Settings

log = logging.getLogger("backprop_lab.sessions")

CLOSE_IDLE = 4000  # WebSocket close code sent to a connection freed for idling
#: share codes: read aloud and typed on phones, so no 0/O, 1/I/L
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 6


class SessionLimitError(RuntimeError):
    """No room for another session: ``limit`` names the setting (``max_sessions``, or
    ``max_sessions_per_address``)."""

    def __init__(self, message: str, limit: str = "max_sessions") -> None:
        super().__init__(message)
        self.limit = limit


class SessionStore:
    """All sessions by id; one instance lives on ``app.state.sessions``."""

    def __init__(self, settings: Settings, scheduler: Scheduler | None = None) -> None:
        self.settings = settings
        self.scheduler = scheduler  # the engine thread, for the sessions' background work
        self._sessions: dict[str, Session] = {}
        self._shared: dict[str, Session] = {}  # share code → session
        self._owner: dict[str, str] = {}  # session id → the address that opened it
        self._per_address: Counter[str] = Counter()  # sessions held per address
        self._follows: Counter[tuple[str, str]] = Counter()  # (run's id, address) → pages
        #: wrong class codes per address: at most max_code_failures_per_minute
        self.code_failures = AddressBuckets(settings.max_code_failures_per_minute, 60.0)
        #: runs copied (fork) or opened from a file (load) per address, a minute
        self.copies = AddressBuckets(settings.max_copies_per_minute, 60.0)
        #: class mode across worker processes (server.live.relay), set by the app
        self.classes: Classes | None = None
        #: the other workers' per-address counts (server.live.tally)
        self.tally = AddressTally()
        self.tally.count("sessions", lambda: dict(self._per_address))
        self.tally.count("followers", self._follow_counts)
        self.tally.count("code_failures", self.code_failures.deficits)
        self.tally.on_workers = lambda n: setattr(self.code_failures, "workers", n)
        #: learners turned away, by the limit that did it (sessions here, WebSockets by
        #: server.guards.ConnectionGuard): ``bpl_refused_total`` in /metrics
        self.refused: Counter[str] = Counter()
        self._refusal_logged: dict[str, float] = {}

    def refuse(self, limit: str) -> None:
        """Count a learner turned away by ``limit`` (the session caps), and log it at
        most once a minute per limit (a full server turns many away)."""
        self.refused[limit] += 1
        now = time.monotonic()
        if now - self._refusal_logged.get(limit, -60.0) >= 60.0:
            self._refusal_logged[limit] = now
            log.warning("session refused", extra={"limit": limit, "sessions": len(self),
                                                  "refused": self.refused[limit]})

    @property
    def distributed(self) -> bool:
        """Whether other worker processes share class codes with this one."""
        return self.classes is not None and not self.classes.local

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self) -> Iterator[Session]:
        return iter(list(self._sessions.values()))

    def get(self, session_id: str) -> Session | None:
        """The session ``session_id`` if it is kept (attached or not)."""
        return self._sessions.get(session_id)

    def create(self, now: float | None = None, address: str | None = None) -> Session:
        """A fresh session with default settings, held for ``address``; raises when the
        store is full, or ``address`` holds ``max_sessions_per_address`` already."""
        self.reap(now)
        if len(self._sessions) >= self.settings.max_sessions and not self._evict_one():
            raise SessionLimitError(
                f"the server is full (max_sessions={self.settings.max_sessions}); try later"
            )
        cap = self.settings.max_sessions_per_address
        if address is not None and self.sessions_of(address) >= cap:
            raise SessionLimitError(
                f"this address already holds {cap} sessions (max_sessions_per_address); "
                "close a tab, or try again when one has ended", "max_sessions_per_address")
        s = Session(self.settings)
        s.scheduler = self.scheduler
        self._sessions[s.id] = s
        if address is not None:
            self._owner[s.id] = address
            self._per_address[address] += 1
        log.info("session start", extra={"session": s.id, "sessions": len(self._sessions)})
        if self.classes is not None and not self.classes.local:
            self.classes.placed(s.id)
        return s

    def resume(self, session_id: str) -> Session | None:
        """The session ``session_id``, if it is still kept.

        If a connection still holds it, that one is closed (code 4001): the id is
        secret, so this is the same page back from a network drop the server has
        not noticed yet (the old socket may linger for tens of seconds).
        """
        s = self._sessions.get(session_id)
        if s is None:
            return None
        if s.outbox is not None:
            s.outbox.close(4001, "session resumed by another connection", discard=True)
            s.detach()
        return s

    def share(self, s: Session, asked: str | None = None, key: str | None = None) -> str:
        """Share ``s`` with a class: its code (the one it has; else the one ``asked`` for
        or it had before, if free — a class told to rejoin, or a teacher whose run was
        restored after a restart, needs no new one; else a new one). ``key``: the share
        key the owner's page was given with the code; a run asking for a code another
        run holds gets it, with its class, only with that run's key. With other worker
        processes the code is claimed on the bus first (:meth:`claimed` answers)."""
        a = s.audience
        if key:
            a.key = key
        elif a.key is None:
            a.key = secrets.token_urlsafe(12)
        if a.code is None:
            wanted = asked.upper() if asked else a.last_code
            ok = wanted is not None and all(c in CODE_ALPHABET for c in wanted)
            code = wanted if ok and wanted else new_code()
            moved: list[Follower] = []
            holder = self._shared.get(code)
            if holder is not None and holder is not s and key and holder.audience.key == key:
                # the same teacher's page on a run restored here: the class comes along
                del self._shared[code]
                moved = holder.audience.hand_over()
                holder.send_share()
            while code in self._shared:  # 31⁶ ≈ 8.9 × 10⁸ codes
                code = new_code()
            a.code = code
            self._shared[code] = s
            log.info("sharing start", extra={"session": s.id, "shared": len(self._shared)})
            for f in moved:
                s.add_follower(f)
            if self.classes is not None and not self.classes.local:
                self.classes.claim(s.id, code, a.key)
                return code  # the owner's page hears the code once it is claimed
        s.send_share()
        return a.code

    def claimed(self, session_id: str, asked: str, code: str) -> bool:
        """The bus's answer to a claim of ``asked`` for session ``session_id``: it holds
        ``code`` now (another one if ``asked`` was taken elsewhere). False if the run
        stopped sharing or was freed meanwhile (the caller gives the code back)."""
        s = self._sessions.get(session_id)
        if s is None or s.audience.code != asked or self._shared.get(asked) is not s:
            return False
        if code != asked:
            del self._shared[asked]
            self._shared[code] = s
            s.audience.code = code
        s.send_share()
        return True

    def code_lost(self, code: str) -> None:
        """Another worker holds ``code`` now (its teacher's page shares there): the run
        here stops sharing it, and its followers here follow the class there."""
        s = self._shared.pop(code, None)
        if s is None:
            return
        followers = s.audience.hand_over()
        log.info("sharing moved", extra={"session": s.id, "followers": len(followers)})
        s.send_share()
        if self.classes is not None and followers:
            self.classes.follow_elsewhere(code, followers)

    def unshare(self, s: Session, reason: str = "stopped") -> None:
        """Stop sharing ``s``: its followers are told ``reason`` and let go."""
        code = s.audience.code
        if code is None:
            return
        if self._shared.get(code) is s:
            del self._shared[code]
        log.info("sharing end", extra={"session": s.id, "reason": reason,
                                       "followers": len(s.audience)})
        s.end_sharing(reason)
        if self.classes is not None and not self.classes.local:
            self.classes.release(code)

    def shared(self, code: str) -> Session | None:
        """The session shared under ``code`` (any letter case) on this process, if any."""
        return self._shared.get(code.upper())

    def _evict_one(self) -> bool:
        """Make room: free the session whose page left longest ago (kept only for a
        reload; a class watching keeps its run). False when every session is in use.
        So sessions opened and left by a script cannot lock learners out until their
        grace period ends; a page whose run was freed restores it from its own copy."""
        gone = [s for s in self._sessions.values()
                if s.detached_at is not None and not s.audience]
        if not gone:
            return False
        self.remove(min(gone, key=lambda s: s.detached_at or 0.0), "evicted")
        return True

    def remove(self, s: Session, reason: str) -> None:
        """Free a session now (a class following it is told the run ended)."""
        self.unshare(s, "ended")
        if self.scheduler is not None:
            self.scheduler.cancel(("index", s.id))  # its loaded run's indexing stops
        address = self._owner.pop(s.id, None)
        if address is not None:
            self._per_address[address] -= 1
            if self._per_address[address] <= 0:
                del self._per_address[address]
        if self._sessions.pop(s.id, None) is not None:
            if self.classes is not None and not self.classes.local:
                self.classes.forgotten(s.id)
            log.info("session end", extra={"session": s.id, "reason": reason,
                                           "iterations": s.stepper.iteration,
                                           "sessions": len(self._sessions)})

    def sessions_of(self, address: str) -> float:
        """Sessions held for ``address``, here and (as last heard) by the other workers."""
        return self._per_address[address] + self.tally.elsewhere("sessions", address)

    def followers_from(self, leader_id: str, code: str, address: str) -> float:
        """Connections from ``address`` following class ``code``: here, those following
        the run of ``leader_id`` (a session's id, or a class on another worker:
        ``class:CODE``), and (as last heard) those on the other workers."""
        return (self._follows[(leader_id, address)]
                + self.tally.elsewhere("followers", f"{code.upper()} {address}"))

    def _follow_counts(self) -> dict[str, float]:
        """``"<CODE> <address>"`` → pages here following class CODE (for the tally; on
        the event loop, so the engine thread's tables are copied whole first)."""
        codes = {s.id: code for code, s in list(self._shared.items())}
        out: dict[str, float] = {}
        for (run, address), n in list(self._follows.items()):
            code = run[6:] if run.startswith("class:") else codes.get(run)
            if code is not None:
                key = f"{code} {address}"
                out[key] = out.get(key, 0.0) + n
        return out

    def count_follower(self, session_id: str, address: str, delta: int) -> None:
        """One more (``delta`` 1) or one fewer (-1) connection from ``address`` follows
        the run of session ``session_id``."""
        key = (session_id, address)
        self._follows[key] += delta
        if self._follows[key] <= 0:
            del self._follows[key]

    def reap(self, now: float | None = None) -> int:
        """Free sessions detached past the grace period or idle past the timeout."""
        now = time.monotonic() if now is None else now
        st = self.settings
        freed = 0
        for s in list(self._sessions.values()):
            if s.detached_at is not None and now - s.detached_at > st.disconnect_grace_s \
                    and not s.audience:  # a class still watching keeps the run
                self.remove(s, "disconnected")
                freed += 1
            elif now - s.last_active > st.idle_timeout_s and not s.playing \
                    and not s.audience:
                if s.outbox is not None:
                    s.error("idle", f"session closed after {st.idle_timeout_s:g} s without a "
                            "command (idle_timeout_s)", limit="idle_timeout_s")
                    s.outbox.close(CLOSE_IDLE, "idle")
                    s.outbox = None
                self.remove(s, "idle")
                freed += 1
        return freed


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
