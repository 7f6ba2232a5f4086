"""No learner can make the server do long work: the cost model refuses what would
take too long, the long work that remains is done in pieces, and a freed session's
background work stops (issue: "No learner can stall the class")."""

from __future__ import annotations

import gc
import time
import weakref
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from engine.stepper import Stepper
from server.live.outbox import Outbox
from server.live.store import SessionStore
from server.protocol import RunSettings, client_adapter
from server.run.cost import estimate
from server.run.history import History, records_equal
from server.run.runconfig import run_config
from server.settings import Settings
from tests.server.conftest import WS, make_app

#: the run file of the report: nine hidden layers of 128 units, batch 512, 2,000
#: samples, 1,000,000 iterations, under 400 bytes; it held a core for about 10 hours
HUGE = {"format": "backprop-lab-run", "version": 1, "length": 1_000_000,
        "settings": {"hidden": [128] * 9, "batch_size": 512, "n_samples": 2000}}


def load(ws: WS, file: dict[str, Any]) -> None:
    ws.send({"type": "load", "run": file})


def test_the_ten_hour_run_file_is_refused_at_once_naming_the_limit(ws: WS) -> None:
    t0 = time.monotonic()
    load(ws, HUGE)
    err = ws.error()
    assert err["limit"] == "max_piece_ms" and "ms" in err["message"]
    assert time.monotonic() - t0 < 2.0
    ws.works()


def test_a_run_file_too_long_to_replay_is_refused_naming_the_limit(ws: WS) -> None:
    file = {"format": "backprop-lab-run", "version": 1, "length": 1_000_000,
            "settings": {"hidden": [32, 32], "batch_size": 64}}
    load(ws, file)
    err = ws.error()
    assert err["limit"] == "max_load_cpu_s"
    ws.works()


@pytest.mark.parametrize("config", [
    {"hidden": [128] * 9, "batch_size": 512, "n_samples": 2000},  # one iteration: seconds
    {"hidden": [128] * 9, "batch_size": 8, "n_samples": 2000},  # a metrics point: too long
])
def test_a_network_too_big_for_one_piece_of_work_is_refused(ws: WS, config: dict[str, Any]
                                                            ) -> None:
    before = ws.hello()
    ws.send({"type": "configure", "config": config})
    assert ws.error()["limit"] == "max_piece_ms"
    ws.send({"type": "step", "unit": "phase"})  # the old run carries on
    assert ws.recv_type("frame")["values"]["L1.z"] is not None
    assert before["config"]["hidden"] == [4, 4]


def test_batch_size_zero_counts_as_the_whole_training_set(ws: WS) -> None:
    """batch_size 0 means the whole training set: 1,000 rows here, past max_batch."""
    ws.hello()
    ws.send({"type": "configure", "config": {"n_samples": 2000, "batch_size": 0}})
    err = ws.error()
    assert err["limit"] == "max_batch" and "1000" in err["message"]
    ws.send({"type": "configure", "config": {"n_samples": 2000, "batch_size": 10}})
    ws.recv_type("run")
    ws.send({"type": "set", "batch_size": 0})
    assert ws.error()["limit"] == "max_batch"


def test_a_freed_sessions_loaded_run_stops_indexing() -> None:
    """A long loaded run is indexed in the background; when its session is freed (the
    learner left), the indexing stops instead of holding a core for hours."""
    app = make_app()
    with TestClient(app) as client, client.websocket_connect("/ws") as raw:
        ws = WS(raw)
        ws.hello()
        load(ws, {"format": "backprop-lab-run", "version": 1, "length": 1_000_000,
                  "settings": {"hidden": [4, 4]}})
        ws.recv_type("run")
        store: SessionStore = app.state.sessions
        worker = app.state.worker
        (s,) = list(store)
        assert worker.pending(("index", s.id)) == 1  # indexing under way
        h = s.history
        s.detach()
        store.remove(s, "test")
        assert worker.pending(("index", s.id)) == 0
        w = h.indexer
        assert w is not None
        ws.handled()  # a round trip through the engine thread: the piece of indexing
        at = w.pos[0]  # under way at the removal is over
        time.sleep(0.2)  # real time in which a running indexer would advance
        ws.handled()
        assert w.pos[0] == at


def test_a_long_seek_is_replayed_in_pieces_with_the_same_numbers() -> None:
    """Far from a checkpoint, a seek replays a few milliseconds at a time (other learners'
    turns come in between), and shows exactly the numbers first computed."""
    cfg = RunSettings(hidden=(8, 8))
    st = Stepper(run_config(cfg))
    h = History(st, cfg, interval=100_000)  # only iteration 0 is a checkpoint
    h.train(3000)
    first = [h.step_phase() for _ in range(4)]
    pieces = h.seek_pieces((3001, 0))  # after iteration 3000
    n = 0
    try:
        while True:
            next(pieces)
            n += 1
    except StopIteration as done:
        records = done.value
    assert n > 3, "the replay of 3,000 iterations came as one piece"
    assert all(records_equal(a, b) for a, b in zip(first, records, strict=True))


def test_a_freed_session_is_freed_without_the_cyclic_garbage_collector() -> None:
    """A session's memory (its run: up to megabytes) goes when the store lets it go, not
    whenever the cyclic collector next runs: nothing in it points back at it."""
    store = SessionStore(Settings())
    s = store.create()
    s.attach(Outbox())
    s.handle(client_adapter.validate_python({"type": "step", "unit": "iteration"}))
    s.handle(client_adapter.validate_python({"type": "inspect", "id": "L1.W",
                                             "index": [0, 0]}))
    ref = weakref.ref(s)
    gc.disable()
    try:
        s.detach()
        store.remove(s, "test")
        del s
        assert ref() is None
    finally:
        gc.enable()


def test_the_cost_model_grows_with_units_batch_and_samples() -> None:
    def cost(**kw: Any) -> Any:
        return estimate(Stepper(run_config(RunSettings(**kw))))

    small, wide = cost(hidden=(8,)), cost(hidden=(64,))
    assert wide.iteration_s > small.iteration_s and wide.eval_s > small.eval_s
    b10, b100 = cost(batch_size=10), cost(batch_size=100)
    assert 5 * b10.frame_bytes < b100.frame_bytes < 10 * b10.frame_bytes  # rows + fixed
    assert b10.with_batch(100).frame_bytes == b100.frame_bytes
    assert np.isclose(b10.with_batch(100).iteration_s, b100.iteration_s)
    assert cost(n_samples=1000).eval_s == pytest.approx(5 * cost(n_samples=200).eval_s)


@pytest.mark.parametrize("kw", [
    {"hidden": (120, 120, 120), "batch_size": 279, "n_samples": 840},
    {"hidden": (32, 32), "batch_size": 64, "norm": "batch", "optimizer": {"name": "adam"}},
    {"hidden": (16,) * 6, "batch_size": 100, "residual": True, "dropout": 0.2},
])
def test_the_frame_estimate_bounds_every_phase_as_sent(kw: dict[str, Any]) -> None:
    """max_frame_mb holds: the estimate counts every array a phase records (δ and ∂L/∂a
    alone gave 3.84 MB for a backward frame that encodes to 7.0 MB)."""
    from server.protocol import encode, server_message

    st = Stepper(run_config(RunSettings(**kw)))
    est = estimate(st).frame_bytes
    sent = max(len(encode(server_message("frame", phase=r.phase, iteration=r.iteration,
                                         compact=False, values=r.values)))
               for r in st.step_iteration())
    assert sent <= est < 1.5 * sent, (sent, est)
