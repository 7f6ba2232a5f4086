"""Loopback plumbing for whatever drives a real server: the tests and the benchmarks.

A free port to serve on, the command ``make run`` amounts to, a wait for that
server to answer (polling with a deadline, never a fixed sleep), and the one
thing a raw-socket WebSocket client must do by hand (mask its frames,
RFC 6455 §5.3).
"""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def free_port() -> int:
    """An unused TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def free_ports(n: int) -> int:
    """The first of ``n`` consecutive unused TCP ports on loopback."""
    for _ in range(100):
        first = free_port()
        socks = []
        try:
            for k in range(n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", first + k))
            return first
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError(f"no {n} consecutive free ports")


def mask_frame(text: str) -> bytes:
    """One masked client text frame (RFC 6455 §5.2)."""
    payload = text.encode()
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x81, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x81, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x81, 0x80 | 127, n)
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def poll(check: Callable[[], T], timeout: float, what: str, every: float = 0.02) -> T:
    """``check()``'s first truthy result, asked every ``every`` seconds; TimeoutError
    naming ``what`` after ``timeout`` seconds. An exception from ``check`` propagates."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)  # between two looks, not a guess at how long it takes


def uvicorn_command(port: int, *extra: str) -> list[str]:
    """uvicorn serving the app on loopback ``port`` as ``make run`` does (per-message
    deflate off), plus ``extra`` options."""
    return [sys.executable, "-m", "uvicorn", "server.app:create_app", "--factory",
            "--host", "127.0.0.1", "--port", str(port), "--ws-per-message-deflate", "false",
            "--log-level", "warning", *extra]


def wait_healthy(url: str, proc: subprocess.Popen[bytes] | subprocess.Popen[str],
                 timeout: float = 30.0) -> None:
    """Wait until the server at ``url`` answers ``/healthz``. RuntimeError if ``proc``
    (the server's process) exits first or nothing answers within ``timeout`` seconds;
    ``proc`` is then killed."""

    def answers() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    try:
        poll(answers, timeout, f"{url}/healthz", every=0.05)
    except (RuntimeError, TimeoutError) as e:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"the server did not come up: {e}") from e
