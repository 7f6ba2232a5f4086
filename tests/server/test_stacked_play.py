"""Runs of one shape stepped together in fast play (engine/stacked.py) show exactly what
each would show alone: the same frames, byte for byte, the same parameters bit for
bit, the same inspector records and metrics; and what each keeps is its own (no view
of the group's stacks outlives the tick)."""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

import numpy as np
import orjson
import pytest
from websockets.sync.client import connect

from engine import metrics, stacked
from engine.stacked import PHASES
from engine.stepper import NonFiniteError, Stepper
from server.live.clock import Clock
from server.live.session import Session
from server.protocol import Play, RunSettings, encode_bytes
from server.run.compact import compact_iteration, pack_batch, pack_fast
from server.run.runconfig import run_config
from server.settings import Settings
from tests.helpers.packed import decode_frame, decode_packed
from tests.server.conftest import LiveServer, attached_session

KINDS: list[dict[str, Any]] = [
    {},  # the default run: xor, 2-4-4-1 tanh, bce, batch 10
    {"activation": "relu", "hidden": [6]},
    {"activation": "sigmoid", "batch_size": 7},
    {"dataset": "moons", "hidden": [8, 3], "lr": 0.3},
    {"dataset": "sine", "hidden": [6, 6]},  # regression: mse
    # ‖dW‖ of 2 × 32 and 32 × 32 weights: the stacked dot over a thousand numbers
    {"dataset": "moons", "hidden": [32, 32], "batch_size": 16},
]


@pytest.mark.parametrize("cfg", KINDS)
def test_a_group_s_frames_and_parameters_are_each_run_s_alone(cfg: dict[str, Any]) -> None:
    configs = [run_config(RunSettings(**{**cfg, "seed": i + 1,
                                         "lr": cfg.get("lr", 0.03) * (1 + i % 3)}))
               for i in range(6)]
    alone = [Stepper(c) for c in configs]
    together = [Stepper(c) for c in configs]
    used = 0
    for it in range(45):  # (epoch ends on the way: those step alone)
        stacked.ahead(together)
        for a, b in zip(alone, together, strict=True):
            recs = a.step_iteration()
            want = encode_bytes([dict(v) for v in compact_iteration(
                [(r.phase, r.values) for r in recs])])
            f = b.step_fast()
            if f is None:
                got_recs = b.step_iteration()
                frames = compact_iteration([(r.phase, r.values) for r in got_recs])
            else:
                used += 1
                packed = pack_fast(f)
                assert packed is not None
                frames = [m["values"] for m in packed.item]
                # on the wire, as the page decodes it: the very numbers of the JSON
                assert [m["values"] for m in decode_packed(pack_batch([packed]))] == \
                    orjson.loads(want), it
                if it % 5 == 0:  # the records, computed again when asked, are the same
                    again = b.fast_records()
                    assert again is not None
                    for r, q in zip(recs, again, strict=True):
                        assert list(r.values) == list(q.values)
                        for k, v in r.values.items():
                            w = q.values[k]
                            assert (np.array_equal(v, w) if isinstance(v, np.ndarray)
                                    else v == w), (it, k)
            assert encode_bytes([dict(v) for v in frames]) == want, it
            for k, v in a.net.params.items():
                assert np.array_equal(v, b.net.params[k]), (it, k)
            assert a.iteration == b.iteration and a.optimizer.t == b.optimizer.t
    assert used == 45 * 6  # every iteration, epoch ends and the first one included
    assert metrics.collect(alone[0]) == metrics.collect(together[0])


def test_runs_that_cannot_go_together_step_alone() -> None:
    odd = [run_config(RunSettings(seed=1, optimizer={"name": "adam"})),
           run_config(RunSettings(seed=2, l2=0.01)),
           run_config(RunSettings(seed=3, norm="batch")),
           run_config(RunSettings(seed=4))]  # alone in its group
    steppers = [Stepper(c) for c in odd]
    for st in steppers:
        st.step_iteration()
    assert stacked.ahead(steppers) == 0
    assert all(st.step_fast() is None for st in steppers)


def test_runs_of_other_activations_or_with_optimizer_state_left_never_share_a_stack(
        ) -> None:
    tanh, relu = (Stepper(run_config(RunSettings(seed=1, activation=a)))
                  for a in ("tanh", "relu"))
    assert stacked.ahead([tanh, relu]) == 0  # one of each kind: nothing to share
    # momentum set back to 0 keeps its buffers: its update record names their norms
    left = Stepper(run_config(RunSettings(seed=2, optimizer={"name": "sgd",
                                                             "momentum": 0.9})))
    left.step_iteration()
    left.set_hyper(optimizer_params=(("momentum", 0.0),))
    plain = [Stepper(run_config(RunSettings(seed=i))) for i in (3, 4)]
    for st in plain:
        st.step_iteration()  # (a run's first batch needs its first shuffle: alone)
    assert left.optimizer.state and stacked.ahead([left, *plain]) == 2
    assert left.step_fast() is None
    assert "L1.momentum_buffer_norm" in left.step_iteration()[3].values


def test_a_diverging_run_in_a_group_warns_nothing_and_halts_alone() -> None:
    runs = [Stepper(run_config(RunSettings(seed=i + 1, lr=0.03))) for i in range(3)]
    for st in runs:
        st.step_iteration()
    runs[0].set_entry("L3.W", (0, 0), 1e300)  # its next z overflows
    with np.errstate(all="raise"):
        assert stacked.ahead(runs) == 2
    assert runs[0].step_fast() is None and runs[1].step_fast() is not None
    with pytest.raises(NonFiniteError):
        runs[0].step_iteration()


def test_a_run_changed_after_the_group_was_computed_steps_alone() -> None:
    steppers = [Stepper(run_config(RunSettings(seed=i + 1))) for i in range(3)]
    for st in steppers:
        st.step_iteration()
    assert stacked.ahead(steppers) == 3
    steppers[0].set_entry("L1.W", (0, 0), 0.5)  # an edit: a new array
    steppers[1].set_hyper(lr=0.2)  # a new rate
    assert steppers[0].step_fast() is None and steppers[1].step_fast() is None
    assert steppers[2].step_fast() is not None


def play(n: int, together: bool, ticks: int) -> tuple[list[Session], list[list[bytes]], Clock]:
    """``n`` default sessions playing at 30 it/s for ``ticks`` ticks of one clock, with
    runs computed together or not: the sessions, the frames each was sent, the clock
    (``clock.used``: the iterations that took what was computed together)."""
    pairs = [attached_session(outbox=4096, seed=i + 1) for i in range(n)]
    sessions = [s for s, _ in pairs]
    for s in sessions:
        s.handle(Play(type="play", speed=30))
    for _, ob in pairs:
        ob.drain()
    clock = Clock(sessions, 60, timer=lambda: 0.0, together=together)  # type: ignore[arg-type]
    used = [0]
    for s in sessions:
        step_fast = s.history.step_fast

        def counted(step_fast: Any = step_fast) -> Any:
            f = step_fast()
            used[0] += f is not None
            return f

        s.history.step_fast = counted  # type: ignore[method-assign]
    frames: list[list[bytes]] = [[] for _ in sessions]
    for k in range(1, ticks + 1):
        clock.tick(k / 60)
        for got, (_, ob) in zip(frames, pairs, strict=True):
            got += [encode_bytes(m) for m in ob.drain() if m.get("type") == "frame"]
    clock.used = used[0]  # type: ignore[attr-defined]
    return sessions, frames, clock


def test_sessions_playing_together_send_what_each_sends_alone() -> None:
    one, frames_one, alone = play(5, False, 120)
    many, frames_many, clock = play(5, True, 120)
    assert alone.stacked == 0 and clock.stacked > 0.8 * 5 * 60
    assert clock.used > 0.8 * 5 * 60  # type: ignore[attr-defined]  # (taken, not only made)
    assert frames_many == frames_one and len(frames_one[0]) >= 4 * 55
    for a, b in zip(one, many, strict=True):
        assert a.stepper.iteration == b.stepper.iteration
        for k, v in a.stepper.net.params.items():
            assert np.array_equal(v, b.stepper.net.params[k])
        # the inspector's records of the last iteration: computed again, the same
        pa, pb = a.views.capture.phases, b.views.capture.phases
        assert pa.keys() == pb.keys() == {"forward", "loss", "backward", "update"}
        for phase, values in pa.items():
            assert list(values) == list(pb[phase])
            for k, v in values.items():
                w = pb[phase][k]
                assert np.array_equal(v, w) if isinstance(v, np.ndarray) else v == w


def test_what_a_run_keeps_of_a_group_is_its_own() -> None:
    sessions, _, clock = play(4, True, 30)
    assert clock.stacked > 0
    for s in sessions:
        f = s.stepper._light
        assert f is not None
        owned = [*f.new.values(), *s.stepper.net.params.values(), f.loss.per_sample,
                 f.loss.delta]
        assert type(f.packed) is bytes  # (its own copy of its row of the group's numbers)
        # (the batch's indices are a slice of the run's own epoch order)
        assert all(a.base is None or a.base is s.stepper.batches.order for a in owned)


def test_a_failure_stepping_together_leaves_each_run_to_step_alone(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(_: object) -> int:
        raise RuntimeError("a bug in stepping together")

    _, want, _ = play(3, False, 30)
    monkeypatch.setattr(stacked, "ahead", boom)
    _, got, clock = play(3, True, 30)
    assert clock.stacked == 0 and got == want and len(got[0]) >= 4 * 14


@pytest.mark.parametrize("together", [False, True])
def test_every_played_iteration_is_counted_for_the_operator(together: bool) -> None:
    from server.run.history import COMPUTED

    before = COMPUTED.iterations
    sessions, _, clock = play(3, together, 40)
    assert (clock.stacked > 0) == together
    # (bpl_iterations_total: fast play's whole iterations were not counted before)
    assert COMPUTED.iterations - before == sum(s.stepper.iteration for s in sessions)


def test_large_runs_step_alone_and_a_big_group_is_computed_in_parts(
        monkeypatch: pytest.MonkeyPatch) -> None:
    big = [Stepper(run_config(RunSettings(seed=i, hidden=[128, 128], batch_size=64)))
           for i in (1, 2)]
    for st in big:
        st.step_iteration()
    assert stacked.ahead(big) == 0  # 64 × (2 + 128 + 128 + 1) numbers a pass: alone
    # a group's arrays stay within MAX_GROUP_BYTES: here two default runs a part
    monkeypatch.setattr(stacked, "MAX_GROUP_BYTES", 2 * 8 * 10 * (2 + 4 + 4 + 1))
    runs = [Stepper(run_config(RunSettings(seed=i + 1))) for i in range(5)]
    alone = [Stepper(run_config(RunSettings(seed=i + 1))) for i in range(5)]
    for st in (*runs, *alone):
        st.step_iteration()
    assert stacked.ahead(runs) == 4  # 2 + 2, and the fifth alone
    for st, a in zip(runs, alone, strict=True):
        assert (st.step_fast() is None) == (st is runs[4])
        if st is runs[4]:
            st.step_iteration()
        a.step_iteration()
        assert all(np.array_equal(v, st.net.params[k]) for k, v in a.net.params.items())


def test_a_run_computed_with_its_group_is_charged_its_share_of_the_time(
        monkeypatch: pytest.MonkeyPatch) -> None:
    t = [0.0]
    real = stacked.ahead

    def slow(steppers: Any) -> int:  # the group's computing takes 4 ms of the clock
        t[0] += 0.004
        return real(steppers)

    monkeypatch.setattr(stacked, "ahead", slow)
    pairs = [attached_session(outbox=4096, seed=i + 1) for i in range(4)]
    pairs.append(attached_session(outbox=4096, activation="relu"))  # a kind of its own
    sessions = [s for s, _ in pairs]
    for s in sessions:
        s.handle(Play(type="play", speed=60))  # (every tick, all due together)
        s.stepper.step_iteration()  # (a run's first batch needs its first shuffle)
    clock = Clock(sessions, 60, timer=lambda: t[0])  # type: ignore[arg-type]
    clock.tick(1 / 60)
    clock.tick(2 / 60)
    # max-min fairness counts each grouped run's quarter of the group's 4 ms a tick (its
    # own tick costs nothing on this frozen timer), and nothing to the run alone
    assert clock.stacked == 8
    alone = sessions[-1].id
    assert all(clock.used(s.id) - clock.used(alone) >= 2 * 0.001 - 1e-9
               for s in sessions[:4])


def test_a_real_server_sends_packed_frames_to_pages_that_ask_and_json_to_others() -> None:
    """Three learners play the default run on a real server: their runs go together
    (those that play on the same ticks). The two whose hello asked for packed frames
    get binary messages for those, and every frame of every iteration in order; the
    third gets the same frames, as JSON only."""
    with LiveServer(Settings()) as srv, connect(srv.url) as a, connect(srv.url) as b, \
            connect(srv.url) as c:
        for w, packed in ((a, True), (b, True), (c, False)):
            w.send(json.dumps({"type": "hello", "batch": True, "packed": packed}))
        for w in (a, b, c):
            w.send(json.dumps({"type": "play", "speed": 30}))
        got: dict[int, list[dict[str, Any]]] = {0: [], 1: [], 2: []}
        binary = [0, 0, 0]
        layouts: list[dict[int, Any]] = [{}, {}, {}]  # (each connection's)
        sent_layout = [0, 0, 0]
        end = time.monotonic() + 15  # (until enough has come: a loaded machine is slower)

        def enough() -> bool:  # (frames made alone go packed too: count the groups')
            return srv.app.state.clock.stacked > 20 and binary[0] + binary[1] >= 20 and all(
                sum(m["type"] == "frame" for m in got[i]) >= 40 for i in range(3))

        while time.monotonic() < end and not enough():
            for i, w in enumerate((a, b, c)):
                with contextlib.suppress(TimeoutError):
                    data = w.recv(timeout=0.05)
                    binary[i] += isinstance(data, bytes)
                    sent_layout[i] += isinstance(data, bytes) and data.count(b'"layout":')
                    msgs = decode_frame(data, layouts[i])
                    got[i] += msgs if isinstance(msgs, list) else [msgs]
        assert srv.app.state.clock.stacked > 20
    assert binary[0] + binary[1] >= 20 and binary[2] == 0
    # each layout goes once a connection, with the first packed frames that use it (a
    # run stepped alone on a tick packs its own frames: a second layout, sent once too)
    assert sent_layout == [len(layouts[0]), len(layouts[1]), 0]
    assert all(1 <= len(layouts[i]) <= 2 for i in (0, 1) if binary[i])
    for i in range(3):
        frames = [m for m in got[i] if m["type"] == "frame"]
        assert len(frames) >= 40 and all(f["compact"] for f in frames)
        # each iteration's four phases, in order (a late tick may play one unseen)
        assert [f["phase"] for f in frames] == [*PHASES] * (len(frames) // 4)
        its = [f["iteration"] for f in frames[::4]]
        assert all(f["iteration"] == it for f, it in zip(
            frames, [i for i in its for _ in PHASES], strict=True))
        assert its == sorted(set(its))
    # the same values a frame holds, packed or not
    for phase in PHASES:
        a_keys = next(set(m["values"]) for m in got[0]
                      if m["type"] == "frame" and m["phase"] == phase)
        c_keys = next(set(m["values"]) for m in got[2]
                      if m["type"] == "frame" and m["phase"] == phase)
        assert a_keys == c_keys
