"""The charts' series: a run played at top speed leaves a dense series (trace points,
the engine's own per-iteration numbers, between the paced evaluated points), and a
``series`` message brings another branch's or an earlier run's series for comparison
without touching this run's."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from engine.stepper import Stepper
from server.live.session import Session
from server.live.traces import CompareCache
from server.protocol import RunSettings, client_adapter
from server.run.runconfig import run_config
from tests.server.conftest import WS, attached_session

Msg = dict[str, Any]


def command(s: Session, msg: Msg) -> None:
    s.handle(client_adapter.validate_python(msg))


def sent(messages: list[Msg]) -> list[Msg]:
    """The metrics points and trace points of ``messages``, in iteration order."""
    out = [p for m in messages if m["type"] == "metrics"
           for p in m["points"] + m.get("trace", [])]
    return sorted(out, key=lambda p: p["iteration"])


def play_to(s: Session, iterations: int, speed: float,
            messages: list[Msg] | None = None) -> list[Msg]:
    """Play at ``speed`` on the 60 Hz clock until ``iterations`` are done, then pause;
    every metrics and trace point sent, in iteration order (the messages in
    ``messages``)."""
    ob = s.outbox
    assert ob is not None
    command(s, {"type": "play", "speed": speed})
    messages = [] if messages is None else messages
    for _ in range(50_000):  # a busy machine plays fewer iterations per tick
        if s.stepper.iteration >= iterations:
            break
        s.tick(1 / 60)
        messages += ob.drain()
    command(s, {"type": "pause"})
    messages += ob.drain()
    return [p for p in sent(messages) if p["iteration"] <= iterations]


def test_a_run_at_top_speed_leaves_a_dense_series_of_the_engines_numbers() -> None:
    s, _ = attached_session(outbox=100_000, dataset="xor")
    messages: list[Msg] = []
    points = play_to(s, 1000, s.settings.max_speed, messages)
    its = [p["iteration"] for p in points]
    assert its == sorted(set(its))  # one point per iteration at most, in order
    # a point every 4 iterations or so, where metrics_hz alone left 10
    assert len(points) >= 200, len(points)
    assert max(b - a for a, b in itertools.pairwise(its)) <= 8
    # the costly evaluation of the train and test sets stays on its pace
    evaluated = [p for p in points if "train_loss" in p]
    every = s.settings.max_speed / s.settings.metrics_hz
    assert 1000 / every - 2 <= len(evaluated) <= 1000 / every + 2
    # the trace goes out with the counters, metrics_hz times a second, not every tick
    traced = [m for m in messages if m["type"] == "metrics" and "trace" in m]
    assert len(traced) <= 1000 / every + 3
    # every point's batch loss, rate and gradient norms are the engine's, bit for bit
    stats = Stepper(run_config(s.history.base)).train(1000)
    for p in points:
        i = p["iteration"] - 1
        assert p["batch_loss"] == stats.loss[i]
        assert p["lr"] == stats.lr[i]
        assert p["gnorm"] == stats.gnorm[i].tolist()
    # and they come back whole (after a reload, a branch switch)
    series = s.series_message().item
    assert isinstance(series, dict) and series["replace"] is True
    kept = {p["iteration"]: p for p in series["points"] + series["trace"]}
    assert all(kept[p["iteration"]]["batch_loss"] == p["batch_loss"] for p in points)
    assert all("train_loss" in p for p in series["points"])
    assert not any("train_loss" in p for p in series["trace"])


def test_trace_points_thin_out_on_a_crowded_server() -> None:
    s, _ = attached_session(outbox=100_000, dataset="xor")
    s.crowd = 100  # 100 sessions share ~5 % of a core: a trace point every 20 iterations
    trace = [p for p in play_to(s, 1000, s.settings.max_speed) if "train_loss" not in p]
    assert 40 <= len(trace) <= 55, len(trace)


def test_the_full_batch_loss_is_the_previous_points_train_loss() -> None:
    """What the page's loss chart shows side by side: with the whole training set as the
    batch, the batch loss (weights before the update) is the train loss one update
    before; with one sample it is one sample's loss, noisier."""
    s, ob = attached_session(dataset="xor", n_samples=40, batch_size=0)
    for _ in range(5):
        command(s, {"type": "step", "unit": "iteration"})
    points = sent(ob.drain())
    assert [p["iteration"] for p in points] == [1, 2, 3, 4, 5]
    for before, p in itertools.pairwise(points):
        assert p["batch_loss"] == pytest.approx(before["train_loss"], rel=1e-12)


def test_series_answers_with_another_branchs_series_flagged_as_the_comparison(
        ws: WS) -> None:
    for _ in range(6):
        ws.send({"type": "step", "unit": "iteration"})
    ws.handled()
    own = sent(ws.seen)
    ws.send({"type": "seek", "iteration": 3})
    ws.send({"type": "set", "lr": 0.5})  # before the end: branch 1 starts at iteration 3
    ws.recv_type("run")
    ws.send({"type": "step", "unit": "iteration"})
    mine = ws.recv_type("metrics", where=lambda m: m["points"][-1]["iteration"] == 4)["points"]
    assert "compare" not in ws.seen[-1]
    assert mine[-1]["iteration"] == 4 and mine[-1]["lr"] == 0.5
    ws.send({"type": "series", "branch": 0})
    cmp = ws.recv_type("metrics", where=lambda m: "compare" in m)
    assert cmp["compare"] == {"branch": 0} and cmp["replace"] is True
    # branch 0 as it was: 6 iterations at lr 0.03 (what a branch keeps of each point)
    assert cmp["points"] == [{k: p[k] for k in cmp["points"][0]} for p in own]
    assert {"train_loss", "test_loss", "batch_loss", "lr", "gnorm"} <= set(cmp["points"][0])
    ws.send({"type": "series", "branch": 7})
    err = ws.error()
    assert err["code"] == "invalid" and err["field"] == "branch"
    # the run this one replaces stays comparable, under its id in run.runs
    ws.send({"type": "configure", "config": {"dataset": "xor", "activation": "relu"}})
    run = ws.recv_type("run")
    [earlier] = [r for r in run["runs"] if r["settings"]["activation"] == "tanh"]
    ws.send({"type": "series", "run": earlier["id"]})
    cmp = ws.recv_type("metrics", where=lambda m: "compare" in m)
    assert cmp["compare"] == {"run": earlier["id"]}
    assert [p["iteration"] for p in cmp["points"]] == [1, 2, 3, 4]  # the branch it was on
    assert cmp["points"][-1]["lr"] == 0.5
    ws.send({"type": "series", "run": 99})
    assert ws.error()["field"] == "run"
    ws.send({"type": "series", "run": earlier["id"], "branch": 0})
    assert ws.error()["code"] == "invalid"


def test_a_comparison_never_merges_into_the_runs_own_pending_points() -> None:
    s, ob = attached_session(dataset="xor", hidden=[3])
    for _ in range(3):
        command(s, {"type": "step", "unit": "iteration"})
    ob.drain()
    command(s, {"type": "configure", "config": RunSettings(dataset="xor").model_dump()})
    ob.drain()
    command(s, {"type": "step", "unit": "iteration"})  # a point of its own, pending
    command(s, {"type": "series", "run": s.past[0][0]})
    command(s, {"type": "step", "unit": "iteration"})
    sent = [m for m in ob.drain() if m["type"] == "metrics"]
    [own] = [m for m in sent if "compare" not in m]
    [cmp] = [m for m in sent if "compare" in m]
    assert [p["iteration"] for p in own["points"]] == [1, 2]
    assert [p["iteration"] for p in cmp["points"]] == [1, 2, 3]
    assert [len(p["gnorm"]) for p in cmp["points"]] == [2, 2, 2]  # the 3-unit run's layers


def test_asking_again_for_an_unchanged_series_reuses_the_message_encoded_once() -> None:
    s, _ = attached_session(dataset="xor")
    for _ in range(3):
        command(s, {"type": "step", "unit": "iteration"})
    cache = CompareCache()
    m = s.history.active.metrics
    first = cache.get(m, {"branch": 0})
    assert cache.get(m, {"branch": 0}) is first  # (a script asking 40 times a second)
    assert cache.get(m, {"run": 3}) is not first
    command(s, {"type": "step", "unit": "iteration"})  # the series grew: built again
    again = cache.get(m, {"branch": 0})
    assert again is not first and len(again.item["points"]) == 4  # type: ignore[index]
