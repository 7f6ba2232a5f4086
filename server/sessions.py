"""The registry of live sessions: create, resume, and free idle or abandoned ones.

Memory per learner is bounded by the limits in :mod:`server.settings`; memory
for the whole server by ``max_sessions`` and by freeing, once a second (the
shared clock calls :meth:`SessionStore.reap`), sessions whose connection went
away more than ``disconnect_grace_s`` ago and connected sessions left idle
(no command, not playing) for ``idle_timeout_s``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from server.session import Session
from server.settings import Settings

log = logging.getLogger("backprop_lab.sessions")

CLOSE_IDLE = 4000  # WebSocket close code sent to a connection freed for idling


class SessionLimitError(RuntimeError):
    """No room for another session (``max_sessions``)."""


class SessionStore:
    """All sessions by id; one instance lives on ``app.state.sessions``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._sessions: dict[str, Session] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self) -> Iterator[Session]:
        return iter(list(self._sessions.values()))

    def get(self, session_id: str) -> Session | None:
        """The session ``session_id`` if it is kept (attached or not)."""
        return self._sessions.get(session_id)

    def create(self, now: float | None = None) -> Session:
        """A fresh session with default settings; raises when the store is full."""
        self.reap(now)
        if len(self._sessions) >= self.settings.max_sessions:
            raise SessionLimitError(
                f"the server is full (max_sessions={self.settings.max_sessions}); try later"
            )
        s = Session(self.settings)
        self._sessions[s.id] = s
        log.info("session start", extra={"session": s.id, "sessions": len(self._sessions)})
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

    def remove(self, s: Session, reason: str) -> None:
        """Free a session now."""
        if self._sessions.pop(s.id, None) is not None:
            log.info("session end", extra={"session": s.id, "reason": reason,
                                           "iterations": s.stepper.iteration,
                                           "sessions": len(self._sessions)})

    def reap(self, now: float | None = None) -> int:
        """Free sessions detached past the grace period or idle past the timeout."""
        now = time.monotonic() if now is None else now
        st = self.settings
        freed = 0
        for s in list(self._sessions.values()):
            if s.detached_at is not None and now - s.detached_at > st.disconnect_grace_s:
                self.remove(s, "disconnected")
                freed += 1
            elif now - s.last_active > st.idle_timeout_s and not s.playing:
                if s.outbox is not None:
                    s.error("idle", f"session closed after {st.idle_timeout_s:g} s without a "
                            "command (idle_timeout_s)", limit="idle_timeout_s")
                    s.outbox.close(CLOSE_IDLE, "idle")
                    s.outbox = None
                self.remove(s, "idle")
                freed += 1
        return freed
