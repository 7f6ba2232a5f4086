"""The operator's endpoints: /readyz really opens and steps a session on the engine
thread (and says 503 why when it cannot), /metrics counts what the server did."""

from __future__ import annotations

import os
import re
import threading
import time

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.server.conftest import WS, make_app


def scrape(client: TestClient) -> dict[str, float]:
    """``/metrics`` as {sample name: value}, checking every sample's worker label."""
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    out: dict[str, float] = {}
    worker = r.headers["x-bpl-worker"]  # (<index>-<pid>-<token>: the process's own name)
    assert re.fullmatch(rf"0-{os.getpid()}-[0-9a-f]{{6}}", worker), worker
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            if sample.name.startswith(("bpl_", "process_")):
                assert sample.labels["worker"] == worker, sample
                assert set(sample.labels) <= {"worker", "limit"}, sample
            out[sample.name] = sample.value
    return out


def test_readyz_opens_and_steps_a_session_and_keeps_none() -> None:
    app = make_app()
    with TestClient(app) as client:
        r = client.get("/readyz")
        assert r.status_code == 200 and r.json()["ready"] is True
        assert len(app.state.sessions) == 0  # nothing kept, no cap spent
        assert scrape(client)["bpl_iterations_total"] >= 1  # it really stepped


def test_readyz_says_503_when_the_engine_thread_is_stuck_or_the_server_full() -> None:
    app = make_app(readyz_timeout_s=0.3, max_sessions=1)
    gate = threading.Event()
    with TestClient(app) as client:
        app.state.worker.submit("stuck", gate.wait)  # a piece that does not end
        try:
            r = client.get("/readyz")
            assert r.status_code == 503 and "too slow" in r.json()["reason"]
            assert client.get("/healthz").status_code == 200  # alive, but not ready
        finally:
            gate.set()
        assert client.get("/readyz").status_code == 200
        with client.websocket_connect("/ws") as raw:
            WS(raw).hello()
            r = client.get("/readyz")
            assert r.status_code == 503 and r.json()["reason"] == "full"
            assert r.json()["worker"] == r.headers["x-bpl-worker"]
            assert "bpl_refused_total" not in scrape(client)
            # the next learner is turned away, and the operator can see it
            with client.websocket_connect("/ws") as other:
                other.send_json({"type": "hello"})
                got = other.receive_json()
                got = got[0] if isinstance(got, list) else got
                assert got["type"] == "error" and got["limit"] == "max_sessions"
            assert scrape(client)["bpl_refused_total"] == 1


def test_metrics_count_sessions_iterations_frames_and_bytes_and_never_go_down() -> None:
    app = make_app()
    with TestClient(app) as client:
        before = scrape(client)
        with client.websocket_connect("/ws") as raw:
            w = WS(raw)
            w.hello()
            for i in range(3):  # the hello's own state comes first: wait for each update
                w.send({"type": "step", "unit": "iteration"})
                w.recv_type("frame", where=lambda m, i=i: (m["phase"], m["iteration"])
                            == ("update", i))
            live = scrape(client)
            assert live["bpl_sessions"] == 1 and live["bpl_connections"] == 1
        # the server notices the close a moment after the client has sent it (and
        # counts the connection closed a moment before it detaches the session)
        deadline = time.monotonic() + 5.0
        after = scrape(client)
        while (after["bpl_connections"], after["bpl_sessions_detached"]) != (0, 1) \
                and time.monotonic() < deadline:
            time.sleep(0.02)
            after = scrape(client)
    assert live["bpl_iterations_total"] - before["bpl_iterations_total"] >= 3
    assert live["bpl_frames_sent_total"] - before["bpl_frames_sent_total"] >= 12  # 4 a step
    assert live["bpl_bytes_sent_total"] > before["bpl_bytes_sent_total"] + 1000
    assert live["bpl_engine_seconds_total"] > 0
    assert "process_cpu_seconds_total" in live and "process_resident_memory_bytes" in live
    # the connection closed: its counts are kept, and it is no longer open
    assert after["bpl_connections"] == 0 and after["bpl_sessions_detached"] == 1
    for name in ("bpl_frames_sent_total", "bpl_messages_sent_total", "bpl_bytes_sent_total"):
        assert after[name] >= live[name]


def test_metrics_count_the_iterations_a_class_plays_together() -> None:
    app = make_app()
    # (at 60 it/s on the 60 Hz clock each run plays on every tick: always together;
    # at 30, two runs may take turns on alternate ticks and never meet)
    with TestClient(app) as client, client.websocket_connect("/ws") as r1, \
            client.websocket_connect("/ws") as r2:
        for raw in (r1, r2):
            w = WS(raw)
            w.hello()
            w.send({"type": "play", "speed": 60})
        deadline = time.monotonic() + 10.0
        while scrape(client)["bpl_iterations_together_total"] < 10:
            assert time.monotonic() < deadline, "two default runs never stepped together"
            time.sleep(0.1)
        got = scrape(client)
        assert got["bpl_iterations_total"] >= got["bpl_iterations_together_total"]
