"""Fast play's shortcuts change nothing a learner sees: a whole iteration stepped at
once (History.step_iteration) gives the records, checkpoints, head and halt of four
single phases; its compact frames travel as one bundle that a slow reader gets only
the latest of, and that a batched socket delivers as ordinary messages in order."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import orjson
import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from engine.stepper import NonFiniteError, PhaseRecord, Stepper
from server.live.outbox import Outbox, approx_bytes
from server.protocol import Changes, RunSettings, client_adapter
from server.routes.ws import json_of
from server.run.compact import (
    CompactValues,
    PackedFrames,
    compact_iteration,
    compact_values,
    pack_batch,
)
from server.run.cost import count_values
from server.run.history import History, records_equal
from server.run.runconfig import run_config
from tests.server.conftest import WS, attached_session, make_app

SETTINGS = RunSettings(dataset="xor", hidden=(5, 4), batch_size=10, lr=0.1, seed=3)
PHASES = ["forward", "loss", "backward", "update"]


def make(settings: RunSettings = SETTINGS) -> History:
    return History(Stepper(run_config(settings)), settings, interval=4)


def test_a_whole_iteration_at_once_equals_four_phases_across_logged_changes() -> None:
    one, four = make(), make()
    for h in (one, four):  # the same log: a rate set half-way through iteration 7
        for _ in range(4 * 7 + 2):
            h.step_phase()
        h.set(Changes(lr=0.5))
        h.seek((3, 0))  # back in the past: replay crosses the change and checkpoints
    got: list[PhaseRecord] = []
    ref: list[PhaseRecord] = []
    for _ in range(12):
        recs, err = one.step_iteration()
        assert err is None and [r.phase for r in recs] == PHASES
        got += [copy.deepcopy(r) for r in recs]
        ref += [copy.deepcopy(four.step_phase()) for _ in range(4)]
    assert all(records_equal(a, b) for a, b in zip(got, ref, strict=True))
    assert got[4 * 4 + 3].values["lr"] == 0.5  # the update of iteration 7 used the change
    assert one.pos == four.pos == (15, 0) and one.head == four.head
    assert one.active.checkpoints.keys() == four.active.checkpoints.keys()


def test_a_halt_inside_an_iteration_returns_the_phases_before_it() -> None:
    bad = RunSettings(dataset="xor", hidden=(4,), lr=100.0, seed=2,
                      output_activation="linear", loss="mse")
    one, four = make(bad), make(bad)
    err: NonFiniteError | None = None
    while err is None:
        recs, err = one.step_iteration()
    ref: list[PhaseRecord] = []
    with pytest.raises(NonFiniteError) as info:
        while True:
            r = four.step_phase()
            ref = [] if r.phase == "forward" else ref
            ref.append(copy.deepcopy(r))
    assert (err.iteration, err.phase, err.where) == \
        (info.value.iteration, info.value.phase, info.value.where)
    assert [r.phase for r in recs] == PHASES[:PHASES.index(err.phase)]
    assert all(records_equal(a, b) for a, b in zip(recs, ref, strict=True))
    assert one.pos == four.pos and one.stepper.halted is not None
    assert [m["kind"] for m in one.active.markers] == [m["kind"] for m in four.active.markers]


def test_compacting_an_iteration_at_once_equals_compacting_each_phase() -> None:
    st = Stepper(run_config(SETTINGS))
    pairs = [(r.phase, r.values) for r in st.step_iteration()]
    for whole, each in zip(compact_iteration(pairs), [compact_values(p, v) for p, v in pairs],
                           strict=True):
        assert whole.keys() == each.keys()
        for k in whole:
            np.testing.assert_array_equal(np.asarray(whole[k]), np.asarray(each[k]), err_msg=k)


@pytest.mark.parametrize("settings", [SETTINGS, RunSettings(dataset="moons", hidden=(8, 8),
                                                              batch_size=7, norm="batch",
                                                              dropout=0.2)],
                         ids=["default", "norm-dropout"])
def test_compact_frames_carry_their_size_as_the_outbox_and_stream_budget_count_it(
        settings: RunSettings) -> None:
    """Fast play sizes each iteration's frames while compacting them (no second walk):
    the counts must be what the stream budget and the outbox would have counted, or a
    large network's frames would slip past max_stream_mb_per_s and outbox_max_mb."""
    stepper = Stepper(run_config(settings))
    pairs = [(r.phase, r.values) for r in stepper.step_iteration()]
    for v in compact_iteration(pairs):
        assert isinstance(v, CompactValues)
        plain = dict(v)
        assert v.numbers == count_values(plain)
        assert 0.75 < v.nbytes / approx_bytes(plain, 2) < 1.25
        assert approx_bytes(v, 2) == v.nbytes and count_values(v) == v.numbers
        assert orjson.dumps(v, option=orjson.OPT_SERIALIZE_NUMPY) == \
            orjson.dumps(plain, option=orjson.OPT_SERIALIZE_NUMPY)


def test_a_reader_that_falls_behind_gets_the_latest_iteration_once() -> None:
    s, ob = attached_session(outbox=8)
    s.speed, s.playing = 30.0, True
    for _ in range(20):
        s._credit = 1.0
        s.tick(1 / 60)
    frames = [m for m in ob.drain() if m["type"] == "frame"]
    assert [f["phase"] for f in frames] == PHASES  # one iteration, not a backlog
    assert {f["iteration"] for f in frames} == {s.stepper.iteration - 1}
    assert all(f["compact"] for f in frames)
    bundle_box = Outbox(4)
    bundle_box.put([{"type": "frame", "n": i} for i in range(4)], droppable=True, key="frames")
    bundle_box.put({"type": "state"}, key="state")
    assert bundle_box.pop() == [{"type": "frame", "n": i} for i in range(4)]
    assert bundle_box.sent == 4


@pytest.mark.parametrize("batch", [True, False], ids=["batched", "one-per-message"])
def test_fast_play_reaches_the_socket_as_ordered_messages(client: TestClient,
                                                         batch: bool) -> None:
    with client.websocket_connect("/ws") as raw:
        ws = WS(raw)
        ws.send({"type": "hello", "batch": batch})
        ws.recv_type("run")
        play_and_check(ws, batch)


def play_and_check(ws: WS, batch: bool) -> None:
    """Play fast; every iteration's four frames arrive in order, nothing between them."""
    ws.send({"type": "play", "speed": 30})
    seen: list[tuple[int, str]] = []
    while len(seen) < 4 * 6:
        f = ws.recv_type("frame")
        seen.append((f["iteration"], f["phase"]))
    ws.send({"type": "pause"})
    first = seen.index(next(p for p in seen if p[1] == "forward"))
    whole = seen[first:first + 20]
    for i in range(0, 20, 4):  # each iteration's four phases, in order, nothing between
        it = whole[i][0]
        assert whole[i:i + 4] == [(it, p) for p in PHASES]
    assert (ws.batches > 0) == batch


@pytest.mark.parametrize("msg", [
    {"type": "state", "halted": None, "speed": float("nan")},  # a None beside a NaN
    {"type": "frame", "values": {"a": None, "b": [1.0, float("inf")]}},
    {"type": "error", "message": "null", "value": float("-inf")},  # "null" in a string
    [{"type": "frame", "x": float("nan")}, {"type": "state", "halted": None}],  # a bundle
])
def test_no_shortcut_lets_a_bare_non_finite_number_out(msg: object) -> None:
    """A browser's JSON.parse must never see NaN or Infinity, whatever else is null."""
    from server.protocol import encode_bytes
    from tests.helpers.packed import strict_loads

    text = encode_bytes(msg).decode()  # type: ignore[arg-type]
    assert "NaN" in text or "Infinity" in text  # spelled out as strings
    strict_loads(text)


def _spelled(v: Any) -> Any:
    """What a message's value must read as in the page: non-finite numbers as their
    names, arrays as lists, tuples as lists."""
    if isinstance(v, np.ndarray):
        return _spelled(v.tolist())
    if isinstance(v, float | np.floating):
        f = float(v)
        return f if np.isfinite(f) else ("NaN" if f != f else "Infinity" if f > 0 else "-Infinity")
    if isinstance(v, dict):
        return {k: _spelled(x) for k, x in dict(v).items()}
    if isinstance(v, list | tuple):
        return [_spelled(x) for x in v]
    return v


_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.text(max_size=4),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, -1e308, np.float64("nan"), np.float64(1.5)]))
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.tuples(inner, inner),
        st.dictionaries(st.text(min_size=1, max_size=3), inner, max_size=4),
        st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=6).map(np.array),
        st.dictionaries(st.text(min_size=1, max_size=3), inner, max_size=3).map(
            CompactValues)),  # (a dict subclass: compact frames' values)
    max_leaves=20)


@hypothesis_settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["a", "b", "halted", "points"]), _VALUES, max_size=4))
def test_every_message_reads_in_the_page_as_its_numbers_spelled_out(body: dict[str, Any]
                                                                     ) -> None:
    """Whatever nests in a message (None beside NaN, sums that overflow, NumPy floats,
    arrays, a dict subclass), the page parses it and reads every finite number as it is, every
    non-finite one by its name, and the message's own value is never changed."""
    from server.protocol import encode_bytes
    from tests.helpers.packed import strict_loads

    msg = {"type": "metrics", **body}
    before = repr(msg)
    assert strict_loads(encode_bytes(msg).decode()) == _spelled(msg)
    assert repr(msg) == before


def test_a_running_server_collects_cyclic_garbage_rarely() -> None:
    """Under a class the default gen-0 threshold (700) ran the collector ~80 times a
    second and its full passes stalled every stream (docs/performance.md); the
    server raises it while it runs and puts it back when it stops."""
    import gc

    from server.app import GC_THRESHOLD

    before = gc.get_threshold()
    assert before[0] < GC_THRESHOLD  # CPython's default
    with TestClient(make_app()):
        assert gc.get_threshold()[0] >= GC_THRESHOLD
        assert gc.get_threshold()[1:] == before[1:]
    assert gc.get_threshold() == before


LONE_KINDS: list[dict[str, Any]] = [
    {},  # the default run
    {"optimizer": {"name": "adam"}, "hidden": [5]},  # (a run that plays alone)
    {"dataset": "moons", "hidden": [6], "norm": "batch"},
    {"dataset": "spiral", "hidden": [8], "activation": "relu", "dropout": 0.2},
    {"dataset": "sine", "hidden": [6, 6], "batch_size": 7},
]


@pytest.mark.parametrize("cfg", LONE_KINDS)
def test_a_lone_learner_whose_page_takes_packed_frames_gets_the_json_s_numbers(
        cfg: dict[str, Any]) -> None:
    """A learner playing alone gets packed frames when the page asks (a third of the
    bytes on a phone's network), decoded to the very numbers a page taking JSON gets
    from the twin run; values that are not numbers go as JSON instead."""
    from tests.helpers.packed import decode_packed

    twins = []
    for packed in (True, False):
        s, ob = attached_session(**cfg)
        ob.takes_packed = packed
        s.handle(client_adapter.validate_python({"type": "play", "speed": 30}))
        twins.append((s, ob))
    seen_packed = 0
    for _ in range(40):
        got = []
        for s, ob in twins:
            s.tick(1 / 30)
            frames = []
            while (e := ob.pop()) is not None:
                if isinstance(e, PackedFrames):
                    seen_packed += 1
                    frames += decode_packed(pack_batch([e]))
                else:
                    m = orjson.loads(json_of(e))
                    frames += [x for x in (m if isinstance(m, list) else [m])
                               if x["type"] == "frame"]
            got.append([(f["phase"], f["iteration"], f["values"]) for f in frames])
        assert got[0] == got[1] and len(got[0]) == 4
    assert seen_packed >= 30


def test_a_page_that_asks_for_packed_frames_gets_them_playing_alone(
        client: TestClient) -> None:
    """Over the socket: a learner whose ``hello`` asked for packed frames gets its lone
    run's frames as binary messages; one who did not gets JSON; the same run (the same
    seed) gives the same numbers on both."""
    frames: list[dict[int, list[Any]]] = [{}, {}]
    layouts = []
    for i, hello in enumerate(({"type": "hello", "batch": True, "packed": True},
                               {"type": "hello", "batch": True})):
        with client.websocket_connect("/ws") as raw:
            ws = WS(raw)
            ws.send(hello)
            ws.recv_type("run")
            # (10 it/s: a reader kept waiting by a busy machine loses no iteration to the
            # next one's frames, so both connections see the same iterations)
            ws.send({"type": "play", "speed": 10})
            while len(frames[i]) < 6:
                f = ws.recv_type("frame")
                assert f["compact"] is True
                frames[i].setdefault(f["iteration"], []).append((f["phase"], f["values"]))
            ws.send({"type": "pause"})
            layouts.append(len(ws.layouts))
    assert layouts == [1, 0]  # (binary messages only for the page that asked)
    both = sorted(it for it in set(frames[0]) & set(frames[1])
                  if len(frames[0][it]) == len(frames[1][it]) == 4)
    assert len(both) >= 4
    for it in both:
        assert frames[0][it] == frames[1][it]
