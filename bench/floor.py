"""The transport's floor: what one WebSocket message per learner per iteration costs
through the server's own stack (FastAPI, Starlette, uvicorn, websockets, the kernel's
loopback), with no engine, no session and no outbox behind it.

Not a test. Starts a minimal FastAPI app in its own process on uvicorn (as ``make
run`` does: uvloop, per-message deflate off, glibc's allocator) that answers the load
bench's clients (:mod:`bench.load`: the same raw client, the same counts): after a
client's ``hello`` and ``play`` it sends, at 30 messages a second from one shared
60 Hz ticker, one fast-play iteration's batch as the real server sends it (the four
compact frames of the default run, ≈ 4 KB, encoded once here from a real session).
The server's CPU per delivered iteration is then the floor any server of this stack
pays for delivering an iteration, to compare with the full server's (issue 18:
≤ 2× the engine's own step).

``--mode`` picks how each message is sent:

- ``plain``: ``await ws.send_text(text)``;
- ``timeout``: inside ``asyncio.timeout(10)`` (what the server does, so a client
  that stops reading is cut off);
- ``wait_for``: ``asyncio.wait_for(ws.send_text(text), 10)`` (what it did: on
  CPython 3.11 a task per send);
- ``encode``: ``plain``, encoding the message from its objects each time.

    .venv/bin/python bench/floor.py --clients 200 --mode plain --mode wait_for
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psutil
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

ROOT = Path(__file__).resolve().parents[1]
# run as a script, bench/ comes first on sys.path and bench/engine.py would shadow
# the engine package: put the repository first instead
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
from bench.load import drive, engine_step_ms, with_targets  # noqa: E402
from tests.helpers.net import free_port, wait_healthy  # noqa: E402

log = logging.getLogger("bench.floor")
MODES = ("plain", "timeout", "wait_for", "encode")


def iteration_text() -> str:
    """One fast-play iteration of the default run as the server sends it to a batching
    client: its four compact frames, one JSON array (the 60th iteration's)."""
    from server.live.outbox import Outbox
    from server.live.store import SessionStore
    from server.protocol import Play
    from server.routes.ws import json_of
    from server.settings import Settings

    st = Settings()
    s = SessionStore(st).create(now=0.0)
    ob = Outbox(st.outbox_limit, int(st.outbox_max_mb * 2**20))
    s.attach(ob)
    s.handle(Play(type="play", speed=30.0))
    text = ""
    for _ in range(60):
        s.tick(1 / 30)
        while (e := ob.pop()) is not None:
            if isinstance(e, list):  # the iteration's bundle
                text = json_of(e).decode()
    assert text.startswith('[{"type":"frame"'), text[:40]
    return text


def serve(port: int, mode: str) -> None:
    """Run the floor's app on ``port`` (in this process, until killed)."""
    import orjson
    import uvicorn

    text = iteration_text()
    objects = json.loads(text)
    wakes: set[asyncio.Event] = set()

    async def ticker() -> None:
        loop = asyncio.get_running_loop()
        t0, n = loop.time(), 0
        while True:
            n += 1
            await asyncio.sleep(max(0.0, t0 + n / 60 - loop.time()))
            if n % 2 == 0:  # 30 it/s on a 60 Hz clock, as the server's
                for e in wakes:
                    e.set()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        task = asyncio.ensure_future(ticker())
        yield
        task.cancel()

    app = FastAPI(lifespan=lifespan)

    @app.get("/healthz")
    def healthz() -> dict[str, bool]:
        return {"ok": True}

    @app.websocket("/ws")
    async def socket(ws: WebSocket) -> None:
        await ws.accept()
        await ws.receive_text()  # hello
        await ws.receive_text()  # play
        wake = asyncio.Event()
        wakes.add(wake)

        async def reads() -> None:
            with contextlib.suppress(WebSocketDisconnect):
                while True:
                    await ws.receive_text()  # (pause, then the close)

        reader = asyncio.ensure_future(reads())
        try:
            while not reader.done():
                await wake.wait()
                wake.clear()
                if mode == "plain":
                    await ws.send_text(text)
                elif mode == "timeout":
                    async with asyncio.timeout(10):
                        await ws.send_text(text)
                elif mode == "wait_for":
                    await asyncio.wait_for(ws.send_text(text), 10)
                else:
                    await ws.send_text(orjson.dumps(objects).decode())
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass
        finally:
            wakes.discard(wake)
            reader.cancel()

    # the server's WebSocket implementation (server.serve's is a subclass of it)
    uvicorn.run(app, host="127.0.0.1", port=port, ws="websockets-sansio",
                ws_per_message_deflate=False, log_level="warning", loop="uvloop")


def measure(clients: int, mode: str, seconds: float) -> dict[str, Any]:
    """Start the floor's server in ``mode``, drive ``clients`` at 30 it/s, measure."""
    port = free_port()
    env = {**os.environ, "PYTHONMALLOC": os.environ.get("PYTHONMALLOC", "malloc")}
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(port), "--mode", mode],
                            cwd=ROOT, env=env)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc, timeout=30)
        result = asyncio.run(drive(port, clients, 30.0, 2.0, seconds,
                                   psutil.Process(proc.pid), batch=True))
    finally:
        proc.terminate()
        proc.wait(10)
    return {"mode": mode, **with_targets(result, 30.0, engine_step_ms())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--mode", action="append", choices=MODES,
                    help="how each message is sent (repeat to alternate; default all)")
    ap.add_argument("--rounds", type=int, default=1, help="times to run the modes in turn")
    ap.add_argument("--serve", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve, (args.mode or ["plain"])[0])
        return
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for _ in range(args.rounds):
        for mode in args.mode or MODES:
            sys.stdout.write(json.dumps(measure(args.clients, mode, args.seconds)) + "\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
