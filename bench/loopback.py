"""Loopback plumbing shared by the benchmarks and the tests that drive a real server.

Not a benchmark itself: a free port to serve on, and the one thing a raw-socket
WebSocket client must do by hand (mask its frames, RFC 6455 §5.3).
"""

from __future__ import annotations

import os
import socket
import struct


def free_port() -> int:
    """An unused TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


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
