"""Downloads of a session's run: the run file and CSVs of its metrics and weights.

A download is a ``POST`` whose form body carries the session id (``session=…``),
the unguessable token (96 random bits) the page already holds to resume its
session: never the URL, so the id — which controls the session — stays out of
access logs, proxies' logs and the browser's history. An unknown id gets 404
and nothing else, so one session never sees another's data.

The content is built on the engine thread (:mod:`server.live.worker`), which owns
every session's state, in the session's own turn: it sees a consistent run, and
a big file does not hold the event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from urllib.parse import parse_qs

import orjson
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from server.deps import StoreDep, WorkerDep
from server.live.session import Session
from server.live.store import SessionStore
from server.live.worker import Worker
from server.protocol import encode
from server.run.runfile import metrics_csv, run_file, weights_csv

router = APIRouter(prefix="/runs")

NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
#: a download's form body: ``session=<id>`` and little else
MAX_FORM_BYTES = 1024


async def _session(request: Request, store: SessionStore) -> Session:
    """The session named by the form body's ``session`` field; 404 if it is not kept."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise HTTPException(413, f"a download's form is at most {MAX_FORM_BYTES} bytes")
    try:
        form = parse_qs(body.decode("latin-1"), max_num_fields=8)
    except ValueError as e:
        raise HTTPException(400, "not a form (session=<id>)") from e
    session_id = (form.get("session") or [""])[0]
    s = store.get(session_id) if 0 < len(session_id) <= 64 else None
    if s is None:
        raise HTTPException(404, "no such session (it may have ended)")
    return s


async def _download(worker: Worker, s: Session,
                    build: Callable[[], Generator[None, None, tuple[str, str]]],
                    media: str) -> Response:
    """``build()`` → (body, file name), a generator run on the engine thread a piece per
    turn of the session's downloads (a big CSV takes turns with the learners)."""
    body, name = await worker.call_pieces(("download", s.id), build)
    return Response(body, media_type=media, headers={
        **NO_STORE, "Content-Disposition": f'attachment; filename="{name}"'})


@router.post("/run.json")
async def run_json(request: Request, store: StoreDep, worker: WorkerDep) -> Response:
    """The run file: every branch, replaying bit-identically (opened on the active one)."""
    s = await _session(request, store)

    def build() -> Generator[None, None, tuple[str, str]]:
        body = encode(run_file(s.history))
        yield
        # re-indent for people reading the file; numbers keep their exact repr
        pretty = orjson.dumps(orjson.loads(body), option=orjson.OPT_INDENT_2).decode()
        return pretty, f"backprop-lab-{s.history.head[0]}-iterations.json"

    return await _download(worker, s, build, "application/json")


@router.post("/metrics.csv")
async def metrics(request: Request, store: StoreDep, worker: WorkerDep) -> Response:
    """The sampled metrics of the active branch."""
    s = await _session(request, store)

    def build() -> Generator[None, None, tuple[str, str]]:
        return (yield from metrics_csv(s.history)), "backprop-lab-metrics.csv"

    return await _download(worker, s, build, "text/csv; charset=utf-8")


@router.post("/weights.csv")
async def weights(request: Request, store: StoreDep, worker: WorkerDep) -> Response:
    """The weights and biases at the current point of the run (of one iteration, though
    the file is built in pieces)."""
    s = await _session(request, store)

    def build() -> Generator[None, None, tuple[str, str]]:
        iteration = s.stepper.iteration
        body = yield from weights_csv(s.stepper)
        return body, f"backprop-lab-weights-{iteration}.csv"

    return await _download(worker, s, build, "text/csv; charset=utf-8")
