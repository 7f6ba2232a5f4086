"""docs/protocol.md stays true: every example parses and matches what the code does,
and everything the code has (message types, error codes, settings) is documented.

Client examples go through the real Pydantic union. Server examples are compared
with messages captured from a live session driven through every command: same
keys (none missing that every real message has, none the server never sends) and
the same kinds of values, recursively.
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from server.protocol import client_adapter
from server.run.compact import pack_batch
from server.settings import Settings
from tests.helpers.net import poll
from tests.helpers.packed import grouped_iterations
from tests.server.conftest import WS, make_app

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "protocol.md").read_text()
NONFINITE = {"NaN", "Infinity", "-Infinity"}


def sections() -> dict[str, str]:
    """Level-2 sections of the doc by title."""
    parts = re.split(r"^## (.+)$", DOC, flags=re.M)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts), 2)}


def examples(section: str) -> list[tuple[str, str]]:
    """``(### heading's message type, json text)`` for each json block of a section."""
    out = []
    heading = ""
    for block in re.split(r"^### ", sections()[section], flags=re.M):
        m = re.match(r"`([a-z_]+)`", block)
        if m:
            heading = m.group(1)
        for text in re.findall(r"```json\n(.*?)```", block, flags=re.S):
            out.append((heading, text))
    return out


def documented_types(section: str) -> set[str]:
    return set(re.findall(r"^### `([a-z_]+)`", sections()[section], flags=re.M))


# ---- a live session that sends every kind of server message --------------------------

SCRIPT: list[dict[str, Any]] = [
    {"type": "hello", "lang": "en"},
    {"type": "configure", "config": {"dataset": "xor", "hidden": [2], "batch_size": 2,
                                     "n_samples": 8, "seed": 3}},
    {"type": "step", "unit": "phase"},
    {"type": "step", "unit": "iteration"},
    {"type": "inspect", "id": "L1.W", "index": [0, 1]},
    {"type": "focus", "split": "train", "index": 0},
    {"type": "landscape", "size": 7},
    {"type": "edit", "id": "L1.W", "index": [0, 0], "value": 0.5},
    {"type": "step", "unit": "iteration"},
    {"type": "set", "lr": 0.1},
    {"type": "seek", "iteration": 1},
    {"type": "step", "unit": "phase", "direction": "back"},
    {"type": "checkout", "branch": 0},
    {"type": "series", "branch": 0},
    {"type": "inspect", "id": None},
    {"type": "focus", "index": None},
    {"type": "landscape", "open": False},
    {"type": "play", "speed": 30},
    {"type": "pause"},
    {"type": "play", "speed": 1000},  # iterations unseen: trace points between the metrics
    {"type": "pause"},
    {"type": "reset"},
    {"type": "series", "run": 1},  # the run the reset replaced
    # a lesson: open a step (a new run), do its action, check a prediction, leave
    {"type": "lesson", "id": "one-neuron", "step": 1},
    {"type": "lesson", "id": "one-neuron", "step": 1, "action": "check", "prediction": 0.6},
    {"type": "step", "unit": "phase"},
    {"type": "lesson", "id": "one-neuron", "step": 1, "action": "check", "prediction": 0.62},
    {"type": "lesson", "action": "leave"},
    # real data: four inputs, the map over two of them, a confusion matrix
    {"type": "configure", "config": {"dataset": "iris", "hidden": [3], "seed": 2}},
    {"type": "map_axes", "axes": [2, 3]},
    # a digit drawn on the digits' run: the network's prediction
    {"type": "configure", "config": {"dataset": "digits", "hidden": [3], "seed": 2}},
    {"type": "draw", "pixels": [0, 0, 5, 13, 9, 1, 0, 0] * 8},
    # ... learned as a 3: one iteration on it (its phases play), then a drawing too short
    {"type": "learn", "pixels": [0, 0, 5, 13, 9, 1, 0, 0] * 8, "label": 3},
    {"type": "learn", "pixels": [0, 0, 5, 13, 9, 1, 0, 0], "label": 3},
    # own data: a bad CSV (an error naming row and column), then a good one (a new run)
    {"type": "csv", "text": "a,b,k\n1,x,0\n2,3,1\n"},
    {"type": "csv", "name": "t.csv", "text": "a,b,k\n1,2,0\n2,3,1\n3,1,0\n4,4,1\n"},
    {"type": "configure", "config": {"hidden": [129]}},
    {"type": "configure", "config": {"lr": -1}},
    {"type": "load", "run": {"format": "backprop-lab-run", "version": 1,
                             "settings": {"dataset": "xor", "hidden": [2], "seed": 7},
                             "length": 3}},
    # a run that diverges: a halted state and a nonfinite error
    {"type": "configure", "config": {"dataset": "xor", "hidden": [2], "batch_size": 2,
                                     "n_samples": 8, "lr": 100, "loss": "mse",
                                     "init_scale": 50, "activation": "relu"}},
    *[{"type": "step", "unit": "iteration"}] * 12,
]


def views_sent(ws: WS, client: TestClient) -> None:
    """Wait until the views the last command changed (maps, inspector, focus), which
    go out paced, have been sent and received."""
    session = next(s for s in client.app.state.sessions  # type: ignore[attr-defined]
                   if s.outbox is not None)
    poll(lambda: not session.views.dirty, 5, "the paced views")
    ws.handled()


@pytest.fixture(scope="module")
def captured() -> dict[str, list[dict[str, Any]]]:
    # views paced at up to 1000 a second: this is about their shape, not their rate
    app = make_app(max_grid=8, command_burst=1000, max_commands_per_second=1000, map_hz=1000)
    with TestClient(app) as client, client.websocket_connect("/ws") as raw:
        ws = WS(raw)
        for msg in SCRIPT:
            ws.send(msg)
            ws.handled()
            if msg["type"] == "play":  # frames while playing, before the pause
                ws.recv_type("frame")
                continue
            views_sent(ws, client)
        # a class: share the run, follow it from a second connection, copy it, stop
        ws.send({"type": "share"})
        code = ws.recv_type("share")["code"]
        with client.websocket_connect("/ws") as raw2:
            ws2 = WS(raw2)
            ws2.send({"type": "hello", "follow": code.lower()})
            ws2.recv_type("follow")
            ws2.recv_type("run")
            # the class answers the teacher's lesson steps: a choice, then a number
            for step, answer in ((3, "neg"), (4, -0.05)):
                ws.send({"type": "lesson", "id": "one-neuron", "step": step})
                ws2.recv_type("lesson_step", where=lambda m, n=step: m["step"] == n)
                ws2.send({"type": "lesson", "id": "one-neuron", "step": step,
                          "action": "check", "prediction": answer})
                ws2.recv_type("lesson_recorded")
                ws.recv_type("lesson_answers", where=lambda m: m["answered"] == 1)
            ws2.send({"type": "step"})
            ws2.recv_type("error", where=lambda m: m["code"] == "read_only")
            ws2.send({"type": "fork"})
            ws2.recv_type("follow", where=lambda m: not m["active"])
            ws2.recv_type("run", where=lambda m: m["session"] is not None)
        ws.recv_type("share", where=lambda m: m["followers"] == 0)
        ws.send({"type": "share", "on": False})
        ws.recv_type("share", where=lambda m: m["code"] is None)
    out: dict[str, list[dict[str, Any]]] = {"packed": packed_messages()}
    for m in ws.seen + ws2.seen:
        if m["type"] == "error" and "sync-marker" in m["message"]:
            continue  # WS.handled()'s, all alike
        out.setdefault(m["type"], []).append(m)
    return out


def packed_messages() -> list[dict[str, Any]]:
    """The ``packed`` messages of two real iterations of two runs stepped together, on
    one connection (what a page that asked for packed frames gets in binary messages:
    the layout with the first), as the page reads them."""
    known: set[int] = set()
    out = []
    for packed in grouped_iterations(2):
        data = pack_batch([packed], known)
        (j,) = struct.unpack_from("<I", data)
        out.append(json.loads(data[4:4 + j])[0])
    return out


# ---- structural comparison ------------------------------------------------------------

def kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int | float):
        return "number"
    return {str: "string", list: "array", dict: "object"}[type(v)]


def dynamic(keys: set[str]) -> bool:
    """Keys that are engine ids (``L1.W``, ``loss.data``) rather than field names."""
    return any("." in k for k in keys)


def compatible(ex: Any, samples: list[Any], path: str, top: bool = False) -> list[str]:
    """Problems with example value ``ex`` given the real values ``samples`` at ``path``."""
    if not samples:
        return []
    kinds = {kind(s) for s in samples}
    k = kind(ex)
    if k not in kinds:
        if k == "string" and ex in NONFINITE and "number" in kinds:
            return []  # the documented encoding of a non-finite number
        return [f"{path}: {k} in the doc, the server sends {sorted(kinds)}"]
    problems: list[str] = []
    if k == "object":
        dicts = [s for s in samples if isinstance(s, dict)]
        union = set().union(*(d.keys() for d in dicts))
        if dynamic(union) or dynamic(set(ex)):
            pooled = [v for d in dicts for v in d.values()]
            for key, v in ex.items():
                same = [d[key] for d in dicts if key in d]  # the same id, if it was sent
                problems += compatible(v, same or pooled, f"{path}.{key}")
            return problems
        extra = set(ex) - union
        if extra:
            problems.append(f"{path}: keys {sorted(extra)} are never sent")
        if top:
            required = set.intersection(*(set(d) for d in dicts))
            missing = required - set(ex)
            if missing:
                problems.append(f"{path}: always sent but missing from the doc: {sorted(missing)}")
        for key, v in ex.items():
            problems += compatible(v, [d[key] for d in dicts if key in d], f"{path}.{key}")
    elif k == "array":
        pooled = [x for s in samples if isinstance(s, list) for x in s]
        for i, x in enumerate(ex):
            problems += compatible(x, pooled, f"{path}[{i}]")
    return problems


# ---- client examples -------------------------------------------------------------------

CLIENT = examples("Client → server")


@pytest.mark.parametrize(("heading", "text"), CLIENT, ids=[h for h, _ in CLIENT])
def test_client_examples_are_valid_messages(heading: str, text: str) -> None:
    msg = client_adapter.validate_json(text)
    assert msg.type == heading


def test_every_client_message_type_is_documented() -> None:
    types = set(client_adapter.json_schema()["discriminator"]["mapping"])
    missing = types - documented_types("Client → server")
    assert not missing, f"client messages missing from docs/protocol.md: {sorted(missing)}"
    unknown = documented_types("Client → server") - types
    assert not unknown, f"documented but not in the protocol: {sorted(unknown)}"


# ---- server examples -------------------------------------------------------------------

SERVER = examples("Server → client") + [
    (json.loads(t)["type"], t) for _, t in examples("Non-finite numbers")
]


@pytest.mark.parametrize(("heading", "text"), SERVER, ids=[h for h, _ in SERVER])
def test_server_examples_match_what_the_server_sends(
    heading: str, text: str, captured: dict[str, list[dict[str, Any]]]
) -> None:
    ex = json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c} in an example"))
    assert ex["type"] == heading
    assert heading in captured, f"the live session sent no {heading!r} message"
    problems = compatible(ex, captured[heading], heading, top=True)
    assert not problems, "\n".join(problems)


def server_types_in_code() -> set[str]:
    found = set()
    for path in (ROOT / "server").rglob("*.py"):
        found |= set(re.findall(r'server_message\(\s*"([a-z_]+)"', path.read_text()))
    return found


def test_every_server_message_type_is_documented(
    captured: dict[str, list[dict[str, Any]]]
) -> None:
    types = server_types_in_code() | set(captured)
    assert {"run", "state", "frame", "metrics", "error"} <= types
    missing = types - documented_types("Server → client")
    assert not missing, f"server messages missing from docs/protocol.md: {sorted(missing)}"


def test_every_error_code_in_the_code_is_documented() -> None:
    codes = set()
    for path in (ROOT / "server").rglob("*.py"):
        src = path.read_text()
        codes |= set(re.findall(r'(?:error|reply_error)\(\s*"([a-z_]+)"', src))
        codes |= set(re.findall(r'^\s+return "([a-z_]+)", ', src, flags=re.M))
    assert {"malformed", "invalid", "limit", "too_large", "rate_limited"} <= codes
    table = set(re.findall(r"^\| `([a-z_]+)` \|", sections()["Errors"], flags=re.M))
    missing = codes - table
    assert not missing, f"error codes missing from docs/protocol.md: {sorted(missing)}"


def test_every_close_code_in_the_code_is_documented() -> None:
    codes = set()
    for path in (ROOT / "server").rglob("*.py"):
        src = path.read_text()
        codes |= set(re.findall(r"close\((\d{4})", src))
        codes |= set(re.findall(r"^CLOSE_\w+ = (\d{4})", src, flags=re.M))
    assert {"1001", "1008", "4000"} <= codes
    table = set(re.findall(r"^\| (\d{4}) \|", sections()["Close codes"], flags=re.M))
    missing = codes - table
    assert not missing, f"close codes missing from docs/protocol.md: {sorted(missing)}"


def test_every_setting_is_documented_with_its_env_name_and_default() -> None:
    rows = re.findall(r"^\| `([a-z_]+)` \| `([A-Z_]+)` \| ([^|]+) \|", sections()["Limits"],
                      flags=re.M)
    table = {name: (env, default.strip()) for name, env, default in rows}
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    for name in Settings.model_fields:
        assert name in table, f"setting {name} missing from docs/protocol.md"
        env, doc_default = table[name]
        assert env == f"BPL_{name.upper()}"
        real = getattr(defaults, name)
        if isinstance(real, bool):
            assert doc_default == str(real).lower(), name
        elif isinstance(real, int | float):
            assert float(doc_default) == real, name
        elif isinstance(real, list):
            assert doc_default == (", ".join(real) if real else "(none)"), name
        else:
            assert doc_default == str(real), name


def test_the_non_finite_encoding_shown_is_what_encode_produces() -> None:
    from server.protocol import encode

    out = json.loads(encode({"type": "metrics", "points": [
        {"train_loss": float("inf"), "test_loss": float("nan"), "x": -float("inf")}]}))
    assert out["points"][0] == {"train_loss": "Infinity", "test_loss": "NaN", "x": "-Infinity"}
    assert all(s in sections()["Non-finite numbers"] for s in NONFINITE)
