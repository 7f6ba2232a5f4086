"""The wire's JSON as a browser reads it, and packed frames as the page decodes them."""

from __future__ import annotations

import json
import math
import struct
from typing import Any

import numpy as np

from engine import stacked
from engine.stepper import Stepper
from server.protocol import RunSettings
from server.run.compact import PackedFrames, pack_fast
from server.run.runconfig import run_config

Msg = dict[str, Any]


def grouped_iterations(n: int, **cfg: Any) -> list[PackedFrames]:
    """The packed frames of ``n`` real iterations of a run (settings ``cfg``, seed 1)
    stepped together with another of its shape (seed 2), as the server sends them."""
    steppers = [Stepper(run_config(RunSettings(**cfg, seed=s))) for s in (1, 2)]
    out = []
    for _ in range(n):
        assert stacked.ahead(steppers) == 2
        f = steppers[0].step_fast()
        steppers[1].step_fast()
        assert f is not None
        packed = pack_fast(f)
        assert packed is not None
        out.append(packed)
    return out


def strict_loads(text: str) -> Any:
    """json.loads that refuses bare NaN/Infinity, as a browser's JSON.parse does."""
    def refuse(name: str) -> None:
        raise ValueError(f"bare {name} in server JSON")
    return json.loads(text, parse_constant=refuse)


def decode_packed(data: bytes, layouts: dict[int, Any] | None = None) -> list[Msg]:
    """A binary message of a batch with packed frames, as the page decodes it
    (static/js/socket.js, docs/protocol.md "packed"): each ``packed`` message
    becomes the four frames it stands for, their numbers read from the float64 after
    the JSON. ``layouts``: the connection's layouts by ``lid`` (each comes once)."""
    layouts = {} if layouts is None else layouts
    (j,) = struct.unpack_from("<I", data)
    assert (4 + j) % 8 == 0, "the numbers start on a multiple of 8 bytes"
    numbers = np.frombuffer(data, dtype="<f8", offset=4 + j).tolist()
    out: list[Msg] = []
    for msg in strict_loads(data[4:4 + j].decode()):
        if msg["type"] != "packed":
            out.append(msg)
            continue
        if "layout" in msg:
            layouts[msg["lid"]] = msg["layout"]
        at = msg["at"]
        for phase, ids in layouts[msg["lid"]]:
            values: dict[str, Any] = {}
            for name, shape in ids:
                size = math.prod(shape)
                flat = numbers[at:at + size]
                at += size
                values[name] = flat[0] if not shape else (
                    flat if len(shape) == 1 else np.reshape(flat, shape).tolist())
            out.append({"type": "frame", "phase": phase, "iteration": msg["iteration"],
                        "compact": True, "values": values})
    return out


def decode_frame(payload: str | bytes, layouts: dict[int, Any] | None = None) -> Any:
    """A WebSocket message's messages: JSON text, or a binary message of packed frames
    (the page's two kinds; a packed message's JSON starts at byte 4 with ``[``);
    ``layouts``: the connection's packed layouts (see :func:`decode_packed`)."""
    if isinstance(payload, bytes | bytearray):
        if payload[4:5] == b"[":
            return decode_packed(bytes(payload), layouts)
        payload = payload.decode()
    return strict_loads(payload)
