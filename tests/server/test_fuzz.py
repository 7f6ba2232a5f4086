"""Property: no sequence of client messages crashes a session or its connection.

Hypothesis sends near-valid messages (every message type and field name the
protocol knows, taken from its JSON schema, with hostile values: NaN, huge
numbers, wrong types, deep nesting), arbitrary JSON and arbitrary text. After
each one, every reply must be strict JSON with a ``type``, the connection must
stay open, no reply may be an ``internal`` error (an unexpected exception:
bad input must be named instead), and at the end the session must still step.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.protocol import client_adapter
from tests.server.conftest import WS, make_app

SCHEMA = client_adapter.json_schema()
TYPES = sorted(SCHEMA["discriminator"]["mapping"])
FIELDS = sorted({name for d in SCHEMA["$defs"].values() for name in d.get("properties", {})})

scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, 2, 4, 128, 129, 10**9, -1, 0.5, "NaN", "Infinity", "", "L1.W"]),
    st.text(max_size=12),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=6)), inner,
                        max_size=5),
    ),
    max_leaves=20,
)
near_valid = st.builds(
    lambda t, fields: {"type": t, **fields},
    st.sampled_from(TYPES),
    st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=4),
)


def to_text(msg: Any) -> str:
    # Python's json writes NaN/Infinity bare, as a hostile client might
    return json.dumps(msg)


messages = st.one_of(
    near_valid.map(to_text),
    near_valid.map(to_text),
    json_values.map(to_text),
    st.text(max_size=40),
    st.integers(1, 400).map(lambda n: "[" * n + "]" * n),
    st.integers(1, 400).map(lambda n: '{"type":"pause","a":' + "[" * n + "]" * n + "}"),
)


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck),
          derandomize=True)
@given(batch=st.lists(messages, min_size=1, max_size=4))
def test_fuzzed_messages_never_crash_the_session(batch: list[str]) -> None:
    ws = SESSION["ws"]
    for i, text in enumerate(batch):
        ws.send(text)
        # a marker the server must answer after handling the message above
        marker = f"sync-{SESSION['n']}-{i}"
        ws.send({"type": marker})
        ws.recv_type("error", timeout=10, where=lambda m, k=marker: k in m["message"])
    SESSION["n"] += 1
    for m in ws.seen:
        assert isinstance(m.get("type"), str)
        # "internal" means a command raised unexpectedly: bad input must be named instead
        assert m.get("code") != "internal", (batch, m)
    ws.seen.clear()


SESSION: dict[str, Any] = {}


def test_fuzz() -> None:
    """Run the property on one connection (as one long-lived, hostile client)."""
    app = make_app(max_commands_per_second=1e6, command_burst=10**6, max_units=16,
                   max_samples=300, max_batch=64, max_layers=4, max_speed=60)
    with TestClient(app) as client, client.websocket_connect("/ws") as raw:
        ws = WS(raw)
        ws.hello()
        SESSION.update(ws=ws, n=0)
        try:
            test_fuzzed_messages_never_crash_the_session()
        finally:
            SESSION.clear()
        ws.send({"type": "configure", "config": {"hidden": [3]}})
        ws.recv_type("run")
        ws.works()


test_fuzzed_messages_never_crash_the_session.__test__ = False  # type: ignore[attr-defined]
