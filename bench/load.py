"""Load benchmark: N concurrent sessions playing over loopback against a real server.

Not a test. Starts ``python -m server.serve`` in a separate process (as ``make
run`` does: per-message deflate off, glibc's allocator), opens ``--clients``
WebSockets from this process, has each session play at ``--speed`` iterations per
second for ``--seconds``, and reports, over the measuring window after a warm-up:

- frames per second received by each client (median, min),
- the interval between consecutive iterations' ``update`` frames at each
  client (p50, p99, max) — at 30 it/s the ideal is 33 ms; on time means
  p99 ≤ 50 ms,
- the server process's CPU (fraction of one core) and resident memory.

With ``--follow`` the clients are a class following one teacher: the first
client plays and shares its run, the others join with its code, and every
one of them counts the frames it gets (one engine step and one encoding a
frame for all of them).

With ``--workers N`` the server is ``python -m server.serve`` with
``BPL_WORKERS=N`` (N processes on the one port, the kernel spreading the
connections) and a ``redis-server`` of its own on a free port (Debian's, as
the tests use); ``--redis`` gives one worker Redis too, to measure what the
shared part costs. The server's CPU is then the sum over its processes, and
each worker's share is reported beside it (``worker_cpu_cores``), with
Redis's own CPU.

The clients speak raw WebSocket frames on asyncio sockets and never decode
JSON (they look at each message's first bytes), so one client process stays
much cheaper than the server it measures.

With ``--in-process`` the same sessions play in this process without sockets
(:func:`in_process`): CPU per delivered iteration of everything but the sends,
which holds up for A/B runs when the machine is busy.

    .venv/bin/python bench/load.py --clients 200 --speed 30 --seconds 20
    .venv/bin/python bench/load.py --clients 400 --workers 2
    .venv/bin/python bench/load.py --clients 200 --in-process --seconds 4
    .venv/bin/python bench/load.py --clients 200 --in-process --paced --seconds 4
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import logging
import os
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import psutil

ROOT = Path(__file__).resolve().parents[1]
# run as a script, bench/ comes first on sys.path and bench/engine.py would shadow
# the engine package: put the repository first instead
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
from tests.helpers.net import (  # noqa: E402
    free_port,
    mask_frame,
    wait_healthy,
)
from tests.helpers.site import Redis  # noqa: E402

log = logging.getLogger("bench.load")

UPDATE_PREFIX = b'{"type":"frame","phase":"update"'
FRAME_PREFIX = b'{"type":"frame"'
PACKED_PREFIX = b'{"type":"packed"'
SHARE_PREFIX = b'{"type":"share","code":"'


@dataclass
class Client:
    """One session's connection and what it measured."""

    frames: int = 0
    updates: list[float] = field(default_factory=list)
    messages: int = 0
    nbytes: int = 0
    errors: list[bytes] = field(default_factory=list)
    closed: bool = False


class RawClient(asyncio.Protocol):
    """Minimal WebSocket client: handshake, masked sends, unmasked frame parsing."""

    def __init__(self, stats: Client, ready: asyncio.Future[None]) -> None:
        self.stats = stats
        self.ready = ready
        self.buf = bytearray()
        self.upgraded = False
        self.transport: asyncio.Transport | None = None
        self.measuring = False
        self.share_code: asyncio.Future[str] | None = None  # set: wait for a share code

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, msg: dict[str, object]) -> None:
        assert self.transport is not None
        self.transport.write(mask_frame(json.dumps(msg)))

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.upgraded:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buf[:end])
            del self.buf[: end + 4]
            if b" 101 " not in head.split(b"\r\n", 1)[0]:
                self.ready.set_exception(RuntimeError(head.decode(errors="replace")))
                return
            self.upgraded = True
            self.ready.set_result(None)
        self._parse()

    def _parse(self) -> None:
        buf = self.buf
        pos = 0
        now = time.perf_counter()
        st = self.stats
        while len(buf) - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            n = b1 & 0x7F
            hl = 2
            if n == 126:
                if len(buf) - pos < 4:
                    break
                n = struct.unpack_from("!H", buf, pos + 2)[0]
                hl = 4
            elif n == 127:
                if len(buf) - pos < 10:
                    break
                n = struct.unpack_from("!Q", buf, pos + 2)[0]
                hl = 10
            if len(buf) - pos < hl + n:
                break
            start = pos + hl
            opcode = b0 & 0x0F
            if opcode == 0x1 and self.share_code is not None and not self.share_code.done():
                i = buf.find(SHARE_PREFIX, start, start + n)
                if i >= 0:
                    j = i + len(SHARE_PREFIX)
                    self.share_code.set_result(bytes(buf[j:j + 6]).decode())
            if opcode == 0x2 and self.measuring:  # a batch with packed frames
                st.messages += 1
                st.nbytes += n
                j = struct.unpack_from("<I", buf, start)[0]
                body = bytes(buf[start + 4:start + 4 + j])
                k = body.count(PACKED_PREFIX)  # (each an iteration's four frames)
                st.frames += 4 * k + body.count(FRAME_PREFIX)
                st.updates += [now] * (k + body.count(UPDATE_PREFIX))
                if b'{"type":"error"' in body:
                    st.errors.append(body[:200])
            elif opcode == 0x1 and self.measuring:
                st.messages += 1
                st.nbytes += n
                if buf[start] == 0x5B:  # "[": a batch of messages
                    body = bytes(buf[start:start + n])
                    st.frames += body.count(FRAME_PREFIX)
                    st.updates += [now] * body.count(UPDATE_PREFIX)
                    if b'{"type":"error"' in body:
                        st.errors.append(body[:200])
                else:
                    head = bytes(buf[start:start + 40])
                    if head.startswith(FRAME_PREFIX):
                        st.frames += 1
                        if head.startswith(UPDATE_PREFIX):
                            st.updates.append(now)
                    elif head.startswith(b'{"type":"error"'):
                        st.errors.append(bytes(buf[start:start + 200]))
            elif opcode == 0x9 and self.transport is not None:  # ping → pong
                payload = bytes(buf[start:start + n])
                key = os.urandom(4)
                self.transport.write(
                    struct.pack("!BB", 0x8A, 0x80 | len(payload)) + key
                    + bytes(b ^ key[i % 4] for i, b in enumerate(payload))
                )
            elif opcode == 0x8:
                st.closed = True
            pos = start + n
        del buf[:pos]

    def connection_lost(self, exc: Exception | None) -> None:
        self.stats.closed = True


async def open_client(port: int, stats: Client, batch: bool = False,
                      follow: str | None = None, packed: bool = False) -> RawClient:
    """Connect, upgrade to a WebSocket and greet the server (following ``follow``)."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()
    _, proto = await loop.create_connection(
        lambda: RawClient(stats, ready), "127.0.0.1", port
    )
    key = base64.b64encode(os.urandom(16)).decode()
    assert proto.transport is not None
    proto.transport.write(
        (
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1:{port}\r\n\r\n"
        ).encode()
    )
    await asyncio.wait_for(ready, 10)
    proto.send({"type": "hello", "batch": batch, "packed": packed,
                **({"follow": follow} if follow else {})})
    return proto


def percentile(xs: list[float], q: float) -> float:
    """The ``q``-quantile (0..1) of ``xs`` by nearest rank."""
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def tree(server: psutil.Process) -> list[psutil.Process]:
    """``server`` and every process it started (a supervisor's workers)."""
    return [server, *server.children(recursive=True)]


def cpu_seconds(procs: list[psutil.Process]) -> dict[int, float]:
    """CPU seconds (user + system) used so far by each of ``procs``, by pid."""
    out = {}
    for p in procs:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            out[p.pid] = t.user + t.system
    return out


async def drive(port: int, n: int, speed: float, warmup: float, seconds: float,
                server: psutil.Process, batch: bool = False,
                follow: bool = False, redis: psutil.Process | None = None,
                packed: bool = False) -> dict[str, object]:
    """Open ``n`` sessions (or, with ``follow``, one teacher and ``n − 1`` followers),
    play them, measure over ``seconds`` after ``warmup``."""
    stats = [Client() for _ in range(n)]
    clients: list[RawClient] = []
    code = None
    if follow:
        teacher = await open_client(port, stats[0], batch, packed=packed)
        teacher.share_code = asyncio.get_running_loop().create_future()
        teacher.send({"type": "share"})
        code = await asyncio.wait_for(teacher.share_code, 10)
        clients.append(teacher)
    for i in range(len(clients), n, 20):  # connect in small waves, as a class arriving
        clients += await asyncio.gather(*(open_client(port, s, batch, code, packed)
                                          for s in stats[i:i + 20]))
    await asyncio.sleep(0.5)
    for c in clients[:1] if follow else clients:
        c.send({"type": "play", "speed": speed})
    await asyncio.sleep(warmup)
    for c in clients:
        c.measuring = True
    me = psutil.Process()
    procs = tree(server)
    sys0 = sum(p.cpu_times().system for p in procs)
    cpu0, mine0 = cpu_seconds(procs), me.cpu_times()
    redis0 = sum(redis.cpu_times()[:2]) if redis is not None else 0.0
    t0 = time.perf_counter()
    await asyncio.sleep(seconds)
    t1 = time.perf_counter()
    cpu1, mine1 = cpu_seconds(procs), me.cpu_times()
    sys1 = sum(p.cpu_times().system for p in procs)
    redis1 = sum(redis.cpu_times()[:2]) if redis is not None else 0.0
    for c in clients:
        c.measuring = False
    rss = sum(p.memory_info().rss for p in procs)
    for c in clients:
        c.send({"type": "pause"})
    await asyncio.sleep(0.2)
    for c in clients:
        if c.transport is not None:
            c.transport.close()

    wall = t1 - t0
    intervals = [b - a for s in stats for a, b in zip(s.updates, s.updates[1:], strict=False)]
    fps = [s.frames / wall for s in stats]
    ups = [len(s.updates) / wall for s in stats]
    per_proc = {pid: (cpu1[pid] - cpu0.get(pid, 0.0)) / wall for pid in cpu1}
    cpu = sum(per_proc.values())
    return {
        "clients": n,
        "follow": follow,
        "speed": speed,
        "batch": batch,
        "packed": packed,
        "ws_messages_per_s_per_client": round(statistics.median(s.messages for s in stats) / wall,
                                              1),
        "seconds": round(wall, 2),
        "frames_per_s_median": round(statistics.median(fps), 1),
        "frames_per_s_min": round(min(fps), 1),
        "iterations_per_s_median": round(statistics.median(ups), 1),
        "iterations_per_s_min": round(min(ups), 1),
        "interval_ms_p50": round(1000 * percentile(intervals, 0.50), 1),
        "interval_ms_p99": round(1000 * percentile(intervals, 0.99), 1),
        "interval_ms_max": round(1000 * max(intervals, default=float("nan")), 1),
        "late_fraction": round(sum(i > 0.050 for i in intervals) / max(1, len(intervals)), 4),
        "server_cpu_cores": round(cpu, 3),
        # kernel time: on loopback each write also does the receiver's TCP work
        "server_cpu_system_fraction": round((sys1 - sys0) / max(1e-9, cpu * wall), 3),
        "worker_cpu_cores": sorted((round(c, 3) for pid, c in per_proc.items()
                                    if pid != server.pid or len(per_proc) == 1), reverse=True),
        "redis_cpu_cores": round((redis1 - redis0) / wall, 3) if redis is not None else None,
        # CPU per delivered iteration: less sensitive to the machine's other load than
        # wall-time rates (the server's own work, whatever else shares the core)
        "server_cpu_ms_per_iteration": round(1000 * cpu / max(1e-9, sum(ups)), 3),
        "server_rss_mb": round(rss / 2**20, 1),
        "client_cpu_cores": round((mine1.user + mine1.system - mine0.user - mine0.system)
                                  / wall, 3),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "mb_per_s_out": round(sum(s.nbytes for s in stats) / wall / 2**20, 2),
        "errors": sum(len(s.errors) for s in stats),
        "closed": sum(s.closed for s in stats),
    }


def engine_step_ms(seconds: float = 1.0) -> float:
    """CPU ms of the engine's own captured iteration of the default run (a lone
    :meth:`engine.stepper.Stepper.step_iteration`, the four records, as fast play steps
    it), measured here in a tight loop: the reference the issue compares the server's
    CPU per delivered iteration with (target ≤ 2×)."""
    from engine.stepper import Stepper
    from server.protocol import RunSettings
    from server.run.runconfig import run_config

    st = Stepper(run_config(RunSettings()))
    for _ in range(200):
        st.step_iteration()
    n = 0
    t0 = time.process_time()
    while time.process_time() - t0 < seconds:
        for _ in range(100):
            st.step_iteration()
        n += 100
    return 1000 * (time.process_time() - t0) / n


def with_targets(result: dict[str, Any], speed: float, engine_ms: float) -> dict[str, Any]:
    """``result`` with the issue's capacity numbers beside it:

    - ``engine_step_ms``: the engine's own captured iteration (:func:`engine_step_ms`)
      and ``cpu_per_iteration_vs_engine_step``, the server's CPU per delivered iteration
      over it (target ≤ 2);
    - ``learners_per_core_at_speed``: how many sessions at ``speed`` one core of server
      CPU carries at this CPU per delivered iteration (target ≥ 200 at 30 it/s), and
      ``learners_at_target``: the clients of this run if every one of them got
      ≥ 98 % of ``speed`` with p99 interval ≤ 50 ms, else 0 (what was really served);
    - ``delivered_iterations_per_s``: the sum over the clients, and
      ``delivered_per_worker_core``: that over the workers' own CPU (Redis's and this
      client process's CPU are reported beside, not counted: on a 2-core machine they
      take part of the second core too).
    """
    ms = float(result["server_cpu_ms_per_iteration"])
    delivered = float(result["iterations_per_s_median"]) * int(result["clients"])
    workers = sum(result["worker_cpu_cores"])
    on_time = (float(result["iterations_per_s_min"]) >= 0.98 * speed
               and float(result["interval_ms_p99"]) <= 50.0)
    return {
        **result,
        "engine_step_ms": round(engine_ms, 4),
        "cpu_per_iteration_vs_engine_step": round(ms / engine_ms, 2),
        "learners_per_core_at_speed": round(1000 / (ms * speed), 1),
        "learners_at_target": int(result["clients"]) if on_time else 0,
        "delivered_iterations_per_s": round(delivered, 1),
        "delivered_per_worker_core": round(delivered / max(1e-9, workers), 1),
    }


def start_server(port: int, env: dict[str, str], workers: int = 1) -> subprocess.Popen[bytes]:
    """``python -m server.serve`` in its own process, as ``make run`` starts it (its
    allocator included), with ``workers`` processes (``env`` names the Redis)."""
    proc = subprocess.Popen([sys.executable, "-m", "server.serve"], cwd=ROOT,
                            env={**os.environ, **env, "HOST": "127.0.0.1",
                                 "PORT": str(port), "BPL_WORKERS": str(workers),
                                 "BPL_LOG_LEVEL": "WARNING"})
    wait_healthy(f"http://127.0.0.1:{port}", proc, timeout=20)
    if workers > 1:  # every worker up, not only the first to answer
        deadline = time.monotonic() + 20
        while len(psutil.Process(proc.pid).children()) < workers:
            if time.monotonic() > deadline:
                raise RuntimeError(f"fewer than {workers} workers started")
            time.sleep(0.05)
        time.sleep(1.0)
    return proc


def _listening_process(port: int) -> psutil.Process:
    """The local process listening on ``port`` (for ``--port``)."""
    for conn in psutil.net_connections("tcp"):
        if conn.laddr and conn.laddr.port == port and conn.status == "LISTEN" and conn.pid:
            return psutil.Process(conn.pid)
    raise RuntimeError(f"no process of ours listens on port {port}")


def breakdown(speed: float, repeat: int = 400) -> dict[str, object]:
    """CPU per session per second of play at ``speed``, by part, measured in process.

    CPU time (not wall time) of each part the server does for a playing session,
    times how often it does it, so it holds up on a busy machine: a recorded
    iteration (four phases), building and encoding its four frames (compact
    above PHASE_BY_PHASE_MAX, as fast play sends them; the full frames' cost is
    reported beside), a metrics point, a decision map.
    """
    from server.live.outbox import Outbox
    from server.live.session import PHASE_BY_PHASE_MAX, Session
    from server.protocol import encode, encode_bytes
    from server.run.compact import compact_iteration
    from server.settings import Settings

    st = Settings()
    s = Session(st)
    s.attach(Outbox(10**6))
    s.outbox.drain()  # type: ignore[union-attr]

    def cost(fn: object, n: int = repeat) -> float:
        for _ in range(20):
            fn()  # type: ignore[operator]
        t0 = time.process_time()
        for _ in range(n):
            fn()  # type: ignore[operator]
        return (time.process_time() - t0) / n

    hist = s.history
    recs: list[Any] = []
    compact = speed > PHASE_BY_PHASE_MAX

    def iteration() -> None:  # as fast play steps (one call), or slow play (by phase)
        recs.clear()
        if compact:
            recs.extend(hist.step_iteration()[0])
        else:
            recs.extend(hist.step_phase() for _ in range(4))

    def fast_frames() -> bytes:  # as fast play sends them: one bundle, one encoding
        values = compact_iteration([(r.phase, r.values) for r in recs])
        return encode_bytes([s._frame(r) | {"compact": True, "values": v}
                             for r, v in zip(recs, values, strict=True)])

    it = cost(iteration)
    enc = cost(fast_frames if compact else lambda: [encode(s._frame(r)) for r in recs])
    enc_full = cost(lambda: [encode(s._frame(r)) for r in recs])
    met = cost(lambda: s._queue_metrics({"lr": 0.03}), repeat // 4)
    maps = cost(s.views.maps_message, repeat // 8)
    per_s = {
        "iterations (4 recorded phases; fast play: one step_iteration)": it * speed,
        f"build + encode 4 {'compact' if compact else 'full'} frames per iteration":
            enc * speed,
        "metrics points": met * min(speed, st.metrics_hz),
        "decision maps": maps * min(speed, st.map_hz),
    }
    out: dict[str, object] = {k: round(v * 1000, 2) for k, v in per_s.items()}
    out["total_ms_per_session_s"] = round(sum(per_s.values()) * 1000, 2)
    out["sessions_per_core"] = round(1 / sum(per_s.values()), 1)
    out["full frames instead (build + encode)"] = round(enc_full * speed * 1000, 2)
    out["bytes per iteration (sent / full)"] = (
        len(fast_frames()) if compact else sum(len(encode(s._frame(r))) for r in recs),
        sum(len(encode(s._frame(r))) for r in recs))
    out["unit"] = f"CPU ms per session per second at {speed:g} it/s (sends not included)"
    return out


def in_process(n: int, speed: float, seconds: float, paced: bool = False
               ) -> dict[str, object]:
    """CPU per delivered iteration of ``n`` sessions playing at ``speed`` in this
    process, with no sockets: a :class:`server.live.clock.Clock` whose budget is never
    reached (every session plays its speed, as on a server with time to spare),
    ticked at ``tick_hz`` on simulated time, each tick every outbox drained and
    encoded as the send loop does for a batching client. CPU time (process_time),
    so it holds on a busy machine better than the live run; what it leaves out is
    the sends (about a fifth live) and the event loop.

    ``paced``: each tick waits for its time, as a server's do (the core idle between
    them), instead of following the last at once: the same work, its CPU cost when its
    memory has left the core's caches between ticks (docs/performance.md)."""
    import gc

    from server.live.clock import Clock
    from server.live.outbox import Outbox, Shared
    from server.live.store import SessionStore
    from server.protocol import Play
    from server.routes.ws import json_of
    from server.run.compact import PackedFrames, pack_batch
    from server.settings import Settings

    old = gc.get_threshold()
    gc.set_threshold(10_000)  # as the app does while it runs
    st = Settings()
    store = SessionStore(st)
    outs = []
    for _ in range(n):
        s = store.create(now=0.0)
        ob = Outbox(st.outbox_limit, int(st.outbox_max_mb * 2**20))
        s.attach(ob)
        s.handle(Play(type="play", speed=speed))
        outs.append(ob)
    clock = Clock(store, st.tick_hz, busy=1000.0)
    period = 1 / st.tick_hz
    now = time.perf_counter()

    known: dict[int, set[int]] = {id(ob): set() for ob in outs}  # (layouts sent)

    def drain() -> tuple[int, int]:
        its = nbytes = 0
        for ob in outs:
            parts: list[bytes | PackedFrames] = []
            packed = False
            while (e := ob.pop()) is not None:
                if isinstance(e, PackedFrames):  # (a page that takes packed frames)
                    parts.append(e)
                    packed = True
                    its += 1
                    continue
                b = json_of(e)
                if e.bundle if isinstance(e, Shared) else isinstance(e, list):
                    parts.append(b[1:-1])
                    its += 1
                else:
                    parts.append(b)
            if packed:
                nbytes += len(pack_batch(parts, known[id(ob)]))
            elif parts:
                nbytes += len((b"[" + b",".join(cast(list[bytes], parts)) + b"]").decode())
        return its, nbytes

    try:
        for _ in range(int(st.tick_hz)):  # a second of warm-up
            now += period
            clock.tick(now)
            drain()
        ticks = int(seconds * st.tick_hz)
        its = nbytes = 0
        t0 = time.process_time()
        wall = time.perf_counter()
        for _ in range(ticks):
            now += period
            clock.tick(now)
            a, b = drain()
            its += a
            nbytes += b
            if paced:
                wall += period
                time.sleep(max(0.0, wall - time.perf_counter()))
        cpu = time.process_time() - t0
    finally:
        gc.set_threshold(*old)
    return {"sessions": n, "speed": speed, "cpu_us_per_iteration": round(1e6 * cpu / its, 1),
            "iterations_per_s_per_session": round(its / ticks * st.tick_hz / n, 1),
            "bytes_per_iteration": round(nbytes / its), "paced": paced,
            "load_average_1m": round(os.getloadavg()[0], 2)}


def main() -> None:
    """Parse arguments, run the benchmark, print one JSON line of results."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--speed", type=float, default=30.0, help="iterations per second")
    ap.add_argument("--seconds", type=float, default=15.0, help="measuring window")
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--port", type=int, default=0, help="attach to a server already running")
    ap.add_argument("--batch", action=argparse.BooleanOptionalAction, default=True,
                    help="clients ask for batched messages (hello batch=true), as the "
                    "page does; --no-batch for one WebSocket message per server message")
    ap.add_argument("--packed", action=argparse.BooleanOptionalAction, default=True,
                    help="batching clients take fast play's frames packed in binary "
                    "messages (hello packed=true), as the page does; --no-packed for "
                    "JSON only")
    ap.add_argument("--follow", action="store_true",
                    help="a class: the first client plays and shares its run, the others "
                    "follow it")
    ap.add_argument("--workers", type=int, default=1,
                    help="serve with BPL_WORKERS=N worker processes and a redis-server of "
                    "its own")
    ap.add_argument("--redis", action="store_true",
                    help="give the server a redis-server of its own (implied by --workers "
                    "above 1)")
    ap.add_argument("--breakdown", action="store_true",
                    help="only measure the CPU per session by part, in process")
    ap.add_argument("--in-process", action="store_true",
                    help="only measure the CPU per delivered iteration of --clients "
                    "sessions on the clock in this process, no sockets (for A/B runs "
                    "on a busy machine)")
    ap.add_argument("--paced", action="store_true",
                    help="with --in-process: each tick at its time, the core idle between "
                    "ticks as on a server (else back to back)")
    args = ap.parse_args()
    if args.paced and not args.in_process:
        ap.error("--paced is for --in-process (a live server's ticks are paced anyway)")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.breakdown:
        sys.stdout.write(json.dumps(breakdown(args.speed)) + "\n")
        return
    if args.in_process:
        logging.getLogger().setLevel(logging.WARNING)
        sys.stdout.write(json.dumps(in_process(args.clients, args.speed, args.seconds,
                                                    args.paced)) + "\n")
        return

    proc = None
    redis = None
    port = args.port
    env = {"BPL_MAX_SESSIONS": str(max(500, args.clients + 10))}
    if not port:
        port = free_port()
        if args.workers > 1 or args.redis:
            redis = Redis()
            redis.start()
            env["BPL_REDIS_URL"] = redis.url
        proc = start_server(port, env, args.workers)
        server = psutil.Process(proc.pid)
    else:
        server = _listening_process(port)
    try:
        runner: Callable[..., dict[str, object]] = asyncio.run
        with contextlib.suppress(ImportError):
            import uvloop
            runner = uvloop.run
        redis_proc = (psutil.Process(redis.proc.pid)
                      if redis is not None and redis.proc is not None else None)
        result = runner(drive(port, args.clients, args.speed, args.warmup, args.seconds, server,
                              args.batch, args.follow, redis_proc,
                              args.batch and args.packed))
        result["workers"] = args.workers
        # the reference step, measured in this process right after the run (the same
        # machine and moment; the server no longer competes for the core)
        result = with_targets(result, args.speed, engine_step_ms())
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
        if redis is not None:
            redis.stop()
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
