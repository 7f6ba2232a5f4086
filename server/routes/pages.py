"""The page and the health check.

``/?lesson=ID&step=N`` opens a lesson at a step (docs/lessons.md): the page reads
both from the address and sends the ``lesson`` command; the route hands them to
the template as well (``lesson``, ``lesson_step``), a malformed one as None.
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from server.deps import StoreDep
from server.lessons import ID_PATTERN

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).resolve().parents[2] / "templates"))

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
async def index(request: Request, lesson: str | None = None,
                step: str | None = None) -> HTMLResponse:
    """The Backprop Lab page; a lesson link's ``lesson`` and ``step`` pass through."""
    ok = lesson is not None and re.fullmatch(ID_PATTERN[1:-1], lesson) is not None
    n = int(step) if ok and step is not None and step.isdigit() and 0 < int(step) <= 100 \
        else (1 if ok else None)
    context = {"lesson": lesson if ok else None, "lesson_step": n}
    return TEMPLATES.TemplateResponse(request, "index.html", context)


@router.get("/healthz")
async def healthz(request: Request, store: StoreDep) -> dict[str, object]:
    """Liveness for a process supervisor: ok, the number of sessions and which worker
    process answered (``x-bpl-worker`` names it too)."""
    return {"ok": True, "sessions": len(store), "worker": request.app.state.worker_name}
