"""Whatever a client sends, it gets an ``error`` naming the problem and the session
keeps working: size, syntax, nesting, non-finite numbers, unknown types and fields,
limits, command rate and server capacity."""

from __future__ import annotations

import json
import time

import pytest
from fastapi.testclient import TestClient

from tests.server.conftest import WS, make_app

NESTED = "[" * 20_000 + "]" * 20_000  # deep, yet under max_message_bytes


@pytest.mark.parametrize(("text", "code", "field"), [
    ("{not json", "malformed", None),
    ("", "malformed", None),
    ("[1, 2]", "invalid", None),
    ('"play"', "invalid", None),
    ("null", "invalid", None),
    ('{"speed": 3}', "invalid", "type"),
    ('{"type": "launch_missiles"}', "unknown_type", "type"),
    ('{"type": "pause", "extra": 1}', "unknown_field", "extra"),
    ('{"type": "configure", "config": {"hiden": [3]}}', "unknown_field", "config.hiden"),
    ('{"type": "play", "speed": NaN}', "invalid", "speed"),
    ('{"type": "play", "speed": Infinity}', "invalid", "speed"),
    ('{"type": "play", "speed": -Infinity}', "invalid", "speed"),
    ('{"type": "play", "speed": 1e999}', "invalid", "speed"),
    ('{"type": "play", "speed": "fast"}', "invalid", "speed"),
    ('{"type": "configure", "config": {"lr": NaN}}', "invalid", "config.lr"),
    ('{"type": "step", "unit": "epoch"}', "invalid", "unit"),
    ('{"type": "configure", "config": {"hidden": [-3]}}', "invalid", "config.hidden.0"),
    ('{"type": "configure", "config": {"dataset": "mnist"}}', "invalid", "config.dataset"),
    (NESTED, "malformed", None),
    ('{"type": "pause", "x": ' + NESTED + "}", "malformed", None),
])
def test_bad_messages_get_a_named_error_and_the_session_keeps_working(
    ws: WS, text: str, code: str, field: str | None
) -> None:
    ws.send(text)
    err = ws.error()
    assert err["code"] == code, err
    assert err.get("field") == field, err
    assert err["message"]
    ws.works()


def test_over_size_message_is_refused_by_size_before_parsing(ws: WS) -> None:
    big = json.dumps({"type": "pause", "pad": "x" * 70_000})
    ws.send(big)
    err = ws.error()
    assert err["code"] == "too_large" and err["limit"] == "max_message_bytes"
    assert str(len(big)) in err["message"]
    ws.works()


def test_binary_frames_are_refused(ws: WS) -> None:
    ws.ws.send_bytes(b'{"type": "pause"}')
    assert ws.error()["code"] == "malformed"
    ws.works()


@pytest.mark.parametrize(("config", "limit"), [
    ({"hidden": [4] * 10}, "max_layers"),
    ({"hidden": [129]}, "max_units"),
    ({"n_samples": 2001}, "max_samples"),
    ({"dataset": "custom", "points": [[0.1, 0.2, 1]] * 2001}, "max_samples"),
    ({"batch_size": 513}, "max_batch"),
])
def test_asking_past_a_limit_gets_an_error_naming_it(ws: WS, config: dict, limit: str) -> None:
    ws.send({"type": "configure", "config": config})
    err = ws.error()
    assert err["code"] == "limit" and err["limit"] == limit
    assert limit in err["message"]
    ws.works()


def test_limits_at_their_maximum_are_accepted(ws: WS) -> None:
    # (a batch of 512 with a 128-unit layer sends a 4.7 MB backward frame: max_frame_mb)
    ws.send({"type": "configure", "config": {"hidden": [128] + [2] * 8, "batch_size": 400,
                                             "n_samples": 2000}})
    run = ws.recv_type("run")
    assert run["net"]["sizes"][1] == 128 and len(run["net"]["sizes"]) == 11
    ws.send({"type": "configure", "config": {"hidden": [8], "batch_size": 512,
                                             "n_samples": 2000}})
    assert ws.recv_type("run")["config"]["batch_size"] == 512


def test_speed_past_max_speed_is_an_error_and_play_state_is_unchanged(ws: WS) -> None:
    ws.send({"type": "play", "speed": 5000})
    err = ws.error()
    assert err["limit"] == "max_speed"
    ws.send({"type": "pause"})
    assert ws.recv_type("state")["playing"] is False


def test_limits_follow_the_settings() -> None:
    with TestClient(make_app(max_units=8, max_layers=3)) as client, \
            client.websocket_connect("/ws") as raw:
        w = WS(raw)
        w.hello()
        w.send({"type": "configure", "config": {"hidden": [9]}})
        assert w.error()["limit"] == "max_units"
        w.send({"type": "configure", "config": {"hidden": [2, 2, 2]}})
        assert w.error()["limit"] == "max_layers"
        w.send({"type": "configure", "config": {"hidden": [8, 8]}})
        assert w.recv_type("run")["net"]["sizes"] == [2, 8, 8, 1]


def test_a_command_flood_is_rate_limited_and_the_session_recovers() -> None:
    with TestClient(make_app(max_commands_per_second=5, command_burst=5)) as client, \
            client.websocket_connect("/ws") as raw:
        w = WS(raw)
        w.hello()
        for _ in range(30):
            w.send({"type": "pause"})
        err = w.recv_type("error")
        assert err["code"] == "rate_limited" and err["limit"] == "max_commands_per_second"
        # real time is what is tested: the bucket refills at 5 commands a second
        time.sleep(0.5)
        w.works()


def test_a_full_server_says_so_and_closes_with_try_again_later() -> None:
    with TestClient(make_app(max_sessions=1)) as client, \
            client.websocket_connect("/ws") as first:
        WS(first).hello()
        with client.websocket_connect("/ws") as raw:
            w = WS(raw)
            w.send({"type": "hello"})
            err = w.error()
            assert err["code"] == "limit" and err["limit"] == "max_sessions"
            with pytest.raises(ConnectionError, match="1013"):
                w.recv()
        WS(first).works()


def test_too_many_input_features_get_an_error_naming_max_inputs() -> None:
    with TestClient(make_app(max_inputs=2)) as c, c.websocket_connect("/ws") as raw:
        w = WS(raw)
        w.hello()
        w.recv_type("state")
        w.send({"type": "configure", "config": {"features": ["x1", "x2", "x1^2"]}})
        err = w.error()
        assert err["code"] == "limit" and err["limit"] == "max_inputs"
        w.send({"type": "configure", "config": {"features": ["x1", "x2"]}})
        assert w.recv_type("run")["net"]["sizes"][0] == 2
