"""``GET /api/catalog``: every choice the page may offer, as the engine declares it.

The page fetches this once at start and builds its controls, address-bar state
and timeline from it (``static/js/catalog.js``), so a choice added to
``engine/catalog.py`` reaches the page with no other change. The body is
:func:`engine.catalog.as_json`; ``ETag`` and ``Cache-Control: no-cache`` let a
browser keep it and ask again cheaply (``304 Not Modified``) on every load, so
it never uses a catalog the server no longer has.
"""

from __future__ import annotations

import hashlib

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from engine import catalog

router = APIRouter(prefix="/api")

CACHE_CONTROL = "no-cache"


@router.get("/catalog")
async def get_catalog(request: Request) -> Response:
    """The catalog as JSON (``engine.catalog.as_json``), with an ``ETag``."""
    body = orjson.dumps(catalog.as_json())
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    headers = {"Cache-Control": CACHE_CONTROL, "ETag": etag}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)
