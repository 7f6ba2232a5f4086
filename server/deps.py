"""FastAPI dependencies as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from server.live.store import SessionStore
from server.live.worker import Worker
from server.settings import Settings


def get_settings(conn: HTTPConnection) -> Settings:
    """The app's settings."""
    settings: Settings = conn.app.state.settings
    return settings


def get_store(conn: HTTPConnection) -> SessionStore:
    """The app's session registry."""
    store: SessionStore = conn.app.state.sessions
    return store


def get_worker(conn: HTTPConnection) -> Worker:
    """The engine thread that runs every session's work."""
    worker: Worker = conn.app.state.worker
    return worker


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[SessionStore, Depends(get_store)]
WorkerDep = Annotated[Worker, Depends(get_worker)]
