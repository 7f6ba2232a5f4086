"""Class mode: one run, many readers.

A teacher's session is stepped and encoded once and fanned out to every
follower's outbox. A :class:`Follower` is a connection that watches a shared
run read-only; an :class:`Audience` is the set of followers of one run, with
its share code. The session owns its audience and puts each of its messages
through :meth:`Audience.fan_out`; the audience knows nothing of the session.

What followers get of a message is decided once (:func:`for_followers`): the
owner's own command errors and sharing status stay with the owner, a ``run``
loses its session id (which would let its holder drive the session), and the
rest is wrapped in :class:`~server.live.outbox.Shared` so it is encoded once for
the whole class.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from server.live.outbox import Entry, Outbox, Shared
from server.protocol import server_message
from server.run.compact import PackedFrames

#: what a shared run's followers are not sent: the owner's command errors (a halt,
#: ``nonfinite``, concerns the run and goes to everyone), the owner's sharing status,
#: the owner's copy of the run (``save``: a follower copies the run with ``fork``) and
#: the class's answers to a lesson step (``lesson_answers``: the teacher's, to reveal)
OWNER_ONLY = frozenset({"error", "share", "save", "lesson_answers"})


class Leader(Protocol):
    """What a follower may ask of the run it follows."""

    id: str

    def add_follower(self, f: Follower) -> None:
        """Draw the run for ``f`` (afresh on a second call) and stream it to ``f``."""

    def remove_follower(self, f: Follower) -> None:
        """Stop streaming to ``f``."""


class Follower:
    """A connection that watches a shared run (read-only): the run's stream goes to
    ``outbox`` while ``leader`` is set; the leader unsets it when sharing ends.
    ``gone(leader, reason)``, if given, is called on the engine thread when a class on
    another worker turns out not to exist (``unknown``) or cannot be reached."""

    __slots__ = ("gone", "leader", "outbox")

    def __init__(self, outbox: Outbox,
                 gone: Callable[[Leader, str], None] | None = None) -> None:
        self.outbox = outbox
        self.leader: Leader | None = None
        self.gone = gone


class Feed(Protocol):
    """Where a shared run's messages go for the followers on other worker processes
    (:class:`server.live.relay.ClassFeed`): published once per message."""

    seq: int

    def put(self, entry: Shared, kw: dict[str, Any]) -> None:
        """Publish ``entry`` (with its outbox options ``kw``)."""

    def end(self, reason: str) -> None:
        """Sharing ended: the other workers let their followers go."""


class Classes(Protocol):
    """What the session store asks of class mode across worker processes
    (:class:`server.live.relay.ClassRelay`); all of it returns at once, the answers
    come back on the engine thread."""

    @property
    def local(self) -> bool:
        """True when no other process shares the bus (then nothing here is called)."""

    def claim(self, session_id: str, code: str, key: str) -> None:
        """Claim ``code`` for the session's run; the store hears back in
        :meth:`~server.live.store.SessionStore.claimed`."""

    def release(self, code: str) -> None:
        """Sharing under ``code`` ended here."""

    def follow_elsewhere(self, code: str, followers: list[Follower]) -> None:
        """Make ``followers`` follow class ``code`` on whichever worker holds it now."""

    def placed(self, session_id: str) -> None:
        """A session opened here (the session directory)."""

    def forgotten(self, session_id: str) -> None:
        """A session here was freed."""


def for_followers(msg: Entry) -> Shared | None:
    """What followers get of ``msg`` (None: the owner's alone): the same objects,
    encoded once (:class:`Shared`; a message merged into a pending one, for a
    follower that reads slowly, becomes that outbox's own; packed frames, the frames
    they stand for, kept packed too for the pages that take them)."""
    if isinstance(msg, PackedFrames):  # (JSON for those who did not ask, and other workers)
        return Shared.of_packed(msg)
    if isinstance(msg, dict):
        kind = msg["type"]
        if kind in OWNER_ONLY and msg.get("code") != "nonfinite":
            return None
        if kind == "run":
            msg = {**msg, "session": None}
    return msg if isinstance(msg, Shared) else Shared(msg)


class Audience:
    """The followers of one run (in joining order) and the code it is shared under."""

    def __init__(self) -> None:
        self.code: str | None = None  # set by SessionStore.share
        self.last_code: str | None = None  # sharing again reuses it if it is free
        #: the share key: only the owner's page has it (``share``), and a page that
        #: shares again elsewhere under the same code proves with it the class is its own
        self.key: str | None = None
        self.followers: dict[Follower, None] = {}
        #: followers on other worker processes, per worker (what each last said)
        self.remote: dict[str, int] = {}
        self.feed: Feed | None = None  # set while the code is claimed on a shared bus

    def __len__(self) -> int:
        """Followers on this process (connections here)."""
        return len(self.followers)

    def __bool__(self) -> bool:
        return bool(self.followers) or any(self.remote.values())

    def total(self) -> int:
        """Followers on every worker process."""
        return len(self.followers) + sum(self.remote.values())

    def fan_out(self, msg: Entry, kw: dict[str, Any]) -> None:
        """Put ``msg`` on every follower's outbox (what :func:`for_followers` keeps), and
        publish it once for the followers on other workers."""
        entry = for_followers(msg)
        if entry is not None:
            for f in self.followers:
                f.outbox.put(entry, **kw)
            if self.feed is not None and any(self.remote.values()):
                self.feed.put(entry, kw)

    def add(self, f: Follower, leader: Leader,
            welcome: Iterable[tuple[Entry, dict[str, Any]]]) -> None:
        """Start sending to ``f``: first ``welcome`` (what a page needs to draw the run
        as it is now, each with its outbox options), then the stream. A follower added
        again (a hello again) is drawn afresh and counted once."""
        f.leader = leader
        self.followers.pop(f, None)
        f.outbox.put(server_message("follow", code=self.code, active=True,
                                    followers=self.total() + 1))
        for msg, kw in welcome:
            entry = for_followers(msg)
            if entry is not None:
                f.outbox.put(entry, **kw)
        self.followers[f] = None

    def remove(self, f: Follower) -> bool:
        """``f`` left (its connection closed, or it made its own copy); True if it
        was following."""
        if f not in self.followers:
            return False
        del self.followers[f]
        f.leader = None
        return True

    def end(self, reason: str) -> None:
        """Sharing stopped (``stopped``) or the run was freed (``ended``): tell the
        followers and let them go."""
        code = self.code
        self.code = None
        self.last_code = code
        if self.feed is not None:
            self.feed.end(reason)
            self.feed = None
        self.remote = {}
        for f in self.followers:
            f.leader = None
            f.outbox.put(server_message("follow", code=code, active=False, reason=reason))
        self.followers = {}

    def status(self) -> dict[str, Any]:
        """The owner's ``share`` message: the code (None when not sharing) and the count."""
        return server_message("share", code=self.code, followers=self.total(),
                              key=self.key if self.code is not None else None)

    def hand_over(self) -> list[Follower]:
        """The code went to another worker (the teacher's page shares there now): the
        followers here, let go without a word (they follow the class there next)."""
        followers = list(self.followers)
        for f in followers:
            f.leader = None
        self.followers = {}
        self.last_code = self.code
        self.code = None
        self.feed = None
        self.remote = {}
        return followers
