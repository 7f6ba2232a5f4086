"""WebSocket Origin checking (Starlette does none).

A browser always sends ``Origin`` with a WebSocket handshake; any page on the
web could otherwise drive a learner's session. The check is exact on scheme,
host and port — never a prefix — against the page's own origin (derived
from the ``Host`` header, itself checked by TrustedHostMiddleware) and the
configured allowlist. ``null`` (sandboxed frames, files) is refused. A
handshake without ``Origin`` comes from a non-browser client (a script, a
test) and cannot carry a learner's cookies, so it is allowed.
"""

from __future__ import annotations

from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def normalize_origin(origin: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an origin string, or None if it is not a valid origin."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        return None
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme]


def origin_allowed(origin: str | None, host: str | None, scheme: str, allowed: list[str]) -> bool:
    """Whether a handshake with this ``Origin`` may open a session."""
    if origin is None:
        return True
    got = normalize_origin(origin)
    if got is None:
        return False
    page_scheme = "https" if scheme in ("https", "wss") else "http"
    candidates = [normalize_origin(a) for a in allowed]
    if host:
        candidates.append(normalize_origin(f"{page_scheme}://{host}"))
    return got in candidates
