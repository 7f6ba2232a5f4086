"""``GET /api/catalog``: every choice the page may offer, as the engine declares it.

The page fetches this once at start and builds its controls, address-bar state
and timeline from it (``static/js/catalog.js``), so a choice added to
``engine/catalog.py`` reaches the page with no other change. The body is
:func:`engine.catalog.as_json`; ``ETag`` and ``Cache-Control: no-cache`` let a
browser keep it and ask again cheaply (``304 Not Modified``) on every load, so
it never uses a catalog the server no longer has.

``GET /api/activation?name=tanh`` draws one of the catalog's activations: f and
f′ sampled by :func:`engine.activations.curve` and the flat (saturated or dead)
ends of the curve, for the page's activation view, so the page never
re-implements an activation. Cached the same way.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Annotated

import orjson
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from engine import activations, catalog

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


#: the most points of one curve, and how far from 0 it may reach
MAX_CURVE_POINTS = 2001
MAX_CURVE_Z = 1e4


@lru_cache(maxsize=256)
def _curve_body(name: str, alpha: float | None, lo: float, hi: float, n: int) -> bytes:
    return orjson.dumps(activations.curve(name, alpha, lo, hi, n))


@router.get("/activation")
async def get_activation(
    request: Request,
    name: Annotated[str, Query(max_length=32)],
    alpha: Annotated[float | None, Query()] = None,
    lo: Annotated[float, Query(ge=-MAX_CURVE_Z, le=MAX_CURVE_Z)] = -6.0,
    hi: Annotated[float, Query(ge=-MAX_CURVE_Z, le=MAX_CURVE_Z)] = 6.0,
    n: Annotated[int, Query(ge=3, le=MAX_CURVE_POINTS)] = 201,
) -> Response:
    """An activation's f and f′ for drawing, as :func:`engine.activations.curve`
    computes them: ``z``, ``f``, ``df`` over [``lo``, ``hi``] (``n`` points, plus 0
    and the flat ends' edges), ``df_max``, ``flat_fraction``, ``regions`` (the
    flat ends: ``kind`` dead or saturated, ``lo``/``hi``, null = unbounded),
    ``alpha`` in effect and ``formula``. ``alpha`` (Leaky ReLU's slope, ELU's α)
    defaults to the activation's own and is ignored by the others. A name not in
    the catalog, ``lo ≥ hi`` or an α out of the setting's range gets 422 naming
    what was wrong."""
    if name not in catalog.names("activations"):
        raise HTTPException(422, f"unknown activation {name!r}; choose one of "
                                 f"{', '.join(catalog.names('activations'))}")
    if not lo < hi:
        raise HTTPException(422, f"lo must be below hi (lo = {lo}, hi = {hi})")
    if catalog.entry("activations", name).alpha is None:
        alpha = None
    elif alpha is not None:
        try:
            alpha = float(catalog.setting("alpha").check(alpha))
        except ValueError as e:
            raise HTTPException(422, str(e)) from None
    body = _curve_body(name, alpha, lo, hi, n)
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    headers = {"Cache-Control": CACHE_CONTROL, "ETag": etag}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)
