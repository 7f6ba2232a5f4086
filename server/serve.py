"""Serve Backprop Lab with uvicorn configured from :class:`~server.settings.Settings`.

``python -m server.serve`` is ``uvicorn server.app:create_app --factory`` with
the options this server relies on set consistently:

- per-message deflate **off** (compressing numeric frames costs 5–10× the
  server CPU per frame, and a decompressed size is what limits must apply to);
- ``ws_max_size`` = 4 × ``max_message_bytes``: messages up to
  ``max_message_bytes`` are processed, larger ones up to the cap get a
  ``too_large`` error, anything beyond closes the connection (1009) before it
  is buffered whole;
- slow and silent sockets cut: a request head bounded in bytes and time
  (``max_header_bytes``, ``request_head_timeout_s``: :mod:`server.headguard`),
  idle keep-alive connections closed after ``keep_alive_s``, WebSockets pinged
  every ``ws_ping_interval_s`` and closed (1011) when a ping goes unanswered
  for ``ws_ping_timeout_s``; a closed WebSocket's peer given ``ws_close_timeout_s`` to
  answer, and one that stopped reading cut at once (:mod:`server.wsclose`);
- at most ``max_connections`` open connections (uvicorn's ``limit_concurrency``:
  HTTP requests past it get 503), ``max_connections_per_address`` HTTP ones from
  one address, and the process's descriptor limit raised to fit them when the
  system allows;
- ``X-Forwarded-For`` believed only from ``trusted_proxies`` (uvicorn's
  ``forwarded_allow_ips``): the per-address caps count the address it names;
- on SIGTERM or Ctrl-C, every session socket closed with 1001 (going away)
  after its pending messages (:class:`Server`), then uvicorn's own bounded
  graceful shutdown, so a stuck client cannot hold a restart.

``HOST`` and ``PORT`` come from the environment (defaults 127.0.0.1:8000); use
``HOST=0.0.0.0`` to serve a class on the local network.
"""

from __future__ import annotations

import logging
import os
import socket

import uvicorn
from fastapi import FastAPI

from server.app import close_sockets
from server.headguard import bounded_head_protocol
from server.settings import Settings
from server.wsclose import closing_protocol

log = logging.getLogger("backprop_lab.serve")

GRACEFUL_SHUTDOWN_S = 5
#: descriptors kept beyond ``max_connections``: listening socket, logs, libraries
SPARE_DESCRIPTORS = 64


def uvicorn_config(host: str, port: int, settings: Settings | None = None,
                   **overrides: object) -> uvicorn.Config:
    """The uvicorn :class:`~uvicorn.Config` for serving the app on ``host:port``."""
    settings = settings or Settings()
    options: dict[str, object] = {
        "factory": True,
        "host": host,
        "port": port,
        "http": bounded_head_protocol(settings),
        "ws": closing_protocol(settings),
        "ws_per_message_deflate": False,
        "ws_max_size": settings.ws_max_size,
        "ws_ping_interval": settings.ws_ping_interval_s,
        "ws_ping_timeout": settings.ws_ping_timeout_s,
        "timeout_keep_alive": settings.keep_alive_s,
        "limit_concurrency": settings.max_connections,
        "forwarded_allow_ips": settings.trusted_proxies,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_S,
        "log_level": "info",
        **overrides,
    }
    return uvicorn.Config("server.app:create_app", **options)  # type: ignore[arg-type]


class Server(uvicorn.Server):
    """uvicorn's server, closing the app's session sockets with 1001 (going away) before
    its own shutdown, which would close each WebSocket with 1012 (service restart)."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Stop accepting, close the session sockets (1001), then uvicorn's shutdown."""
        for server in getattr(self, "servers", []):
            server.close()
        app = _fastapi_app(self.config.loaded_app) if self.config.loaded else None
        if app is not None:
            await close_sockets(app)
        await super().shutdown(sockets)


def _fastapi_app(app: object) -> FastAPI | None:
    """The FastAPI app inside uvicorn's middleware (its proxy-headers wrapper)."""
    for _ in range(8):
        if isinstance(app, FastAPI):
            return app
        app = getattr(app, "app", None)
    return None


def raise_descriptor_limit(needed: int) -> None:
    """Raise this process's open-file limit to ``needed`` if the hard limit allows (a
    1024-descriptor default would run out before ``max_connections``); warn if not."""
    try:
        import resource
    except ImportError:  # not on POSIX
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < needed:
        log.warning("descriptor limit below max_connections",
                    extra={"limit": target, "needed": needed})


def main() -> None:
    """Run the server until interrupted."""
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    settings = Settings()
    raise_descriptor_limit(settings.max_connections + SPARE_DESCRIPTORS)
    Server(uvicorn_config(host, port, settings)).run()


if __name__ == "__main__":
    main()
