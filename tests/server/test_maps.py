"""Maps over the input plane: the page draws the engine's numbers, compactly, at a bounded rate."""

from __future__ import annotations

import base64
import time
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from engine.data import grid_points
from server.app import create_app
from server.live import views
from server.live.outbox import Outbox
from server.live.session import Session
from server.protocol import client_adapter, encode
from server.run.maps import NEURON_BYTES, compute_maps, dequantize, features_of, quantize
from server.settings import Settings
from tests.server.conftest import attached_session


def make_session(**cfg: Any) -> tuple[Session, Outbox]:
    return attached_session(greeting=True, **cfg)


def send(s: Session, msg: dict[str, Any]) -> None:
    s.handle(client_adapter.validate_python(msg))


def test_quantize_round_trip_is_within_half_a_step() -> None:
    rng = np.random.default_rng(0)
    v = rng.normal(size=(3, 500)) * [[1.0], [100.0], [1e-3]]
    m = quantize(v)
    back = dequantize(m)
    step = (v.max(axis=1) - v.min(axis=1)) / 255
    assert (np.abs(back - v) <= step[:, None] / 2 + 1e-12).all()
    assert len(m["data"]) == 4 * -(-3 * 500 // 3)  # base64 of 1 byte per value


def test_constant_and_nonfinite_channels_stay_decodable() -> None:
    v = np.array([[2.0, 2.0, 2.0], [1.0, np.nan, 3.0]])
    back = dequantize(quantize(v))
    assert back[0].tolist() == [2.0, 2.0, 2.0]
    assert back[1, 0] == 1.0 and back[1, 2] == 3.0
    encode({"type": "maps", "m": quantize(v)})  # JSON-safe


def test_finite_and_nonfinite_maps_quantize_as_the_general_rule_says() -> None:
    """A live run's maps (all finite) take a shorter road to the same bytes; a channel
    with a NaN or an infinity still gets its finite values' min and max."""
    rng = np.random.default_rng(1)
    v = rng.normal(size=(4, 300)) * [[1.0], [50.0], [0.0], [1e-6]]
    got = quantize(v)
    lo, hi = v.min(axis=1), v.max(axis=1)
    span = hi - lo
    scale = np.divide(255.0, span, out=np.zeros_like(span), where=span > 0)
    q = np.clip(np.rint((v - lo[:, None]) * scale[:, None]), 0, 255).astype(np.uint8)
    assert got["min"] == lo.tolist() and got["max"] == hi.tolist()
    assert dequantize(got).shape == v.shape
    assert np.array_equal(np.frombuffer(base64.b64decode(got["data"]),
                                        dtype=np.uint8).reshape(v.shape), q)
    for bad in (np.inf, -np.inf, np.nan):
        w = v.copy()
        w[1, 7] = bad
        m = quantize(w)
        assert m["min"][1] == np.delete(w[1], 7).min() and m["max"][1] == np.delete(w[1], 7).max()
        assert m["min"][0] == lo[0] and m["max"][2] == hi[2]


def test_a_sessions_maps_keep_their_grid_until_the_plane_changes() -> None:
    """The grid and its inputs are made once a run: later maps are the maps made afresh;
    another run makes a new grid, a session kept for a reload lets it go, and a wide
    input (real data: every other column at its mean) is made again for each map rather
    than kept in every session's memory."""
    s, _ = make_session(dataset="circle", hidden=(5, 3))
    s.views.maps_message()
    grid = s.views._grid
    assert grid is not None
    s.stepper.train(7)
    kept = s.views.maps_message()
    assert s.views._grid is grid
    st = s.stepper
    afresh = compute_maps(st.net, st.data, s.settings.max_grid, st.iteration)
    assert {k: kept[k] for k in afresh} == afresh
    send(s, {"type": "configure", "config": {"dataset": "moons", "hidden": [4]}})
    moons = s.views.maps_message()
    assert s.views._grid is not None and s.views._grid is not grid
    st = s.stepper
    assert st.data.name == "moons" and moons["extent"] == compute_maps(
        st.net, st.data, s.settings.max_grid, st.iteration)["extent"]
    s.views.let_go()
    assert s.views._grid is None
    wine, _ = make_session(dataset="wine")
    first = wine.views.maps_message()
    assert wine.views._grid is None  # (13 inputs at 2,304 points: 240 KB, not kept)
    send(wine, {"type": "map_axes", "axes": [12, 0]})
    other = wine.views.maps_message()
    assert other["axes"] == [12, 0] and first["axes"] != [12, 0]
    assert other["output"] != first["output"]


def test_output_map_equals_the_networks_prediction_on_the_plane() -> None:
    s, _ = make_session(dataset="circle", hidden=(5, 3))
    s.stepper.train(20)
    m = compute_maps(s.stepper.net, s.stepper.data, 64, s.stepper.iteration)
    lo, hi = m["extent"]
    d = s.stepper.data
    assert lo <= d.p_train.min() and hi >= d.p_train.max()
    want = s.stepper.net.predict(grid_points(lo, hi, m["size"]))
    got = dequantize(m["output"])
    assert got.shape == (1, m["size"] ** 2)
    span = want.max() - want.min()
    assert np.abs(got[0] - want[:, 0]).max() <= span / 510 + 1e-12
    # one small map per hidden neuron, each the neuron's own activation
    assert set(m["neurons"]) == {"L1.a", "L2.a"}
    n = m["neuron_size"]
    caches = s.stepper.net.forward(grid_points(lo, hi, n), train=False)
    a2 = dequantize(m["neurons"]["L2.a"])
    assert a2.shape == (3, n * n)
    assert np.abs(a2 - caches[1].a.T).max() <= (caches[1].a.max() - caches[1].a.min()) / 510 + 1e-12


def test_engineered_features_map_over_the_raw_plane() -> None:
    s, _ = make_session(dataset="circle", features=("x1^2", "x2^2"), hidden=(3,))
    s.stepper.train(30)
    m = compute_maps(s.stepper.net, s.stepper.data, 64, 30)
    lo, hi = m["extent"]
    p = grid_points(lo, hi, m["size"])
    want = s.stepper.net.predict(features_of(p, ("x1^2", "x2^2")))[:, 0]
    got = dequantize(m["output"])[0]
    assert np.abs(got - want).max() <= (want.max() - want.min()) / 510 + 1e-12
    # the plane is the raw points' (|x| ≤ ~5), not the feature space's (x² up to ~25)
    d = s.stepper.data
    assert lo < d.p_train.min() < 0 < d.p_train.max() < hi < 8


def test_multiclass_sends_one_channel_per_class() -> None:
    s, _ = make_session(dataset="blobs3", hidden=(4,))
    m = compute_maps(s.stepper.net, s.stepper.data, 64, 0)
    probs = dequantize(m["output"])
    assert probs.shape[0] == 3
    assert np.allclose(probs.sum(axis=0), 1.0, atol=3 * 1 / 255)


def test_sine_is_a_curve_along_x1() -> None:
    s, _ = make_session(dataset="sine", hidden=(6,))
    m = compute_maps(s.stepper.net, s.stepper.data, 64, 0)
    assert m["dims"] == 1
    assert m["output"]["shape"] == [1, m["size"]]
    assert m["neurons"]["L1.a"]["shape"] == [6, m["neuron_size"]]


def test_grid_is_bounded_by_max_grid_and_neuron_maps_by_a_byte_budget() -> None:
    s, _ = make_session(dataset="xor", hidden=(128,) * 8)
    m = compute_maps(s.stepper.net, s.stepper.data, 16, 0)
    assert m["size"] == 16
    total = sum(v["shape"][0] * v["shape"][1] for v in m["neurons"].values())
    assert total <= NEURON_BYTES
    # far too many units for even the coarsest maps: left out, the output map still sent
    s2, _ = make_session(dataset="xor", hidden=(128,) * 9)
    m2 = compute_maps(s2.stepper.net, s2.stepper.data, 64, 0)
    assert m2["neurons"] == {} and m2["neuron_size"] == 0


def test_maps_are_coalesced_to_map_hz_and_the_last_one_is_current(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    monkeypatch.setattr(views.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(views, "COST_FACTOR", 0.0)  # the rate bound alone, whatever the load
    s, ob = make_session(dataset="xor")
    ob.drain()
    sent = 0
    for _ in range(200):  # 100 iterations per simulated second for 2 s, as fast as a user can click
        now[0] += 0.01
        send(s, {"type": "step", "unit": "iteration"})
        s.tick(0.01)
        sent += sum(m["type"] == "maps" for m in ob.drain())
    assert 15 <= sent <= 21  # ≤ 10 per second
    now[0] += 0.2
    s.tick(0.2)  # the trailing send: the maps catch up with the last step
    last = [m for m in ob.drain() if m["type"] == "maps"]
    assert last and last[-1]["iteration"] == 200 == s.stepper.iteration
    assert not s.wants_tick


def test_maps_stream_over_the_socket_at_most_ten_per_second() -> None:
    app = create_app(Settings(map_hz=10.0, allowed_hosts=["testserver"]))
    with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "hello"})
        ws.send_json({"type": "play", "speed": 200})
        t0 = time.monotonic()
        stamps = []
        # (the maps are spaced by what they cost too: on a loaded machine fewer come)
        while time.monotonic() - t0 < 2.5 or len(stamps) < 4:
            assert time.monotonic() - t0 < 20, f"only {len(stamps)} maps in 20 s"
            msg = ws.receive_json()
            if msg["type"] == "maps":
                stamps.append(time.monotonic())
        ws.send_json({"type": "pause"})
    assert len(stamps) >= 4
    rate = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    assert rate <= 11.0


def test_a_network_slow_to_map_is_mapped_less_often(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(views.time, "monotonic", lambda: now[0])
    s, ob = make_session(dataset="xor")
    s.views._cost["maps"] = 0.05  # as measured for a big network: 50 ms per maps message
    ob.drain()
    sent = 0
    for _ in range(100):  # 1 simulated second
        now[0] += 0.01
        send(s, {"type": "step", "unit": "iteration"})
        s.views._cost["maps"] = 0.05
        sent += sum(m["type"] == "maps" for m in ob.drain())
    assert 1 <= sent <= 2  # at most one per 10 × 50 ms, not ten a second
