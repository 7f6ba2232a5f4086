"""Downloads of a session's run: the run file and CSVs of its metrics and weights.

URLs are keyed by the session id, the unguessable token (96 random bits) the
page already holds to resume its session; an unknown id gets 404 and nothing
else, so one session never sees another's data. The handlers are ``async`` so
they run on the event loop, between the session's commands and ticks, and see
a consistent run.
"""

from __future__ import annotations

import orjson
from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

from server.deps import StoreDep
from server.live.session import Session
from server.live.store import SessionStore
from server.protocol import encode
from server.run.runfile import metrics_csv, run_file, weights_csv

router = APIRouter(prefix="/runs")

NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def _session(store: SessionStore, session_id: str) -> Session:
    s = store.get(session_id) if len(session_id) <= 64 else None
    if s is None:
        raise HTTPException(404, "no such session (it may have ended)")
    return s


def _download(body: str, media: str, name: str) -> Response:
    return Response(body, media_type=media, headers={
        **NO_STORE, "Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/{session_id}/run.json")
async def run_json(session_id: str, store: StoreDep) -> Response:
    """The run file: every branch, replaying bit-identically (opened on the active one)."""
    s = _session(store, session_id)
    body = encode(run_file(s.history))
    # re-indent for people reading the file; numbers keep their exact repr
    pretty = orjson.dumps(orjson.loads(body), option=orjson.OPT_INDENT_2).decode()
    return _download(pretty, "application/json",
                     f"backprop-lab-{s.history.head[0]}-iterations.json")


@router.get("/{session_id}/metrics.csv")
async def metrics(session_id: str, store: StoreDep) -> Response:
    """The sampled metrics of the active branch."""
    s = _session(store, session_id)
    return _download(metrics_csv(s.history), "text/csv; charset=utf-8",
                     "backprop-lab-metrics.csv")


@router.get("/{session_id}/weights.csv")
async def weights(session_id: str, store: StoreDep) -> Response:
    """The weights and biases at the current point of the run."""
    s = _session(store, session_id)
    return _download(weights_csv(s.stepper), "text/csv; charset=utf-8",
                     f"backprop-lab-weights-{s.stepper.iteration}.csv")
