"""The application factory: ``create_app()`` wires settings, sessions, the clock and routes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.trustedhost import TrustedHostMiddleware

from server.clock import Clock
from server.routes import pages, ws
from server.sessions import SessionStore
from server.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("backprop_lab")

# Small matrices: BLAS threads only add contention between sessions.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


def create_app(settings: Settings | None = None) -> FastAPI:
    """A fresh Backprop Lab app (one per server, or per test)."""
    settings = settings or Settings()
    store = SessionStore(settings)
    clock = Clock(store, settings.tick_hz)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        _limit_blas_threads()
        task = asyncio.create_task(clock.run(), name="clock")
        log.info("server start")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            log.info("server stop", extra={"sessions": len(store)})

    app = FastAPI(title="Backprop Lab", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.state.sessions = store
    app.state.clock = clock
    if "*" not in settings.allowed_hosts:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=settings.allowed_hosts)
    app.mount("/static", StaticFiles(directory=ROOT / "static"), name="static")
    app.include_router(pages.router)
    app.include_router(ws.router)
    return app


def _limit_blas_threads() -> None:
    """Pin BLAS to one thread even if numpy was imported before the env was set."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(1)
