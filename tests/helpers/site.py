"""Real processes for the multi-worker tests: a ``redis-server`` (Debian's package,
installed by ``make test``) on a free loopback port, a site (``python -m server.serve``
with ``BPL_WORKERS``) on its own port, and a WebSocket client that reads batches.

Shared by tests/server/test_workers.py (one site, two workers) and
tests/server/test_nginx.py (two sites behind nginx)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from websockets.exceptions import WebSocketException
from websockets.sync.client import ClientConnection, connect

from tests.helpers.net import free_port, poll

ROOT = Path(__file__).resolve().parents[2]
Msg = dict[str, Any]


class Redis:
    """A real redis-server on a free loopback port, in memory only."""

    def __init__(self) -> None:
        exe = shutil.which("redis-server")
        assert exe, "redis-server is missing: `make test` installs Debian's redis-server"
        self.exe = exe
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        poll(self._pings, 10, "redis-server to answer")

    def _pings(self) -> bool:
        import socket

        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Site:
    """``python -m server.serve`` with ``workers`` workers on one port, sharing ``redis``
    (``env``: more settings, as ``BPL_…`` variables)."""

    def __init__(self, redis: Redis, workers: int = 2, env: dict[str, str] | None = None
                 ) -> None:
        self.port = free_port()
        self.n = workers
        env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(self.port),
               "BPL_WORKERS": str(workers), "BPL_REDIS_URL": redis.url,
               "BPL_LOG_LEVEL": "WARNING", "BPL_HELLO_TIMEOUT_S": "60", **(env or {})}
        self.proc = subprocess.Popen([sys.executable, "-m", "server.serve"], cwd=ROOT, env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        poll(lambda: len(self.workers()) == workers, 30, "every worker to answer", every=0.05)

    def get(self, path: str) -> tuple[str, str]:
        """``(worker, body)`` of one fresh HTTP request."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=3) as r:
            return r.headers["x-bpl-worker"], r.read().decode()

    def workers(self, tries: int = 24) -> set[str]:
        """The worker names seen answering ``tries`` requests."""
        seen = set()
        for _ in range(tries):
            with contextlib.suppress(OSError):
                seen.add(self.get("/healthz")[0])
        return seen

    def on(self, index: int, path: str) -> str:
        """The body of ``path`` as worker ``index`` answers it."""
        def ask() -> str | None:
            worker, body = self.get(path)
            return body if worker.startswith(f"{index}-") else None
        return poll(ask, 10, f"worker {index} to answer {path}", every=0)

    def socket(self, where: Callable[[str], bool]) -> Client:
        """A WebSocket on a worker whose name passes ``where`` (a handshake cut short, by
        a worker killed or starting again, is tried again: a page reconnects)."""
        for _ in range(200):
            try:
                ws = connect(f"ws://127.0.0.1:{self.port}/ws", open_timeout=3).__enter__()
            except (OSError, WebSocketException):  # (refused, reset, closed mid-handshake)
                time.sleep(0.05)
                continue
            assert ws.response is not None
            name = ws.response.headers["x-bpl-worker"]
            if where(name):
                return Client(ws, name)
            ws.close()
        raise AssertionError("no socket landed where it was wanted")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Client:
    """A WebSocket client that reads batches and never waits forever."""

    def __init__(self, ws: ClientConnection, worker: str) -> None:
        self.ws = ws
        self.worker = worker
        self.pending: list[Msg] = []
        self.session: str | None = None  # of its own run

    @property
    def index(self) -> int:
        return int(self.worker.split("-")[0])

    @property
    def pid(self) -> int:
        return int(self.worker.split("-")[1])

    def send(self, msg: Msg) -> None:
        self.ws.send(json.dumps(msg))

    def recv(self, timeout: float) -> Msg:
        if not self.pending:
            got = json.loads(self.ws.recv(timeout=timeout))
            self.pending = got if isinstance(got, list) else [got]
        return self.pending.pop(0)

    def recv_type(self, kind: str, timeout: float = 10.0,
                  where: Callable[[Msg], bool] | None = None) -> Msg:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {kind!r} within {timeout} s on worker {self.worker}")
            m = self.recv(left)
            if m["type"] == kind and (where is None or where(m)):
                return m

    def frames_of(self, iteration: int, timeout: float = 10.0) -> dict[str, Msg]:
        """The four phase frames of ``iteration`` (0-based, as frames count)."""
        got: dict[str, Msg] = {}
        while len(got) < 4:
            f = self.recv_type("frame", timeout, where=lambda m: m["iteration"] == iteration)
            got[f["phase"]] = f
        return got

    def close(self) -> None:
        self.ws.close()


