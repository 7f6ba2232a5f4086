"""Downloads of a session's run: the run file and CSVs of its metrics and weights.

A download is a ``POST`` whose form body carries the session id (``session=…``),
the unguessable token (96 random bits) the page already holds to resume its
session: never the URL, so the id — which controls the session — stays out of
access logs, proxies' logs and the browser's history. An unknown id gets 404
and nothing else, so one session never sees another's data.

The content is built on the engine thread (:mod:`server.live.worker`), which owns
every session's state, in the session's own turn: it sees a consistent run, and
a big file does not hold the event loop (:mod:`server.live.downloads`). With
several worker processes, a request that lands on a worker that does not hold the
session is answered by the one that does, through the bus
(:meth:`~server.live.relay.ClassRelay.download`).
"""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from server.deps import StoreDep, WorkerDep
from server.live.downloads import find_download
from server.live.relay import ClassRelay
from server.run.stepcapture import CaptureError

router = APIRouter(prefix="/runs")

NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
#: a download's form body: ``session=<id>`` and little else
MAX_FORM_BYTES = 1024


async def _session_id(request: Request) -> str:
    """The form body's ``session`` field."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise HTTPException(413, f"a download's form is at most {MAX_FORM_BYTES} bytes")
    try:
        form = parse_qs(body.decode("latin-1"), max_num_fields=8)
    except ValueError as e:
        raise HTTPException(400, "not a form (session=<id>)") from e
    return (form.get("session") or [""])[0]


@router.post("/{name}")
async def download(name: str, request: Request, store: StoreDep, worker: WorkerDep
                   ) -> Response:
    """``run.json`` (every branch, replaying bit-identically), ``metrics.csv`` (the active
    branch's sampled metrics), ``weights.csv`` (the weights at the current point) or
    ``step-<i>.py`` (iteration i as a NumPy script that checks itself; 422 for an
    iteration the run has not reached) of the session the form names; 404 if it is not
    kept (here or, with several workers, on the worker that holds it)."""
    found = find_download(name)
    if found is None:
        raise HTTPException(404, "no such download")
    build, media = found
    session_id = await _session_id(request)
    s = store.get(session_id) if 0 < len(session_id) <= 64 else None
    if s is not None:
        # a piece per turn of the session's downloads (a big CSV takes turns)
        try:
            body, filename = await worker.call_pieces(("download", s.id), lambda: build(s))
        except CaptureError as e:
            raise HTTPException(422, str(e)) from e
    else:
        relay: ClassRelay = request.app.state.relay
        got = None
        if 0 < len(session_id) <= 64 and store.distributed:
            got = await relay.download(session_id, name)
        if got is None:
            raise HTTPException(404, "no such session (it may have ended)")
        body, filename = got
    return Response(body, media_type=media, headers={
        **NO_STORE, "Content-Disposition": f'attachment; filename="{filename}"'})
