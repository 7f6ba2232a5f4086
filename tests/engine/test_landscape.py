"""engine.landscape: the loss over a slice of weight space, its directions, the
projection of a path and the next step — each checked against the engine doing the
same thing directly."""

from __future__ import annotations

import numpy as np
import pytest

from engine import landscape as ls
from engine import losses
from engine.config import RunConfig
from engine.stepper import Stepper

CONFIGS = {
    # the classroom default: tanh, sigmoid + bce
    "xor": RunConfig(),
    # ReLU, softmax + cross-entropy, batch norm (running statistics), dropout, a
    # residual layer and an L2 term
    "blobs": RunConfig(dataset="blobs3", hidden=(5, 5), activation="relu", norm="batch",
                       dropout=0.3, residual=True, l2=0.01, batch_size=16),
    # regression: mse, layer norm, GELU, an L1 term
    "sine": RunConfig(dataset="sine", hidden=(6, 6), activation="gelu", norm="layer",
                      residual=True, l1=0.003),
}


def trained(name: str, n: int = 30) -> Stepper:
    st = Stepper(CONFIGS[name])
    st.train(n)
    return st


def direct_loss(st: Stepper, theta: np.ndarray) -> float:
    """L(θ) the plain way: a copy of the run's network given θ, its evaluation forward
    on the training set, the loss's mean, the L1/L2 term."""
    net = st.net.copy()
    layout = ls.Layout.of(net.params)
    for k, v in layout.arrays(theta.copy()).items():
        net.params[k] = v
    out = net.forward(st.data.x_train, train=False)[-1]
    value = losses.compute(net.spec.loss, out.z, out.a, st.data.t_train, None).mean
    return value + net.penalty(st.config.l1, st.config.l2)


def current_loss(st: Stepper) -> float:
    """The run's own training-set loss now (the charts' train loss) plus its L1/L2 term."""
    return st.evaluate(st.data.x_train, st.data.t_train)[0] + st.regularization()


@pytest.mark.parametrize("name", list(CONFIGS))
def test_grid_values_are_the_loss_at_those_points(name: str) -> None:
    st = trained(name)
    plane = ls.random_plane(st.net.params, st.config.seed)
    ev = ls.Evaluator(st.net, st.data.x_train, st.data.t_train, st.config.l1, st.config.l2)
    size, span = 9, 0.8
    grid = ev.grid(plane, size, span)
    assert grid.shape == (size, size)
    ax = ls.grid_axis(size, span)
    assert ax[0] == -span and ax[-1] == span and ax[size // 2] == 0.0
    # row i is β = ax[::-1][i] (top = +span), column j is α = ax[j]
    for i, j in [(0, 0), (0, size - 1), (size - 1, 0), (2, 6), (7, 3), (4, 1)]:
        theta = plane.at(ax[j], ax[::-1][i])
        want = direct_loss(st, theta)
        assert grid[i, j] == pytest.approx(want, rel=1e-12, abs=1e-15)
        assert ev.loss(theta) == want  # one point: the engine's own forward, bit for bit
    assert np.isfinite(grid).all()
    assert len(set(np.round(grid.ravel(), 12))) > size  # a surface, not a constant


@pytest.mark.parametrize("name", list(CONFIGS))
def test_the_centre_is_the_current_loss_and_nothing_of_the_run_moves(name: str) -> None:
    st = trained(name)
    before = st.snapshot()
    plane = ls.random_plane(st.net.params, st.config.seed)
    ev = ls.Evaluator(st.net, st.data.x_train, st.data.t_train, st.config.l1, st.config.l2)
    grid = ev.grid(plane, 11, 1.0)
    now = current_loss(st)
    assert ev.loss(plane.center) == now
    assert grid[5, 5] == pytest.approx(now, rel=1e-13)
    # the run is untouched: weights, batch norm's running statistics, generators
    after = st.snapshot()
    for k, v in before["params"].items():
        np.testing.assert_array_equal(after["params"][k], v)
    for k, v in before["buffers"].items():
        np.testing.assert_array_equal(after["buffers"][k], v)
    assert after["dropout_rng"] == before["dropout_rng"]
    assert after["shuffle_rng"] == before["shuffle_rng"]


def test_directions_are_the_seeds_alone() -> None:
    a, b = trained("xor", 0), trained("xor", 40)  # same seed, other weights
    la = ls.Layout.of(a.net.params)
    r1, r2 = ls.raw_directions(la, 1)
    s1, s2 = ls.raw_directions(ls.Layout.of(b.net.params), 1)
    np.testing.assert_array_equal(r1, s1)
    np.testing.assert_array_equal(r2, s2)
    assert not np.allclose(r1, r2)
    other, _ = ls.raw_directions(la, 2)
    assert not np.allclose(r1, other)
    # the same run point gives the same plane, for anyone
    p1 = ls.random_plane(b.net.params, 1)
    p2 = ls.random_plane(trained("xor", 40).net.params, 1)
    np.testing.assert_array_equal(p1.d1, p2.d1)
    np.testing.assert_array_equal(p1.d2, p2.d2)
    assert p1.axes == ("random1", "random2")


def test_drawing_directions_does_not_change_the_run() -> None:
    a, b = Stepper(RunConfig(dropout=0.2)), Stepper(RunConfig(dropout=0.2))
    a.train(5)
    b.train(5)
    ls.random_plane(a.net.params, a.config.seed)
    ls.next_step(a)
    a.train(7)
    b.train(7)
    for k in a.net.params:
        np.testing.assert_array_equal(a.net.params[k], b.net.params[k])


def test_random_directions_are_filter_normalized() -> None:
    st = trained("blobs")
    params = st.net.params
    plane = ls.random_plane(params, st.config.seed)
    for d in (plane.d1, plane.d2):
        arrays = plane.layout.arrays(d)
        for k, v in arrays.items():
            if k.endswith(".W"):
                np.testing.assert_allclose(np.linalg.norm(v, axis=0),
                                           np.linalg.norm(params[k], axis=0), rtol=1e-9)
            else:  # biases, γ and β: 0, as Li et al. do by default
                assert not v.any(), k


def test_step_plane_puts_the_last_step_on_the_first_axis() -> None:
    st = trained("xor", 20)
    layout = ls.Layout.of(st.net.params)
    prev = layout.flat(st.net.params)
    st.train(1)
    now = layout.flat(st.net.params)
    plane = ls.step_plane(st.net.params, now - prev, st.config.seed)
    assert plane.axes == ("step", "across")
    assert abs(plane.d1 @ plane.d2) < 1e-12 * (plane.d1 @ plane.d1)
    np.testing.assert_allclose(np.linalg.norm(plane.d1), np.linalg.norm(now), rtol=1e-12)
    (alpha, beta), = plane.project(prev[None, :])
    assert alpha == pytest.approx(-np.linalg.norm(now - prev) / np.linalg.norm(now), rel=1e-9)
    assert abs(beta) < 1e-12
    assert plane.in_plane(now - prev) == pytest.approx(1.0)
    # no step yet: the random plane
    assert ls.step_plane(st.net.params, np.zeros(layout.size), 1).axes == ("random1", "random2")


def test_weight_plane_moves_two_entries_and_projects_to_their_changes() -> None:
    st = trained("xor", 10)
    plane = ls.weight_plane(st.net.params, ("L1.W", (0, 1)), ("L2.b", (0,)))
    assert plane.axes == ("L1.W[0,1]", "L2.b[0]")
    ev = ls.Evaluator(st.net, st.data.x_train, st.data.t_train)
    grid = ev.grid(plane, 5, 0.5)
    moved = st.net.copy()
    moved.params["L1.W"] = moved.params["L1.W"].copy()
    moved.params["L1.W"][0, 1] += 0.5
    moved.params["L2.b"] = moved.params["L2.b"].copy()
    moved.params["L2.b"][0] -= 0.25
    out = moved.forward(st.data.x_train, train=False)[-1]
    want = losses.compute(moved.spec.loss, out.z, out.a, st.data.t_train, None).mean
    assert grid[3, 4] == pytest.approx(want, rel=1e-12)  # α = +0.5, β = −0.25
    w0, b0 = float(st.net.params["L1.W"][0, 1]), float(st.net.params["L2.b"][0])
    later = st.net.params
    st2 = trained("xor", 15)
    (a, b), = plane.project(plane.layout.flat(st2.net.params)[None, :])
    assert a == pytest.approx(st2.net.params["L1.W"][0, 1] - w0, abs=1e-15)
    assert b == pytest.approx(st2.net.params["L2.b"][0] - b0, abs=1e-15)
    assert later is st.net.params
    with pytest.raises(ValueError, match="not an entry"):
        ls.weight_plane(st.net.params, ("L1.W", (5, 0)), ("L2.b", (0,)))
    with pytest.raises(ValueError, match="different"):
        ls.weight_plane(st.net.params, ("L2.b", (0,)), ("L2.b", (0,)))


@pytest.mark.parametrize("config", [RunConfig(), RunConfig(optimizer="adam", lr=0.01,
                                                           dropout=0.2, clip_norm=0.5)])
def test_next_step_is_the_update_the_run_then_makes(config: RunConfig) -> None:
    st = Stepper(config)
    st.train(12)
    before = {k: v.copy() for k, v in st.net.params.items()}
    step = ls.next_step(st)
    assert step is not None
    for k, v in before.items():  # not moved by asking
        np.testing.assert_array_equal(st.net.params[k], v)
    recs = st.step_iteration()
    update = recs[-1].values
    for k, v in before.items():
        # the displacement itself, bit for bit; the record's step (p_new = p + step) to
        # the rounding of that sum
        np.testing.assert_array_equal(st.net.params[k] - v, step[k])
        np.testing.assert_allclose(update[f"{k}.step"], step[k], rtol=1e-9, atol=1e-15)


def test_next_step_needs_an_iteration_boundary() -> None:
    st = Stepper(RunConfig())
    st.step_phase()
    with pytest.raises(ValueError, match="between iterations"):
        ls.next_step(st)


def test_grid_sizes_are_odd() -> None:
    with pytest.raises(ValueError, match="odd"):
        ls.grid_axis(10, 1.0)


def test_layout_round_trip() -> None:
    st = trained("blobs", 3)
    layout = ls.Layout.of(st.net.params)
    theta = layout.flat(st.net.params)
    assert theta.shape == (layout.size,)
    for k, v in layout.arrays(theta).items():
        np.testing.assert_array_equal(v, st.net.params[k])
    assert theta[layout.position("L2.W", (1, 3))] == st.net.params["L2.W"][1, 3]
