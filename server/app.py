"""The application factory: ``create_app()`` wires settings, sessions, the clock and routes.

``lifespan`` starts the one shared :class:`~server.live.clock.Clock`, raises the
cyclic garbage collector's first threshold (:data:`GC_THRESHOLD`) while the
server runs, and, on shutdown, closes every open session socket with 1001
(going away) after its pending messages, so browsers see a clean close rather
than a dropped connection (:func:`close_sockets`; ``server.serve.Server`` calls it
before uvicorn's own shutdown, which would close them with 1012). Run it with
``python -m server.serve`` (or uvicorn with ``--ws-per-message-deflate false``;
see docs/protocol.md).

In front of the routes: :class:`~server.guards.ConnectionGuard` (WebSockets per
address and in all, HTTP request time) and :class:`~server.guards.SecurityHeaders`
(Content-Security-Policy, nosniff, Referrer-Policy). No OpenAPI schema or docs
pages are served: the HTTP API is the page, its downloads, lessons and catalog,
and the operator's ``/healthz``, ``/readyz`` and ``/metrics`` (:mod:`server.routes.ops`).
"""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import logging
import os
import secrets
from collections.abc import AsyncIterator, MutableMapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.gzip import GZipMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from server.guards import ConnectionGuard, SecurityHeaders
from server.hosts import resolve_hosts
from server.live import memory
from server.live.bus import Bus
from server.live.clock import Clock
from server.live.outbox import Outbox
from server.live.redisbus import make_bus
from server.live.relay import ClassRelay
from server.live.store import SessionStore
from server.live.traffic import Traffic
from server.live.worker import Worker
from server.logs import configure_logging
from server.routes import catalog, export, lessons, ops, pages, ws
from server.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("backprop_lab")

CLOSE_GOING_AWAY = 1001
#: the environment variable the supervisor (server.serve) gives each worker its index in
WORKER_ENV = "BACKPROP_LAB_WORKER"
#: the response header (HTTP, and the WebSocket handshake) naming the worker that answered
WORKER_HEADER = "x-bpl-worker"
SHUTDOWN_GRACE_S = 2.0
#: CPython's gen-0 collection threshold while the server runs (default 700). Streaming
#: allocates and frees many small containers a second, almost none in reference
#: cycles: at 700 a class at play ran collections ~80 times a second for ~10 % of the
#: server's CPU, and full ones stalled every stream for ~100 ms at 200 sessions
#: (docs/performance.md, "Streaming and load"); at this threshold they are rare, and
#: cyclic garbage stays bounded. The previous threshold is restored on shutdown.
GC_THRESHOLD = 10_000

# Small matrices: BLAS threads only add contention between sessions.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


#: this process's own part of its worker name: two machines (or two containers, each
#: with its own process ids) sharing one Redis can run workers of the same index and pid
_PROCESS_TOKEN = secrets.token_hex(3)


def worker_name() -> str:
    """This process's name among the site's workers: ``<index>-<pid>-<token>`` (the index
    the supervisor gave it, :mod:`server.serve`, 0 alone; six hex digits drawn once per
    process, so workers on different machines never share a name in Redis). A restarted
    worker keeps its index and gets a new pid and token."""
    return f"{os.environ.get(WORKER_ENV, '0')}-{os.getpid()}-{_PROCESS_TOKEN}"


def create_app(settings: Settings | None = None, bus: Bus | None = None) -> FastAPI:
    """A fresh Backprop Lab app (one per server, or per test). ``bus``: what it shares
    with other worker processes (default: Redis at ``redis_url``, else nothing)."""
    settings = settings or Settings()
    store = SessionStore(settings)
    clock = Clock(store, settings.tick_hz)
    worker = Worker(clock)
    clock.others = lambda: worker.waiting() > 0  # (a tick then leaves them their turns)
    store.scheduler = worker
    connections: set[Outbox] = set()
    name = bus.worker_id if bus is not None else worker_name()
    relay = ClassRelay(bus or make_bus(settings.redis_url, name), worker, store, settings)
    store.classes = relay

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level, settings.log_json)
        _limit_blas_threads()
        memory.tune()  # freed memory of the engine thread's heap goes back too
        gc_before = gc.get_threshold()
        gc.set_threshold(max(GC_THRESHOLD, gc_before[0]), *gc_before[1:])
        # what exists now (the modules, the app: two-thirds of a busy worker's objects)
        # is left out of the collector's scans: a full collection at 200 learners
        # held every stream for ~100 ms, now ~40 (docs/performance.md)
        gc.freeze()
        worker.start()
        await relay.start()
        # the per-address counts, site-wide: only with other workers to tell
        tally = None if relay.local else asyncio.create_task(
            store.tally.run(relay.bus, settings.address_sync_s), name="address tally")
        log.info("server start", extra={"max_sessions": settings.max_sessions,
                                        "tick_hz": settings.tick_hz, "worker": name,
                                        "shared": not relay.local})
        try:
            yield
        finally:
            if tally is not None:
                tally.cancel()
                await store.tally.leave(relay.bus, settings.address_sync_s)
            await _close_all(connections)
            await relay.stop()
            await asyncio.to_thread(worker.stop)
            gc.set_threshold(*gc_before)
            gc.unfreeze()
            log.info("server stop", extra={"sessions": len(store)})

    app = FastAPI(title="Backprop Lab", lifespan=lifespan, openapi_url=None, docs_url=None,
                  redoc_url=None)
    app.state.settings = settings
    app.state.sessions = store
    app.state.clock = clock
    app.state.worker = worker
    app.state.connections = connections
    app.state.traffic = Traffic()
    app.state.relay = relay
    app.state.worker_name = name
    hosts = resolve_hosts(settings.allowed_hosts)
    port = ops_port(settings)
    if "*" not in hosts:
        app.add_middleware(SiteHosts, allowed_hosts=hosts, ops_port=port)
    # HTML, JS and CSS compress ~4× (the page's weight target is ≤ 150 KB transferred);
    # GZipMiddleware handles only http scopes, so the /ws socket is untouched.
    app.add_middleware(GZipMiddleware, minimum_size=500, compresslevel=6)
    app.add_middleware(SecurityHeaders)
    # outermost: counts first (told to the other workers, server.live.tally)
    app.add_middleware(ConnectionGuard, settings=settings, tally=store.tally,
                       refused=store.refused)
    app.add_middleware(WorkerHeader, name=name)
    if port is not None:
        app.add_middleware(OpsOnly, port=port)
    app.mount("/static", StaticFiles(directory=ROOT / "static"), name="static")
    app.include_router(pages.router)
    app.include_router(ws.router)
    app.include_router(export.router)
    app.include_router(catalog.router)
    app.include_router(lessons.router)
    ops.mount(app)
    return app


async def close_sockets(app: FastAPI) -> None:
    """Close every open session socket of ``app`` with 1001 (going away) after its
    pending messages, waiting up to :data:`SHUTDOWN_GRACE_S` for them to go."""
    connections: set[Outbox] = app.state.connections
    await _close_all(connections)


async def _close_all(connections: set[Outbox]) -> None:
    """Close every open session socket (1001) and wait briefly for the send loops."""
    if not connections:
        return
    log.info("closing connections", extra={"connections": len(connections)})
    for ob in list(connections):
        ob.close(CLOSE_GOING_AWAY, "server shutting down")
    deadline = asyncio.get_running_loop().time() + SHUTDOWN_GRACE_S
    while connections and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)


#: what a worker's metrics port (``Settings.metrics_port``) answers; anything else is 404
OPS_PATHS = frozenset({"/metrics", "/readyz", "/healthz"})


def ops_port(settings: Settings) -> int | None:
    """This process's own metrics port: ``metrics_port`` + its worker index, or None."""
    if not settings.metrics_port:
        return None
    return settings.metrics_port + int(os.environ.get(WORKER_ENV, "0"))


def _on_port(scope: Scope, port: int | None) -> bool:
    """Whether ``scope`` came to this process's socket on ``port``."""
    server = scope.get("server")
    return port is not None and server is not None and server[1] == port


class OpsOnly:
    """On the worker's metrics port (:func:`ops_port`), only the operator's endpoints
    (:data:`OPS_PATHS`); the page, its files and its WebSockets are the site's port's
    (404 there, and a WebSocket refused)."""

    def __init__(self, app: ASGIApp, port: int) -> None:
        self.app = app
        self.port = port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, unless it came to the metrics port for something else."""
        if (scope["type"] not in ("http", "websocket") or not _on_port(scope, self.port)
                or (scope["type"] == "http" and scope["path"] in OPS_PATHS)):
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
        else:
            await PlainTextResponse("only /metrics, /readyz and /healthz here", 404)(
                scope, receive, send)


class SiteHosts(TrustedHostMiddleware):
    """Starlette's ``Host`` check of the site's port (``allowed_hosts``). The metrics port
    is asked by an address, as a scraper knows the machine, not by the site's name: there
    the ``Host`` must be an IP address or ``localhost`` (a name is refused, so a page
    whose name an attacker re-points at this machine cannot read it: DNS rebinding)."""

    def __init__(self, app: ASGIApp, allowed_hosts: list[str], ops_port: int | None) -> None:
        super().__init__(app, allowed_hosts=allowed_hosts)
        self.ops_port = ops_port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the ``Host`` the port asks for."""
        if not _on_port(scope, self.ops_port):
            await super().__call__(scope, receive, send)
        elif _address_host(scope):
            await self.app(scope, receive, send)
        else:
            await PlainTextResponse("Invalid host header", 400)(scope, receive, send)


def _address_host(scope: Scope) -> bool:
    """Whether the request's ``Host`` is an IP address or ``localhost`` (a port allowed)."""
    host = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"host"), "")
    name = host[1:host.find("]")] if host.startswith("[") else host.rsplit(":", 1)[0]
    if name == "localhost":
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class WorkerHeader:
    """Names the worker process that answered (:data:`WORKER_HEADER`) on every HTTP
    response and WebSocket handshake: which one served a connection, for tests and for
    an operator reading a proxy's log."""

    def __init__(self, app: ASGIApp, name: str) -> None:
        self.app = app
        self.header = (WORKER_HEADER.encode(), name.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Add the header to the response's start (or the socket's accept)."""
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return

        async def named(message: MutableMapping[str, Any]) -> None:
            if message["type"] in ("http.response.start", "websocket.accept"):
                message = {**message,
                           "headers": [*message.get("headers", []), self.header]}
            await send(message)

        await self.app(scope, receive, named)


def _limit_blas_threads() -> None:
    """Pin BLAS to one thread even if numpy was imported before the env was set."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(1)
