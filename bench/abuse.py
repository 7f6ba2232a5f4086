"""Abuse benchmark (issue 12, "Measured, not assumed"): one well-behaved learner beside
each abusive client in turn, against a real server.

Not a test. Starts ``python -m server.serve`` (HOST=127.0.0.1, a free PORT, default
settings) and one learner that plays the default network at 30 it/s (the raw-socket
client of ``bench/load.py``: it counts the ``update`` frames it gets). Meanwhile
``/healthz`` is asked every 50 ms (a new connection each time, as a supervisor does)
and the server's RSS and CPU are sampled (psutil). First a quiet baseline; then each
scenario of the issue's list in turn, run by a separate process (``--abuser KEY``) so
that the abuser's own work never delays the measuring loop. For each one it reports:

- the learner's update frames per second during the scenario (and in the settle
  period after it) as a % of its baseline rate — target ≥ 90 %;
- ``/healthz`` p50 / p99 latency and failed probes — target p99 ≤ 100 ms;
- peak server RSS — target under the documented budget (``max_total_history_mb``,
  the only server-wide byte budget the settings document; ``--rss-budget-mb``);
- RSS ``--settle`` seconds (default 60) after the scenario ended against the idle RSS
  of the baseline — target within ±20 %;
- what the server answered the abuser (refusals and the limit named, close codes...).

The abusive clients present themselves as a student's machine on the LAN
(``X-Forwarded-For: 10.66.<scenario>.<n>``, which the default ``trusted_proxies``
believes from loopback), one address per scenario (``--addresses N`` spreads each
script over N addresses; ``--addresses 0`` connects as this machine, which the
per-address caps leave alone). The learner connects from loopback.

Before each scenario the bench waits (up to a minute) for the server's CPU to come
back near the baseline, so one scenario's leftovers do not count against the next.
A scenario whose sessions must be gone first (the cyclic-collector item) waits for
``/healthz`` to count them gone (``disconnect_grace_s`` later) before its settle.

    .venv/bin/python bench/abuse.py --out results.md   # ~30 minutes on 2 cores
    .venv/bin/python bench/abuse.py --quick            # a smoke run, ~8 minutes
    .venv/bin/python bench/abuse.py --only stalled1,sigterm --settle 10

The server's log goes to a temporary file (its name is printed); each row counts
what it logged during the scenario (send timeouts, refused heads, sessions ended...).

About 1,200 lines, on purpose: one file per benchmark as in the rest of ``bench/``,
in three parts — a raw WebSocket and HTTP client that can misbehave (extra headers,
a tiny receive window, never reading, never answering a close), the issue's list of
scenarios (each a short function) and the measuring side.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import dataclasses
import functools
import json
import logging
import os
import random
import resource
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import psutil

ROOT = Path(__file__).resolve().parents[1]
# run as a script, bench/ comes first on sys.path and bench/engine.py would shadow
# the engine package: put the repository first instead
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
from bench.load import Client, open_client, percentile  # noqa: E402
from engine.stepper import Stepper  # noqa: E402
from server.live.session import PHASE_BY_PHASE_MAX  # noqa: E402
from server.live.store import CODE_ALPHABET, CODE_LENGTH  # noqa: E402
from server.protocol import RunSettings  # noqa: E402
from server.run.cost import estimate  # noqa: E402
from server.run.runconfig import checked_stepper, run_config  # noqa: E402
from server.settings import Settings  # noqa: E402
from tests.helpers.net import free_port, mask_frame, wait_healthy  # noqa: E402

log = logging.getLogger("bench.abuse")

#: the limits, as the server reads them (the same environment)
SETTINGS = Settings()

LEARNER_SPEED = 30.0
PROBE_EVERY_S = 0.05
PROBE_TIMEOUT_S = 10.0
#: issue 12, item 1: under 400 bytes, ~10 hours of indexing on the server before it
HUGE_RUN = {"format": "backprop-lab-run", "version": 1, "length": 1_000_000,
            "settings": {"hidden": [128] * 9, "batch_size": 512, "n_samples": 2000}}
ALL_FEATURES = ["x1", "x2", "x1^2", "x2^2", "x1x2", "sin_x1", "sin_x2"]
FRAME = b'{"type":"frame"'
WANTED = (b'"type":"run"', b'"type":"error"', b'"type":"share"', b'"type":"timeline"',
          b'"type":"follow"')


# ---- what the limits allow ---------------------------------------------------------------


@functools.cache
def largest_network() -> dict[str, Any]:
    """The heaviest run settings the default limits accept: every piece of work just
    under ``max_piece_ms`` and a full frame just under ``max_frame_mb``, found with the
    server's own cost model (``server/run/cost.py``) and checked by
    ``checked_stepper``. Heaviest = longest iteration, then longest metrics point, then
    largest frame. (Cached: callers must not change it.)"""
    s = SETTINGS

    @functools.cache
    def probe(f: int, depth: int, width: int) -> Any:
        """The cost of that network on a small run: its frame's values per row and
        fixed ones are counted by the server on a probe iteration, which needs a real
        stepper; the batch and sample count are then scaled (as the server does)."""
        cfg = {"dataset": "xor", "features": ALL_FEATURES[:f], "hidden": [width] * depth,
               "batch_size": 8, "n_samples": 100, "test_fraction": 0.1}
        return estimate(Stepper(run_config(RunSettings(**cfg))))

    def cost(f: int, depth: int, width: int, batch: int, n: int) -> Any:
        c = probe(f, depth, width)
        return dataclasses.replace(c.with_batch(batch), eval_s=c.eval_s * n / 100)

    def fits(c: Any, what: str) -> bool:
        ok = 1000 * c.iteration_s <= s.max_piece_ms and c.frame_bytes <= s.max_frame_mb * 2**20
        return ok and (what == "iteration" or 1000 * c.eval_s <= s.max_piece_ms)

    best: tuple[Any, ...] | None = None
    for f in (2, len(ALL_FEATURES)):
        for depth in range(1, s.max_layers):
            for width in range(8, s.max_units + 1, 8):
                batch = next((b for b in range(s.max_batch, 0, -1)
                              if fits(cost(f, depth, width, b, 2 * b), "iteration")), 0)
                if not batch:
                    continue
                n = next((n for n in range(s.max_samples, 2 * batch - 1, -10)
                          if fits(cost(f, depth, width, batch, n), "all")), 0)
                if not n:
                    continue
                c = cost(f, depth, width, batch, n)
                key = (round(c.iteration_s, 3), c.eval_s, c.frame_bytes)
                if best is None or key > best[0]:
                    best = (key, f, depth, width, batch, n)
    assert best is not None
    _, f, depth, width, batch, n = best
    cfg = {"dataset": "xor", "features": ALL_FEATURES[:f], "hidden": [width] * depth,
           "batch_size": batch, "n_samples": n, "test_fraction": 0.1}
    checked_stepper(RunSettings(**cfg), s)  # raises if the search and the server disagree
    return cfg


def largest_run(net: dict[str, Any], fraction: float = 1.0) -> dict[str, Any]:
    """A run file on ``net`` as long as ``max_load_cpu_s`` allows (times ``fraction``)."""
    s = SETTINGS
    c = estimate(checked_stepper(RunSettings(**net), s))
    length = int(s.max_load_cpu_s / c.iteration_s * 0.99 * fraction)
    return {"format": "backprop-lab-run", "version": 1, "settings": net, "length": length}


# ---- a WebSocket client for the abusive scripts ------------------------------------------


class RefusedError(Exception):
    """The handshake got an HTTP answer other than 101 (its status), or none."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


class Ws(asyncio.Protocol):
    """A raw WebSocket client: counts the frames it gets, parses only the messages a
    script waits for (``run``, ``error``, ``share``, ``timeline``, ``follow``) and keeps
    the close code. With ``read=False`` it stops reading once upgraded."""

    def __init__(self, read: bool = True) -> None:
        loop = asyncio.get_running_loop()
        self.read = read
        self.buf = bytearray()
        self.upgraded: asyncio.Future[None] = loop.create_future()
        self.gone: asyncio.Future[None] = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.frames = 0
        self.nbytes = 0
        self.errors: Counter[str] = Counter()
        self.close_code: int | None = None
        self.opened = time.monotonic()
        self.closed_at: float | None = None
        self.session: str | None = None  # from the last run message that named one

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, *msgs: dict[str, Any]) -> None:
        """Send messages (all in one write)."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(mask_frame(json.dumps(m)) for m in msgs))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.upgraded.done():
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            line = bytes(self.buf[:self.buf.find(b"\r\n")]).split()
            del self.buf[:end + 4]
            status = int(line[1]) if len(line) > 1 and line[1].isdigit() else 0
            if status != 101:
                self.upgraded.set_exception(RefusedError(status))
                return
            self.upgraded.set_result(None)
            if not self.read and self.transport is not None:
                self.transport.pause_reading()
        self._frames()

    def _frames(self) -> None:
        buf, pos = self.buf, 0
        while len(buf) - pos >= 2:
            b0, n, hl = buf[pos], buf[pos + 1] & 0x7F, 2
            if n == 126:
                if len(buf) - pos < 4:
                    break
                n, hl = struct.unpack_from("!H", buf, pos + 2)[0], 4
            elif n == 127:
                if len(buf) - pos < 10:
                    break
                n, hl = struct.unpack_from("!Q", buf, pos + 2)[0], 10
            if len(buf) - pos < hl + n:
                break
            body = bytes(buf[pos + hl:pos + hl + n])
            opcode = b0 & 0x0F
            if opcode == 0x1:
                self._text(body)
            elif opcode == 0x8:
                self.close_code = struct.unpack("!H", body[:2])[0] if len(body) >= 2 else 1005
            elif opcode == 0x9 and self.transport is not None:  # ping → pong
                key = os.urandom(4)
                self.transport.write(struct.pack("!BB", 0x8A, 0x80 | len(body)) + key
                                     + bytes(b ^ key[i % 4] for i, b in enumerate(body)))
            pos += hl + n
        del buf[:pos]

    def _text(self, body: bytes) -> None:
        self.nbytes += len(body)
        self.frames += body.count(FRAME)
        if not any(w in body for w in WANTED):
            return
        data = orjson.loads(body)
        for m in data if isinstance(data, list) else [data]:
            if m.get("type") == "error":
                self.errors[label(m)] += 1
            if m.get("type") == "run" and m.get("session"):
                self.session = m["session"]
            if m.get("type") != "frame":
                self.inbox.put_nowait(m)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed_at = time.monotonic()
        if not self.upgraded.done():
            self.upgraded.set_exception(RefusedError(0))
        if not self.gone.done():
            self.gone.set_result(None)

    async def expect(self, *types: str, timeout: float = 10.0,
                     when: Callable[[dict[str, Any]], bool] | None = None
                     ) -> dict[str, Any] | None:
        """The next message of one of ``types`` (and ``when``), or None after ``timeout``
        seconds or once the connection is gone; others are skipped."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            if self.gone.done() and self.inbox.empty():
                return None
            try:
                m = await asyncio.wait_for(self.inbox.get(), min(left, 0.5))
            except TimeoutError:
                continue
            if m.get("type") in types and (when is None or when(m)):
                return m
        return None


async def ws_open(port: int, address: str | None = None, *, read: bool = True,
                  rcvbuf: int | None = None, timeout: float = 10.0) -> Ws:
    """A WebSocket to ``/ws`` (as a client at ``address``, through X-Forwarded-For);
    RefusedError if the handshake is answered otherwise."""
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setblocking(False)
    if rcvbuf:  # before connecting: the window the server sees is this small
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    try:
        await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", port)), timeout)
    except (OSError, TimeoutError):
        sock.close()
        raise RefusedError(0) from None
    _, ws = await loop.create_connection(lambda: Ws(read), sock=sock)
    key = base64.b64encode(os.urandom(16)).decode()
    forwarded = f"X-Forwarded-For: {address}\r\n" if address else ""
    assert ws.transport is not None
    ws.transport.write((
        f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Origin: http://127.0.0.1:{port}\r\n{forwarded}\r\n").encode())
    try:
        await asyncio.wait_for(ws.upgraded, timeout)
    except TimeoutError:
        ws.close()
        raise RefusedError(0) from None
    except RefusedError:
        ws.close()
        raise
    return ws


async def http_get(port: int, path: str, address: str | None = None,
                   timeout: float = 30.0, form: str | None = None) -> tuple[int, int, bytes]:
    """``(status, body bytes, first 200 bytes of the body)`` of one GET (a POST of
    ``form``) on a fresh connection; status 0 if it failed or timed out."""
    extra = f"X-Forwarded-For: {address}\r\n" if address else ""
    if form is not None:
        extra += ("Content-Type: application/x-www-form-urlencoded\r\n"
                 f"Content-Length: {len(form)}\r\n")
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"{'GET' if form is None else 'POST'} {path} HTTP/1.1\r\n"
                         f"Host: 127.0.0.1:{port}\r\n{extra}Connection: close\r\n\r\n"
                         f"{form or ''}".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(None, 2)[1])
            first = await reader.read(200)
            n = len(first)
            while chunk := await reader.read(1 << 16):
                n += len(chunk)
            return status, n, first
    except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError, IndexError):
        return 0, 0, b""
    finally:
        if writer is not None:
            writer.close()


# ---- the scenarios (each runs in its own process: --abuser KEY) ---------------------------


@dataclass
class Ctx:
    """What a scenario gets: the server, its window, its addresses, and its notes."""

    port: int
    seconds: float
    quick: bool
    server_pid: int
    index: int
    addresses: int
    notes: dict[str, Any] = field(default_factory=dict)
    t_go: float = 0.0

    def addr(self, i: int = 0) -> str | None:
        """The address of the abuser's ``i``-th connection (None: this machine)."""
        if not self.addresses:
            return None
        return f"10.66.{self.index}.{i % self.addresses + 1}"

    def other(self, i: int = 1) -> str:
        """Another machine of the class (a teacher, a newcomer)."""
        return f"10.67.{self.index}.{i}"

    def go(self) -> None:
        """The abuse starts now: the measuring process opens the scenario's window."""
        self.t_go = time.monotonic()
        sys.stdout.write(f"GO {self.t_go}\n")
        sys.stdout.flush()

    def left(self, at_least: float = 0.0) -> float:
        """Seconds left in the window (``max(seconds, at_least)`` after go)."""
        return self.t_go + max(self.seconds, at_least) - time.monotonic()

    async def until_end(self, at_least: float = 0.0) -> None:
        await asyncio.sleep(max(0.0, self.left(at_least)))


def label(m: dict[str, Any]) -> str:
    """An error as ``code`` or ``code:limit``."""
    return f"{m.get('code')}:{m['limit']}" if m.get("limit") else str(m.get("code"))


def answer(m: dict[str, Any] | None) -> str:
    """A message as a note: ``refused: max_piece_ms``, ``accepted``..."""
    if m is None:
        return "no answer"
    if m.get("type") == "error":
        return f"refused: {m.get('limit') or m.get('code')}"
    return "accepted"


async def opened(c: Ctx, address: str | None, **config: Any) -> Ws:
    """A session (configured with ``config`` if given), its ``run`` received."""
    ws = await ws_open(c.port, address)
    ws.send({"type": "hello", "batch": True})
    await ws.expect("run")
    if config:
        ws.send({"type": "configure", "config": config})
        m = await ws.expect("run", "error", timeout=60)
        if m is None or m["type"] != "run":
            raise RuntimeError(f"configure refused: {answer(m)}")
    return ws


async def indexed_run(c: Ctx, address: str | None) -> tuple[Ws, int]:
    """A session holding the longest loadable run of the largest network, indexed."""
    run = largest_run(largest_network(), 0.1 if c.quick else 1.0)
    ws = await opened(c, address)
    ws.send({"type": "load", "run": run})
    t0 = time.monotonic()
    m = await ws.expect("timeline", timeout=900,
                        when=lambda m: m["indexed"] >= m["length"] >= run["length"])
    if m is None:
        raise RuntimeError("the loaded run was not indexed within 15 minutes")
    c.notes["setup"] = f"{run['length']} it loaded, indexed in {time.monotonic() - t0:.0f} s"
    return ws, run["length"]


async def huge_file(c: Ctx) -> None:
    ws = await opened(c, c.addr())
    c.go()
    ws.send({"type": "load", "run": HUGE_RUN})
    c.notes["load"] = answer(await ws.expect("run", "error", timeout=c.seconds))
    ws.close()
    await c.until_end()


async def largest_file(c: Ctx) -> None:
    run = largest_run(largest_network())
    ws = await opened(c, c.addr())
    c.go()
    ws.send({"type": "load", "run": run})
    c.notes["load"] = f"{run['length']} it: " + answer(await ws.expect("run", "error"))
    await asyncio.sleep(1.0)
    ws.close()  # the client leaves; its session is kept for disconnect_grace_s
    await c.until_end()


async def steps80(c: Ctx) -> None:
    ws = await opened(c, c.addr(), **largest_network())
    await asyncio.sleep(2.5)  # the command bucket full again: 80 within the burst
    c.go()
    f0 = ws.frames
    ws.send(*[{"type": "step"}] * 80)
    while ws.frames - f0 < 80 and c.left() > 0:
        await asyncio.sleep(0.05)
    c.notes["frames"] = f"{ws.frames - f0}/80 in {time.monotonic() - c.t_go:.1f} s"
    c.notes["errors"] = dict(ws.errors)
    await c.until_end()


async def steps40(c: Ctx) -> None:
    ws = await opened(c, c.addr(), **largest_network())
    c.go()
    f0, sent = ws.frames, 0
    while c.left() > 0:
        ws.send({"type": "step"})
        sent += 1
        await asyncio.sleep(1 / 40)
    await asyncio.sleep(1.0)
    c.notes["frames"] = f"{ws.frames - f0} for {sent} steps"
    c.notes["errors"] = dict(ws.errors)


async def seek(c: Ctx) -> None:
    ws, length = await indexed_run(c, c.addr())
    c.go()
    times = []
    k = 0
    while c.left() > 0:  # to the end, then far back, then near the end again...
        far = k % 2 == 0
        target = length if far else 17 + (k * 97) % max(1, length // 4)
        t0 = time.monotonic()
        ws.send({"type": "seek", "iteration": target, "phase": None if far else "backward"})
        if await ws.expect("timeline", timeout=max(c.left(), 30),
                           when=lambda m, t=target: m["iteration"] == t) is None:
            times.append(float("inf"))
            break
        times.append(time.monotonic() - t0)
        k += 1
    c.notes["seeks"] = (f"{len(times)} seeks ({length} it), reply max "
                        f"{1000 * max(times, default=0):.0f} ms, "
                        f"median {1000 * statistics.median(times or [0]):.0f} ms")


async def fork(c: Ctx) -> None:
    teacher, length = await indexed_run(c, c.other())
    teacher.send({"type": "seek", "iteration": length, "phase": None})
    await teacher.expect("timeline", timeout=120, when=lambda m: m["iteration"] == length)
    teacher.send({"type": "share"})
    m = await teacher.expect("share", when=lambda m: m.get("code"))
    assert m is not None
    code = m["code"]
    student = await ws_open(c.port, c.addr())
    c.go()
    times, refused = [], []
    while c.left() > 0:
        student.send({"type": "hello", "batch": True, "follow": code})  # (back) to the class
        await student.expect("follow", when=lambda m: m.get("active"))
        await student.expect("run")  # the class's run, as it is now
        t0 = time.monotonic()
        student.send({"type": "fork"})
        m = await student.expect("follow", "error", timeout=max(c.left(), 60),
                                 when=lambda m: m["type"] == "error" or not m["active"])
        if m is not None and m["type"] == "follow":
            m = await student.expect("run", timeout=60)  # its own copy's
        if m is None or m["type"] == "error":
            refused.append(answer(m))
            break
        times.append(time.monotonic() - t0)
    c.notes["forks"] = (f"{len(times)} forks at iteration {length}, max "
                        f"{1000 * max(times, default=0):.0f} ms"
                        + (f"; then {refused[0]}" if refused else ""))


async def downloads(c: Ctx) -> None:
    ws = await opened(c, c.addr(), **largest_network())
    # a POST of the session id (server/routes/export.py); before that, a GET by URL
    fetch: dict[str, Any] = {"path": "/runs/weights.csv", "form": f"session={ws.session}"}
    if (await http_get(c.port, **fetch))[0] in (404, 405):
        fetch = {"path": f"/runs/{ws.session}/weights.csv"}
    c.go()
    rounds, times, size = 0, [], 0
    statuses: Counter[int] = Counter()
    while c.left() > 0:
        t0 = time.monotonic()
        got = await asyncio.gather(*(http_get(c.port, address=c.addr(i), **fetch)
                                     for i in range(20)))
        times.append(time.monotonic() - t0)
        statuses.update(s for s, _, _ in got)
        size = max(size, *(n for _, n, _ in got))
        rounds += 1
    c.notes["downloads"] = (f"{rounds} rounds of 20, {size / 2**20:.1f} MB each, round max "
                            f"{1000 * max(times):.0f} ms, HTTP {dict(statuses)}")


async def slow_play(c: Ctx) -> None:
    ws = await opened(c, c.addr(), **largest_network())
    c.go()
    f0, b0 = ws.frames, ws.nbytes
    ws.send({"type": "play", "speed": PHASE_BY_PHASE_MAX})
    await c.until_end()
    dt = time.monotonic() - c.t_go
    c.notes["received"] = (f"{(ws.frames - f0) / dt:.1f} frames/s at {PHASE_BY_PHASE_MAX:g} "
                           f"it/s, {(ws.nbytes - b0) / dt / 2**20:.1f} MB/s")


async def stalled(c: Ctx, n: int) -> None:
    """``n`` clients with a tiny receive window play full frames and never read."""
    timeout = SETTINGS.send_timeout_s
    net = largest_network()
    clients = [await ws_open(c.port, c.addr(i), read=False, rcvbuf=4096) for i in range(n)]
    ports = set()
    for ws in clients:
        assert ws.transport is not None
        ports.add(ws.transport.get_extra_info("sockname")[1])
        ws.send({"type": "hello"}, {"type": "configure", "config": net},
                {"type": "play", "speed": PHASE_BY_PHASE_MAX})
    c.go()
    server = psutil.Process(c.server_pid)
    cut: dict[int, float] = {}
    while c.left(0 if c.quick else timeout + 10) > 0 and len(cut) < n:
        live = {conn.raddr.port for conn in server.net_connections("tcp")
                if conn.raddr and conn.laddr.port == c.port
                and conn.status == psutil.CONN_ESTABLISHED}
        for p in ports:
            if p not in live and p not in cut:
                cut[p] = time.monotonic() - c.t_go
        await asyncio.sleep(0.25)
    # the server's TCP socket, not its log: a connection the app has let go but whose
    # socket stays open still holds a descriptor, a connection slot and a send buffer
    c.notes["server sockets"] = (
        f"{len(cut)}/{n} closed (after " + ", ".join(f"{t:.1f}" for t in sorted(cut.values()))
        + " s)" if cut else f"{n}/{n} still ESTABLISHED after {time.monotonic() - c.t_go:.0f} s")

    for ws in clients:
        ws.close()


async def session_fill(c: Ctx) -> None:
    outcomes: Counter[str] = Counter()

    async def filler(i: int) -> None:
        while c.left() > 0:
            try:
                ws = await ws_open(c.port, c.addr(i), timeout=5)
            except RefusedError as e:
                outcomes[f"HTTP {e.status}"] += 1
                continue
            ws.send({"type": "hello", "batch": True})
            m = await ws.expect("run", "error", timeout=3)
            outcomes["session" if m and m["type"] == "run" else answer(m)] += 1
            ws.close()

    c.go()
    await asyncio.gather(*(filler(i) for i in range(8)))
    c.notes["fill"] = dict(outcomes)
    for who, address in (("newcomer", c.other()), ("filler", c.addr())):
        try:
            ws = await ws_open(c.port, address)
            ws.send({"type": "hello", "batch": True})
            c.notes[who] = answer(await ws.expect("run", "error"))
            ws.close()
        except RefusedError as e:
            c.notes[who] = f"HTTP {e.status}"


async def batch0(c: Ctx) -> None:
    ws = await opened(c, c.addr())
    c.go()
    ws.send({"type": "configure", "config": {"batch_size": 0, "n_samples": 2000}})
    c.notes["configure"] = answer(await ws.expect("run", "error"))
    ws.send({"type": "play", "speed": LEARNER_SPEED})
    await c.until_end()


async def header50mb(c: Ctx) -> None:
    chunk = b"a" * 2**20
    results: Counter[str] = Counter()
    accepted: list[int] = []
    c.go()
    while c.left() > 0:
        reader, writer = await asyncio.open_connection("127.0.0.1", c.port)
        writer.write(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{c.port}\r\nX-Pad: ".encode())
        sent = 0
        try:
            for _ in range(50):
                writer.write(chunk)
                await asyncio.wait_for(writer.drain(), 10)
                sent += len(chunk)
            writer.write(b"\r\n\r\n")
            await writer.drain()
        except (OSError, TimeoutError):
            pass
        try:
            line = await asyncio.wait_for(reader.readline(), 10)
            results[line.decode(errors="replace").strip() or "closed"] += 1
        except (OSError, TimeoutError):
            results["no answer"] += 1
        accepted.append(sent)
        writer.close()
    c.notes["50 MB header"] = (f"{dict(results)}; at most {max(accepted) / 2**20:.0f} MB "
                               "written before the cut")


async def silent(c: Ctx, n: int = 1000) -> None:
    wait = SETTINGS.hello_timeout_s
    refused: Counter[str] = Counter()
    clients: list[Ws] = []
    sem = asyncio.Semaphore(100)

    async def one(i: int) -> None:
        async with sem:
            try:
                clients.append(await ws_open(c.port, c.addr(i)))
            except RefusedError as e:
                refused[f"HTTP {e.status}"] += 1

    c.go()
    await asyncio.gather(*(one(i) for i in range(n)))
    while c.left(0 if c.quick else wait + 15) > 0 and any(not w.gone.done() for w in clients):
        await asyncio.sleep(0.25)
    # the script never answers a close frame: the server must drop the socket itself
    codes = Counter(str(w.close_code) for w in clients if w.close_code)
    lives = sorted(w.closed_at - w.opened for w in clients if w.closed_at)
    c.notes["silent"] = (f"{len(clients)} upgraded, {dict(refused)} refused; close frames "
                         f"{dict(codes)}; sockets dropped by the server {len(lives)} "
                         f"(median after {statistics.median(lives or [0]):.1f} s), "
                         f"{sum(not w.gone.done() for w in clients)} still open")

    for w in clients:
        w.close()


async def slowloris(c: Ctx, n: int = 200) -> None:
    wait = SETTINGS.request_head_timeout_s
    lives: list[float] = []
    answers: Counter[str] = Counter()

    async def one(i: int) -> None:
        t0 = time.monotonic()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", c.port)
        except OSError:
            answers["refused"] += 1
            return
        writer.write(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{c.port}\r\n".encode())
        got = asyncio.ensure_future(reader.read(200))
        k = 0
        while not got.done() and c.left(0 if c.quick else wait + 5) > 0:
            with contextlib.suppress(OSError):
                writer.write(f"X-{i}-{k}: a\r\n".encode())  # one header a second, never done
            k += 1
            await asyncio.wait([got], timeout=1.0)
        if got.done():
            lives.append(time.monotonic() - t0)
            with contextlib.suppress(Exception):
                answers[(got.result().split(b"\r\n")[0] or b"closed").decode()] += 1
        else:
            got.cancel()
            answers["still open"] += 1
        writer.close()

    c.go()
    await asyncio.gather(*(one(i) for i in range(n)))
    c.notes["slow-loris"] = (f"{dict(answers)}; cut after median "
                             f"{statistics.median(lives or [0]):.1f} s")


async def guess(c: Ctx, n: int = 400) -> None:
    teacher = await opened(c, c.other())
    teacher.send({"type": "share"})
    await teacher.expect("share", when=lambda m: m.get("code"))
    answers: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    sent = 0

    async def guesser(i: int) -> None:
        nonlocal sent
        try:
            ws = await ws_open(c.port, c.addr(i))
        except RefusedError as e:
            refused[f"HTTP {e.status}"] += 1
            return
        while c.left() > 0 and not ws.gone.done():
            code = "".join(random.choices(CODE_ALPHABET, k=CODE_LENGTH))
            ws.send({"type": "hello", "batch": True, "follow": code})
            sent += 1
            m = await ws.expect("error", "follow", timeout=max(0.1, c.left()))
            if m is not None:
                answers["hit" if m["type"] == "follow" else label(m)] += 1
        if ws.close_code:
            refused[f"closed {ws.close_code}"] += 1
        ws.close()

    c.go()
    await asyncio.gather(*(guesser(i) for i in range(n)))
    dt = time.monotonic() - c.t_go
    c.notes["guesses"] = (f"{sent} sent ({sent / dt:.0f}/s), looked up "
                          f"{answers['unknown_code'] / dt:.1f}/s; answers {dict(answers)}; "
                          f"connections {dict(refused)}")


async def follower_flood(c: Ctx, n: int = 500) -> None:
    teacher = await opened(c, c.other())
    teacher.send({"type": "share"}, {"type": "play", "speed": LEARNER_SPEED})
    m = await teacher.expect("share", when=lambda m: m.get("code"))
    assert m is not None
    code = m["code"]
    outcomes: Counter[str] = Counter()
    clients: list[Ws] = []
    sem = asyncio.Semaphore(50)

    async def one(i: int) -> None:
        async with sem:
            try:
                ws = await ws_open(c.port, c.addr(i))
            except RefusedError as e:
                outcomes[f"HTTP {e.status}"] += 1
                return
            clients.append(ws)
            ws.send({"type": "hello", "batch": True, "follow": code})
            m = await ws.expect("follow", "error", "run", timeout=10)
            outcomes["following" if m and m["type"] == "follow" else answer(m)] += 1

    c.go()
    await asyncio.gather(*(one(i) for i in range(n)))
    await c.until_end()
    c.notes["followers"] = dict(outcomes)
    for w in clients:
        w.close()


async def gc_rss(c: Ctx, n: int = 12) -> None:
    net = largest_network()
    c.go()
    clients = await asyncio.gather(*(opened(c, c.addr(i), **net) for i in range(n)))
    for ws in clients:
        ws.send({"type": "play", "speed": 1000})
    await c.until_end()
    for ws in clients:
        ws.close()
    c.notes["sessions"] = f"{n} sessions of the largest network played at 1000 it/s, then left"


async def sigterm(c: Ctx) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "server.serve"], cwd=ROOT,
                            env={**os.environ, "HOST": "127.0.0.1", "PORT": str(port)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_healthy(f"http://127.0.0.1:{port}", proc, timeout=30)
    ws = await ws_open(port, c.addr())
    ws.send({"type": "hello", "batch": True}, {"type": "play", "speed": LEARNER_SPEED})
    await ws.expect("run")
    c.go()
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(ws.gone, 15)
    closed = time.monotonic() - t0
    code = await asyncio.to_thread(proc.wait, 20)
    c.notes["sigterm"] = (f"close code {ws.close_code} after {closed:.2f} s; server exit "
                          f"status {code} after {time.monotonic() - t0:.1f} s")

    await c.until_end()


@dataclass(frozen=True)
class Scenario:
    key: str
    item: int  # its number in issue 12's list
    title: str
    run: Callable[[Ctx], Awaitable[None]]
    wait_gone: bool = False  # the settle starts once the scenario's sessions are freed


SCENARIOS = [
    Scenario("huge-file", 1, "load a 1,000,000-iteration run of 9×128, batch 512", huge_file),
    Scenario("largest-file", 1, "load the longest run of the largest network, leave",
             largest_file),
    Scenario("steps80", 2, "largest network: 80 steps at once", steps80),
    Scenario("steps40", 2, "largest network: 40 steps a second", steps40),
    Scenario("seek", 2, "largest network: seeks far back in the longest run", seek),
    Scenario("fork", 2, "fork of a big class run, again and again", fork),
    Scenario("downloads", 2, "largest network: 20 parallel weights.csv, repeated", downloads),
    Scenario("slow-play", 2, "largest network: honest slow play (full frames)", slow_play),
    Scenario("stalled1", 3, "a client that stops reading (full frames)",
             lambda c: stalled(c, 1)),
    Scenario("stalled3", 4, "three clients that stop reading", lambda c: stalled(c, 3)),
    Scenario("fill", 5, "one script filling sessions (connect, hello, close)", session_fill),
    Scenario("batch0", 6, "configure batch_size 0, n_samples 2000", batch0),
    Scenario("header", 7, "50 MB HTTP headers, one after another", header50mb),
    Scenario("silent", 7, "1000 WebSockets that never say hello", silent),
    Scenario("slowloris", 7, "200 slow-loris sockets (a header line a second)", slowloris),
    Scenario("guess", 8, "400 connections guessing class codes", guess),
    Scenario("followers", 8, "500 followers on one real class code", follower_flood),
    Scenario("gc", 9, "12 big sessions played then left: RSS once they are freed", gc_rss,
             wait_gone=True),
    Scenario("sigterm", 10, "SIGTERM to a (separate) server: close code", sigterm),
]


def abuser(args: argparse.Namespace) -> None:
    """``--abuser KEY``: run one scenario, print ``GO <time>`` when the abuse starts and
    ``END <notes as JSON>`` when it is over."""
    sc = next(s for s in SCENARIOS if s.key == args.abuser)
    c = Ctx(args.port, args.seconds, args.quick, args.server_pid, args.index, args.addresses)
    try:
        asyncio.run(sc.run(c))
    except Exception as e:
        c.notes["failed"] = f"{type(e).__name__}: {e}"
    if not c.t_go:
        c.go()
    sys.stdout.write("END " + json.dumps(c.notes) + "\n")


# ---- the measuring side ---------------------------------------------------------------------


@dataclass
class Probe:
    """``/healthz`` every 50 ms on a fresh connection: (start, seconds, ok) each."""

    port: int
    samples: list[tuple[float, float, bool]] = field(default_factory=list)
    failures: list[tuple[float, int]] = field(default_factory=list)  # start, HTTP status
    sessions: int = 0

    async def run(self) -> None:
        pending: set[asyncio.Task[None]] = set()
        while True:
            if len(pending) < 200:
                task = asyncio.ensure_future(self.one())
                pending.add(task)
                task.add_done_callback(pending.discard)
            await asyncio.sleep(PROBE_EVERY_S)

    async def one(self) -> None:
        t0 = time.monotonic()
        status, _, body = await http_get(self.port, "/healthz", timeout=PROBE_TIMEOUT_S)
        self.samples.append((t0, time.monotonic() - t0, status == 200))
        if status != 200:
            self.failures.append((t0, status))
        if status == 200:
            with contextlib.suppress(ValueError, KeyError):
                self.sessions = int(orjson.loads(body)["sessions"])

    def window(self, t0: float, t1: float) -> tuple[float, float, int, int]:
        """p50, p99 (ms) of the probes started in [t0, t1], failed ones, all."""
        xs = [(d, ok) for t, d, ok in self.samples if t0 <= t <= t1]
        lat = [d * 1000 for d, _ in xs]
        return percentile(lat, 0.5), percentile(lat, 0.99), sum(not ok for _, ok in xs), len(xs)


@dataclass
class Sampler:
    """The server process's RSS and CPU every 0.25 s."""

    proc: psutil.Process
    samples: list[tuple[float, float, float]] = field(default_factory=list)  # t, MB, cpu s

    async def run(self) -> None:
        while True:
            with contextlib.suppress(psutil.Error):
                cpu = self.proc.cpu_times()
                self.samples.append((time.monotonic(), self.proc.memory_info().rss / 2**20,
                                     cpu.user + cpu.system))
            await asyncio.sleep(0.25)

    def between(self, t0: float, t1: float) -> list[tuple[float, float, float]]:
        return [s for s in self.samples if t0 <= s[0] <= t1]

    def cpu(self, t0: float, t1: float) -> float:
        """Cores the server used in [t0, t1]."""
        xs = self.between(t0, t1)
        return (xs[-1][2] - xs[0][2]) / (xs[-1][0] - xs[0][0]) if len(xs) > 1 else float("nan")

    def rss_now(self) -> float:
        return statistics.median(s[1] for s in self.samples[-4:])


class Learner:
    """The well-behaved learner: the default network at 30 it/s, reconnected if cut."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.stats = Client()
        self.proto: Any = None
        self.cuts = 0

    async def ensure(self) -> None:
        if self.proto is not None and not self.stats.closed:
            return
        if self.proto is not None:
            self.cuts += 1
        self.stats.closed = False
        self.proto = await open_client(self.port, self.stats, batch=True)
        self.proto.measuring = True
        self.proto.send({"type": "play", "speed": LEARNER_SPEED})

    def rate(self, t0: float, t1: float) -> float:
        """Update frames per second received in [t0, t1]."""
        return sum(t0 <= t <= t1 for t in self.stats.updates) / max(t1 - t0, 1e-9)


class LogTail:
    """What the server logged since the last look: warnings, errors and the guards'
    events, counted (the log is JSON lines, uvicorn's own lines are text)."""

    EVENTS = ("send timeout", "no hello", "request head too large", "request head too slow",
              "connection refused", "session end", "loaded run indexed", "run copied")

    def __init__(self, path: str) -> None:
        self.path = path
        self.offset = 0

    def counts(self) -> dict[str, int]:
        seen: Counter[str] = Counter()
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        self.offset += len(data)
        for line in data.splitlines():
            try:
                d = orjson.loads(line)
            except orjson.JSONDecodeError:
                text = line.decode(errors="replace")
                if text.startswith(("WARNING:", "ERROR:")):
                    seen[" ".join(text.split()[:6])] += 1
                continue
            if d.get("level") in ("warning", "error") or d.get("event") in self.EVENTS:
                seen[str(d.get("event"))] += 1
        return dict(seen)


def start_server(port: int) -> tuple[subprocess.Popen[bytes], str]:
    """``python -m server.serve`` on loopback ``port``, default settings; the process and
    the file its log goes to."""
    with tempfile.NamedTemporaryFile(prefix="abuse-server-", suffix=".log",
                                     delete=False) as logfile:
        log.info("server log: %s", logfile.name)
        proc = subprocess.Popen([sys.executable, "-m", "server.serve"], cwd=ROOT,
                                env={**os.environ, "HOST": "127.0.0.1", "PORT": str(port)},
                                stdout=subprocess.DEVNULL, stderr=logfile)
    wait_healthy(f"http://127.0.0.1:{port}", proc, timeout=30)
    return proc, logfile.name


def machine() -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"load average {load} (1, 5, 15 min) on {os.cpu_count()} CPUs"


@dataclass
class Bench:
    """The server under test and everything that watches it."""

    args: argparse.Namespace
    port: int
    pid: int
    learner: Learner
    probe: Probe
    sampler: Sampler
    logs: LogTail
    budget: float
    base: float = 0.0  # the learner's update frames a second, quiet
    base_cpu: float = 0.0  # the server's cores, quiet
    idle: float = 0.0  # the server's RSS (MB), quiet

    async def baseline(self) -> str:
        await self.learner.ensure()
        await asyncio.sleep(3)
        t0 = time.monotonic()
        await asyncio.sleep(self.args.baseline)
        t1 = time.monotonic()
        self.base = self.learner.rate(t0, t1)
        self.idle = statistics.median(s[1] for s in self.sampler.between(t0, t1))
        self.base_cpu = self.sampler.cpu(t0, t1)
        self.logs.counts()
        p50, p99, failed, n = self.probe.window(t0, t1)
        busy = (f" NOT QUIET: the learner got under 90 % of the {LEARNER_SPEED:g} it/s it "
                "asked for, so the machine is busy and the percentages below flatter the "
                "server" if self.base < 0.9 * LEARNER_SPEED else "")
        return (f"Baseline ({self.args.baseline:g} s): the learner got {self.base:.1f} update "
                f"frames/s; /healthz p50 {p50:.1f} ms, p99 {p99:.1f} ms ({n} probes, "
                f"{failed} failed); idle RSS {self.idle:.0f} MB; server CPU "
                f"{self.base_cpu:.2f} cores. RSS budget checked: {self.budget:g} MB.{busy}")

    async def settled(self) -> float:
        """Wait (up to a minute) until the server's CPU is back near the baseline; the
        seconds waited."""
        start = time.monotonic()
        while time.monotonic() - start < (10 if self.args.quick else 60):
            t = time.monotonic()
            await asyncio.sleep(2)
            if self.sampler.cpu(t, time.monotonic()) < self.base_cpu + 0.15:
                break
        return time.monotonic() - start

    async def abuse(self, index: int, sc: Scenario) -> tuple[float, dict[str, Any]]:
        """Run scenario ``sc``'s abuser process to its end: when its window opened, and
        its notes."""
        a = self.args
        child = await asyncio.create_subprocess_exec(
            sys.executable, str(Path(__file__).resolve()), "--abuser", sc.key,
            "--port", str(self.port), "--seconds", str(a.seconds), "--server-pid",
            str(self.pid), "--index", str(index), "--addresses", str(a.addresses),
            *(["--quick"] if a.quick else []), stdout=asyncio.subprocess.PIPE)
        assert child.stdout is not None
        t_go, notes = time.monotonic(), {"failed": "no END from the abuser"}
        try:
            async with asyncio.timeout(1800):
                while line := await child.stdout.readline():
                    word, _, rest = line.decode().partition(" ")
                    if word == "GO":
                        t_go = float(rest)
                    elif word == "END":
                        notes = json.loads(rest)
                await child.wait()
        except TimeoutError:
            child.kill()
        return t_go, notes

    async def scenario(self, index: int, sc: Scenario) -> str:
        """Run one scenario beside the learner and measure it: one Markdown table row."""
        waited = await self.settled()
        await self.learner.ensure()
        cuts = self.learner.cuts
        t_spawn = time.monotonic()
        rss_before = self.sampler.rss_now()
        t_go, notes = await self.abuse(index, sc)
        t_end = time.monotonic()
        load = os.getloadavg()[0]
        if sc.wait_gone or self.args.wait_gone:  # the settle starts once they are freed
            deadline = t_end + SETTINGS.disconnect_grace_s + 60
            while self.probe.sessions > 1 and time.monotonic() < deadline:  # the learner's
                await asyncio.sleep(1)
            notes["freed"] = f"sessions freed {time.monotonic() - t_end:.0f} s after leaving"
        t_settle = time.monotonic()
        await asyncio.sleep(self.args.settle)
        t_after = time.monotonic()
        rss_after = self.sampler.rss_now()
        peak = max(s[1] for s in self.sampler.between(t_spawn, t_after))
        during = 100 * self.learner.rate(t_go, t_end) / self.base
        after = 100 * self.learner.rate(t_settle, t_after) / self.base
        p50, p99, failed, _ = self.probe.window(t_go, t_end)
        change = 100 * (rss_after / self.idle - 1)
        missed = [what for what, bad in (
            ("learner", during < 90), ("p99", p99 > 100 or failed > 0),
            ("RSS budget", peak > self.budget), ("RSS back", abs(change) > 20)) if bad]
        statuses = Counter(f"HTTP {s}" if s else "no answer" for t, s in self.probe.failures
                           if t_go <= t <= t_end)
        if statuses:
            notes["/healthz failed"] = dict(statuses)
        if self.learner.cuts > cuts:
            notes["learner"] = "its connection was cut (reconnected)"
        if waited > 3:
            notes["waited"] = f"{waited:.0f} s for the server to settle first"
        notes["sessions after"] = self.probe.sessions
        notes["server log"] = self.logs.counts()
        what = " ".join("; ".join(f"{k}: {v}" for k, v in notes.items()).replace("|", "/")
                        .split())
        return (f"| {sc.item} | `{sc.key}`: {sc.title} | {during:.0f} / {after:.0f} "
                f"({self.learner.rate(t_go, t_end):.1f}/s) | "
                f"{p50:.0f} / {p99:.0f} ({failed}) | {rss_before:.0f} / {peak:.0f} / "
                f"{rss_after:.0f} ({change:+.0f} %) | {self.sampler.cpu(t_go, t_end):.2f} | "
                f"{load:.1f} | {', '.join(missed) or 'none'} | {what} |")


async def on_one_server(args: argparse.Namespace, rows_to_run: list[tuple[int, Scenario]]
                        ) -> tuple[str, list[str]]:
    """Start a server and the learner, take the baseline, run ``rows_to_run`` (each
    with its index) one after another; the baseline's line and the rows."""
    port = free_port()
    proc, logfile = start_server(port)
    b = Bench(args, port, proc.pid, Learner(port), Probe(port),
              Sampler(psutil.Process(proc.pid)), LogTail(logfile),
              args.rss_budget_mb or SETTINGS.max_total_history_mb)
    tasks = [asyncio.ensure_future(b.sampler.run()), asyncio.ensure_future(b.probe.run())]
    rows = []
    try:
        baseline = await b.baseline()
        log.info(baseline)
        for i, sc in rows_to_run:
            rows.append(await b.scenario(i, sc))
            log.info(rows[-1])
    finally:
        for t in tasks:
            t.cancel()
        proc.terminate()
        proc.wait(15)
    return baseline, rows


async def measure(args: argparse.Namespace) -> list[str]:
    """Run the scenarios asked for on one server, or each on a fresh one (``--fresh``);
    the result as Markdown lines."""
    lines = [f"Start: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, {machine()}.",
             f"Largest network the limits allow: {json.dumps(largest_network())}."]
    log.info("\n".join(lines))
    # (in the order given, repeats included: a row twice shows what of its memory was a
    # first time's, modules and caches the server keeps)
    by_key = {s.key: s for s in SCENARIOS}
    keys = args.only.split(",") if args.only else list(by_key)
    todo = list(enumerate((by_key[k] for k in keys if k in by_key), start=1))
    rows: list[str] = []
    for group in ([[t] for t in todo] if args.fresh else [todo]):
        baseline, got = await on_one_server(args, group)
        lines.append(baseline if not args.fresh else f"Row {group[0][0]}: {baseline}")
        rows += got
    lines.append(f"End: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, {machine()}.")
    head = ("| # | scenario | learner % during / after (frames/s during) "
            "| /healthz p50 / p99 ms (failed) "
            "| RSS MB before / peak / after (after vs idle) | server CPU | load | "
            "targets missed | what happened |")
    return [*lines, "", head, "|" + "---|" * 9, *rows]


def main() -> None:
    """Parse arguments; run the benchmark (or, with --abuser, one scenario's client)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=None, help="each scenario's window "
                    "(default 10; clients that must be cut get the server's timeout + 10 s)")
    ap.add_argument("--settle", type=float, default=None,
                    help="seconds after a scenario before its RSS is read (default 60)")
    ap.add_argument("--baseline", type=float, default=None, help="quiet period (default 15)")
    ap.add_argument("--quick", action="store_true",
                    help="a smoke run: 3 s scenarios, 5 s settle, a tenth of the long run")
    ap.add_argument("--only", default="", help="comma-separated scenario keys, run in this "
                    "order (a key twice: its row again): " + ", ".join(s.key for s in SCENARIOS))
    ap.add_argument("--addresses", type=int, default=1, help="client addresses each abusive "
                    "script spreads over (0: this machine, which per-address caps exempt)")
    ap.add_argument("--rss-budget-mb", type=float, default=0.0,
                    help="RSS budget to check (default: max_total_history_mb)")
    ap.add_argument("--wait-gone", action="store_true",
                    help="every row's settle starts once its sessions are freed (those a "
                    "client left are kept disconnect_grace_s for a reload)")
    ap.add_argument("--fresh", action="store_true",
                    help="each row on a server of its own, started for it (its own idle "
                    "RSS and baseline): each scenario alone, as the issue tried them; "
                    "without it the rows follow one another on one server")
    ap.add_argument("--out", type=Path, help="also write the results (Markdown) here")
    ap.add_argument("--abuser", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--server-pid", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--index", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    quick = args.quick
    args.seconds = args.seconds or (3.0 if quick else 10.0)
    args.settle = args.settle if args.settle is not None else (5.0 if quick else 60.0)
    args.baseline = args.baseline or (4.0 if quick else 15.0)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # 1000 sockets and more
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    if args.abuser:
        abuser(args)
        return
    result = "\n".join(asyncio.run(measure(args))) + "\n"
    sys.stdout.write(result)
    if args.out:
        args.out.write_text(result)


if __name__ == "__main__":
    main()
