"""The registry of live sessions: create, resume, and free idle or abandoned ones."""

from __future__ import annotations

import logging
import time

from server.session import Session
from server.settings import Settings

log = logging.getLogger("backprop_lab.sessions")


class SessionLimitError(RuntimeError):
    """No room for another session (``max_sessions``)."""


class SessionStore:
    """All sessions by id; one instance lives on ``app.state.sessions``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._sessions: dict[str, Session] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(list(self._sessions.values()))

    def create(self) -> Session:
        """A fresh session with default settings; raises when the store is full."""
        self.reap()
        if len(self._sessions) >= self.settings.max_sessions:
            raise SessionLimitError(
                f"the server is full (max_sessions={self.settings.max_sessions}); try later"
            )
        s = Session(self.settings)
        self._sessions[s.id] = s
        log.info("session start", extra={"session": s.id, "sessions": len(self._sessions)})
        return s

    def resume(self, session_id: str) -> Session | None:
        """The detached session ``session_id``, if it is still kept."""
        s = self._sessions.get(session_id)
        if s is None or s.outbox is not None:
            return None
        return s

    def remove(self, s: Session, reason: str) -> None:
        """Free a session now."""
        if self._sessions.pop(s.id, None) is not None:
            log.info("session end", extra={"session": s.id, "reason": reason,
                                           "iterations": s.stepper.iteration})

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
                    s.error("idle", "session closed after being idle")
                    s.outbox.closed = True
                self.remove(s, "idle")
                freed += 1
        return freed
