"""Real data on the wire: the map of a table over two chosen inputs (the others at their
mean), the confusion matrix beside it, and digits' 64-32-10 network within the limits."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest

from engine import realdata
from engine.data import grid_points
from server.live.session import Session
from server.protocol import RunSettings, client_adapter, encode
from server.run.cost import estimate
from server.run.maps import compute_maps, dequantize
from server.run.runconfig import checked_stepper
from server.settings import Settings
from tests.server.conftest import attached_session
from tests.server.conftest import handle as send

pytestmark = pytest.mark.usefixtures("unpaced_views")


def maps_of(s: Session) -> dict[str, Any]:
    msgs = [m for m in s.outbox.drain() if m["type"] == "maps"]  # type: ignore[union-attr]
    assert msgs, "no maps message"
    return msgs[-1]


def test_a_four_input_map_is_the_plane_of_two_inputs_with_the_others_at_their_mean() -> None:
    s, _ = attached_session(dataset="iris", hidden=(5,), optimizer={"name": "adam"}, lr=0.05)
    st = s.stepper
    st.train(30)
    d = st.data
    m = compute_maps(st.net, d, 64, st.iteration, (0, 2))
    assert m["axes"] == [0, 2] and m["held"] == "mean" and m["dims"] == 2
    lo, hi = m["extent"]
    assert lo <= d.p_train[:, [0, 2]].min() and hi >= d.p_train[:, [0, 2]].max()
    # the same plane built independently: every input at its training mean but two
    g = grid_points(lo, hi, m["size"])
    x = np.tile(d.x_train.mean(axis=0), (len(g), 1))
    x[:, 0], x[:, 2] = g[:, 0], g[:, 1]
    want = st.net.predict(x).T
    got = dequantize(m["output"])
    span = want.max(axis=1, keepdims=True) - want.min(axis=1, keepdims=True)
    assert (np.abs(got - want) <= span / 510 + 1e-12).all()
    # unasked, the map shows the columns that tell the classes apart: petal length, width
    assert compute_maps(st.net, d, 64, st.iteration)["axes"] == [2, 3]


def test_the_page_chooses_the_maps_axes_and_bad_ones_are_refused() -> None:
    s, ob = attached_session(dataset="wine")
    send(s, {"type": "map_axes", "axes": [12, 0]})
    assert maps_of(s)["axes"] == [12, 0]
    send(s, {"type": "step", "unit": "iteration"})
    s.tick(1.0)
    assert maps_of(s)["axes"] == [12, 0]  # kept while the run goes on
    for axes in ([3, 3], [0, 13]):
        send(s, {"type": "map_axes", "axes": axes})
        err = [m for m in ob.drain() if m["type"] == "error"]
        assert err and err[-1]["code"] == "invalid" and err[-1]["field"] == "axes"
    xor, ob2 = attached_session(dataset="xor")
    send(xor, {"type": "map_axes", "axes": [0, 1]})
    assert [m["field"] for m in ob2.drain() if m["type"] == "error"] == ["axes"]


def test_the_maps_confusion_matrix_counts_the_test_predictions() -> None:
    s, _ = attached_session(dataset="digits", hidden=(16,), optimizer={"name": "adam"},
                            lr=0.01, batch_size=32)
    s.stepper.train(40)
    send(s, {"type": "step", "unit": "iteration"})
    s.tick(1.0)
    conf = maps_of(s)["confusion"]
    d = s.stepper.data
    counts = np.asarray(conf["counts"])
    guess = s.stepper.net.predict(d.x_test).argmax(axis=1)
    truth = d.t_test.argmax(axis=1)
    want = np.zeros((10, 10), dtype=int)
    np.add.at(want, (truth, guess), 1)
    assert conf["split"] == "test" and np.array_equal(counts, want)
    encode(maps_of_again(s))  # JSON-safe


def maps_of_again(s: Session) -> dict[str, Any]:
    s.views.dirty.add("maps")
    s.tick(1.0)
    return maps_of(s)


def test_regression_maps_have_no_confusion_matrix() -> None:
    s, _ = attached_session(dataset="diabetes", greeting=True)
    assert "confusion" not in maps_of(s)


def test_digits_64_32_10_at_batch_32_fits_the_servers_limits() -> None:
    settings = Settings()
    st = checked_stepper(RunSettings(dataset="digits", hidden=(32,), batch_size=32), settings)
    assert list(st.net.spec.sizes) == [64, 32, 10]
    cost = estimate(st)
    assert cost.frame_bytes < settings.max_frame_mb * 2**20 / 4
    assert 1000 * cost.eval_s < settings.max_piece_ms / 2
    # a map of 64 inputs is as small as any other: quantized bytes, bounded neuron maps
    m = compute_maps(st.net, st.data, settings.max_grid, 0)
    assert len(orjson.dumps(m)) < 80_000
    # and a whole-set batch of digits is refused by name, not run
    try:
        checked_stepper(RunSettings(dataset="digits", hidden=(32,), batch_size=0),
                        Settings(max_batch=512))
    except ValueError as e:
        assert "max_batch" in str(e)
    else:
        raise AssertionError("a batch of the whole training set passed max_batch=512")


def test_a_drawn_digit_gets_the_networks_prediction() -> None:
    s, ob = attached_session(dataset="digits", hidden=(16,), optimizer={"name": "adam"},
                             lr=0.01, batch_size=32)
    s.stepper.train(100)
    X, y, _ = realdata.table("digits")
    k = int(np.flatnonzero(y == 3)[0])  # a 3 as scikit-learn has it, pixels 0…16
    ob.drain()
    send(s, {"type": "draw", "pixels": X[k].tolist()})
    drawn = [m for m in ob.drain() if m["type"] == "drawn"]
    d = s.stepper.data
    want = s.stepper.net.predict((X[k][None, :] - d.x_shift) / d.x_scale)[0]
    assert len(drawn) == 1 and np.allclose(drawn[0]["outputs"], want)
    assert drawn[0]["predicted"] == int(want.argmax()) == 3
    assert abs(sum(drawn[0]["outputs"]) - 1) < 1e-9 and drawn[0]["iteration"] == 100
    # pixels out of 0…16 are refused by the protocol; other data cannot be drawn
    with pytest.raises(ValueError):
        client_adapter.validate_python({"type": "draw", "pixels": [17.0] * 64})
    send(s, {"type": "draw", "pixels": [0.0] * 63})
    assert [m["field"] for m in ob.drain() if m["type"] == "error"] == ["pixels"]
    iris, ob2 = attached_session(dataset="iris")
    send(iris, {"type": "draw", "pixels": [0.0] * 4})
    assert [m["field"] for m in ob2.drain() if m["type"] == "error"] == ["pixels"]
