"""Serve Backprop Lab with uvicorn configured from :class:`~server.settings.Settings`.

``python -m server.serve`` is ``uvicorn server.app:create_app --factory`` with
the WebSocket options this server relies on set consistently:

- per-message deflate **off** (compressing numeric frames costs 5–10× the
  server CPU per frame, and a decompressed size is what limits must apply to);
- ``ws_max_size`` = 4 × ``max_message_bytes``: messages up to
  ``max_message_bytes`` are processed, larger ones up to the cap get a
  ``too_large`` error, anything beyond closes the connection (1009) before it
  is buffered whole;
- a bounded graceful-shutdown wait, so a stuck client cannot hold a restart.

``HOST`` and ``PORT`` come from the environment (defaults 127.0.0.1:8000); use
``HOST=0.0.0.0`` to serve a class on the local network.
"""

from __future__ import annotations

import os

import uvicorn

from server.settings import Settings

GRACEFUL_SHUTDOWN_S = 5


def uvicorn_config(host: str, port: int, settings: Settings | None = None,
                   **overrides: object) -> uvicorn.Config:
    """The uvicorn :class:`~uvicorn.Config` for serving the app on ``host:port``."""
    settings = settings or Settings()
    options: dict[str, object] = {
        "factory": True,
        "host": host,
        "port": port,
        "ws_per_message_deflate": False,
        "ws_max_size": settings.ws_max_size,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_S,
        "log_level": "info",
        **overrides,
    }
    return uvicorn.Config("server.app:create_app", **options)  # type: ignore[arg-type]


def main() -> None:
    """Run the server until interrupted."""
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    uvicorn.Server(uvicorn_config(host, port)).run()


if __name__ == "__main__":
    main()
