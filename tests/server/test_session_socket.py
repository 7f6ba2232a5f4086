"""The session over a real WebSocket (in process): configure, step the four phases and
receive them in order with the shapes and numbers the page draws; play, pause, reset."""

from __future__ import annotations

import numpy as np
from fastapi.testclient import TestClient

from tests.server.conftest import WS

CONFIG = {"dataset": "xor", "hidden": [3], "activation": "tanh", "batch_size": 8,
          "lr": 0.1, "seed": 7}


def configure(ws: WS, **over: object) -> dict:
    ws.send({"type": "configure", "config": {**CONFIG, **over}})
    run = ws.recv_type("run")
    ws.recv_type("state")
    return run


def test_run_message_describes_the_network_and_its_weights(ws: WS) -> None:
    run = configure(ws)
    assert run["net"]["sizes"] == [2, 3, 1]
    assert run["config"]["hidden"] == [3]
    assert np.array(run["params"]["L1.W"]).shape == (2, 3)
    assert np.array(run["params"]["L1.b"]).shape == (3,)
    assert np.array(run["params"]["L2.W"]).shape == (3, 1)
    assert run["state"]["iteration"] == 0 and run["state"]["next_phase"] == "forward"
    assert len(run["data"]["p_train"]) == len(run["data"]["t_train"]) > 0


def test_four_phases_arrive_in_order_with_consistent_shapes_and_numbers(ws: WS) -> None:
    run = configure(ws)
    B = 8
    frames = {}
    for expected in ("forward", "loss", "backward", "update"):
        ws.send({"type": "step", "unit": "phase"})
        f = ws.recv_type("frame")
        assert f["phase"] == expected and f["iteration"] == 0
        frames[expected] = {k: np.array(v) for k, v in f["values"].items()}
        state = ws.recv_type("state")
        assert state["playing"] is False

    fw, lo, bw, up = (frames[p] for p in ("forward", "loss", "backward", "update"))
    assert fw["x"].shape == (B, 2) and fw["t"].shape == (B, 1)
    assert fw["L1.z"].shape == fw["L1.a"].shape == (B, 3)
    assert fw["L2.z"].shape == (B, 1)
    np.testing.assert_allclose(fw["L1.z"], fw["x"] @ np.array(run["params"]["L1.W"])
                               + np.array(run["params"]["L1.b"]), rtol=1e-12)
    np.testing.assert_allclose(fw["L1.a"], np.tanh(fw["L1.z"]), rtol=1e-12)

    assert lo["loss.per_sample"].shape == (B,)
    assert lo["L2.da"].shape == (B, 1)

    assert bw["L2.delta"].shape == (B, 1) and bw["L1.delta"].shape == (B, 3)
    assert bw["L1.dW"].shape == (2, 3) and bw["L1.db"].shape == (3,)
    assert bw["L2.dW"].shape == (3, 1)
    # dW = a_prevᵀ · delta and db = Σ_batch delta (delta already carries the 1/B)
    np.testing.assert_allclose(bw["L2.dW"], fw["L1.a"].T @ bw["L2.delta"], rtol=1e-10)
    np.testing.assert_allclose(bw["L1.db"], bw["L1.delta"].sum(axis=0), rtol=1e-10)
    # the chain rule through tanh: delta1 = (delta2 · W2ᵀ) ⊙ (1 − a1²)
    W2 = np.array(run["params"]["L2.W"])
    np.testing.assert_allclose(bw["L1.delta"], (bw["L2.delta"] @ W2.T) * (1 - fw["L1.a"] ** 2),
                               rtol=1e-10, atol=1e-15)

    assert up["L1.W"].shape == up["L1.W.prev"].shape == (2, 3)
    # plain SGD: W ← W − lr · dW
    np.testing.assert_allclose(up["L1.W"], up["L1.W.prev"] - 0.1 * bw["L1.dW"], rtol=1e-12)
    np.testing.assert_allclose(up["L1.W.step"], up["L1.W"] - up["L1.W.prev"], atol=1e-15)

    # the loss chart's point for the iteration just completed came along
    metrics = next(m for m in reversed(ws.seen) if m["type"] == "metrics")
    assert metrics["points"][-1]["iteration"] == 1
    assert np.isfinite(metrics["points"][-1]["train_loss"])


def test_step_iteration_sends_all_four_phases(ws: WS) -> None:
    configure(ws)
    ws.send({"type": "step", "unit": "iteration"})
    phases = [ws.recv_type("frame")["phase"] for _ in range(4)]
    assert phases == ["forward", "loss", "backward", "update"]
    assert ws.recv_type("state", where=lambda m: m["iteration"] == 1)["next_phase"] == "forward"


def test_play_streams_iterations_and_pause_stops(ws: WS) -> None:
    configure(ws)
    ws.send({"type": "play", "speed": 30})
    assert ws.recv_type("state")["playing"] is True
    seen = {ws.recv_type("frame", where=lambda m: m["phase"] == "update")["iteration"]
            for _ in range(5)}
    assert len(seen) == 5  # five distinct iterations came by themselves
    ws.send({"type": "pause"})
    st = ws.recv_type("state", where=lambda m: m["playing"] is False)
    assert st["iteration"] >= 5


def test_reset_replays_the_same_numbers(ws: WS) -> None:
    run = configure(ws)
    first = ws.step_frame("iteration")
    ws.send({"type": "reset"})
    again = ws.recv_type("run")
    assert again["params"] == run["params"]
    ws.recv_type("state")
    assert ws.step_frame("iteration")["values"] == first["values"]


def test_bad_input_gets_an_error_and_the_session_still_works(ws: WS) -> None:
    configure(ws)
    ws.send("{not json")
    assert ws.error()["code"] == "malformed"
    ws.send({"type": "configure", "config": {"hidden": [3], "lr": -1}})
    err = ws.error()
    assert err["code"] == "invalid" and err["field"] == "config.lr"
    ws.send({"type": "step", "unit": "epoch"})
    assert ws.error()["field"] == "unit"
    ws.works()


def test_a_client_that_asks_for_batches_gets_the_same_messages_in_fewer_sends(
    client: TestClient,
) -> None:
    def play(batch: bool) -> tuple[list[tuple], int]:
        with client.websocket_connect("/ws") as raw:
            w = WS(raw)
            w.send({"type": "hello", "batch": batch})
            w.recv_type("run")
            w.send({"type": "configure", "config": CONFIG})
            w.recv_type("run")
            w.send({"type": "play", "speed": 30})
            w.recv_type("frame", where=lambda m: m["iteration"] == 6 and m["phase"] == "update")
            w.send({"type": "pause"})
            w.recv_type("state", where=lambda m: not m["playing"])
            frames = [(m["iteration"], m["phase"]) for m in w.seen if m["type"] == "frame"]
            return frames, w.batches

    plain, none = play(False)
    batched, batches = play(True)
    assert none == 0 and batches >= 5
    for frames in (plain, batched):  # whole iterations, phases in order
        assert frames[:4] == [(0, "forward"), (0, "loss"), (0, "backward"), (0, "update")]
        # (a reader that lags behind gets the latest iteration, whole, not every one)
        assert [p for _, p in frames] == ["forward", "loss", "backward", "update"] * (
            len(frames) // 4)
        its = [i for i, _ in frames[::4]]
        assert its == sorted(set(its)) and its[-1] >= 6
        assert all(frames[k][0] == frames[k - k % 4][0] for k in range(len(frames)))


def test_slow_play_moves_the_counters_with_every_iteration(ws: WS) -> None:
    """Phase by phase (≤ 4 it/s) the page's iteration counters follow the run: a
    ``state`` comes with each iteration, not only on play and pause."""
    configure(ws)
    ws.send({"type": "play", "speed": 4})
    assert ws.recv_type("state")["playing"] is True
    seen: list[int] = []
    for k in range(3):
        st = ws.recv_type("state", timeout=3,
                          where=lambda m, k=k: m["playing"] and m["iteration"] > k)
        seen.append(st["iteration"])
    assert seen == sorted(seen) and seen[-1] >= 3
    ws.send({"type": "pause"})
    ws.recv_type("state", where=lambda m: m["playing"] is False)
