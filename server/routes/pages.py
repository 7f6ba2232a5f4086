"""The page and the health check."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from server.deps import StoreDep

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).resolve().parents[2] / "templates"))

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
async def index(request: Request) -> HTMLResponse:
    """The Backprop Lab page."""
    return TEMPLATES.TemplateResponse(request, "index.html", {})


@router.get("/healthz")
async def healthz(store: StoreDep) -> dict[str, object]:
    """Liveness for a process supervisor: ok plus the number of sessions."""
    return {"ok": True, "sessions": len(store)}
