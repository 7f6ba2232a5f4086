"""Datasets and features: shapes, targets, splits, and seeds."""

from __future__ import annotations

import numpy as np
import pytest

from engine.data import DATASETS, FEATURES, REAL, Dataset, grid_points, make_dataset

GENERATED = [n for n in DATASETS if n not in ("single", "custom", "own") and n not in REAL]


@pytest.mark.parametrize("name", GENERATED)
def test_shapes_targets_and_split(name: str) -> None:
    task, k, dims = DATASETS[name]
    d = make_dataset(name, np.random.default_rng(0), n=120, noise=0.1, test_fraction=0.25)
    assert len(d.x_train) == 90 and len(d.x_test) == 30
    assert d.p_train.shape == (90, dims)
    assert d.task == task
    if task == "binary":
        assert d.t_train.shape == (90, 1)
        assert set(np.unique(d.t_train)) == {0.0, 1.0}
    elif task == "multiclass":
        assert d.t_train.shape == (90, k) and d.n_out == k
        np.testing.assert_array_equal(d.t_train.sum(axis=1), 1.0)
        assert (d.t_train.sum(axis=0) > 0).all()  # every class present
    else:
        assert d.t_train.shape == (90, 1)
    assert np.isfinite(d.x_train).all() and np.isfinite(d.t_train).all()


@pytest.mark.parametrize("name", GENERATED)
def test_same_seed_same_points_other_seed_other_points(name: str) -> None:
    a = make_dataset(name, np.random.default_rng(5), n=40, noise=0.2)
    b = make_dataset(name, np.random.default_rng(5), n=40, noise=0.2)
    c = make_dataset(name, np.random.default_rng(6), n=40, noise=0.2)
    assert a.x_train.tobytes() == b.x_train.tobytes()
    assert a.t_test.tobytes() == b.t_test.tobytes()
    assert not np.array_equal(a.p_train, c.p_train)


def test_targets_follow_the_geometry() -> None:
    d = make_dataset("xor", np.random.default_rng(1), n=200)
    p = np.vstack([d.p_train, d.p_test])
    t = np.vstack([d.t_train, d.t_test])[:, 0]
    np.testing.assert_array_equal(t, (p[:, 0] * p[:, 1] < 0).astype(float))
    d = make_dataset("circle", np.random.default_rng(1), n=200)
    r = np.hypot(d.p_train[:, 0], d.p_train[:, 1])
    assert (r[d.t_train[:, 0] == 1] < 2.5).all() and (r[d.t_train[:, 0] == 0] > 3.0).all()
    d = make_dataset("sine", np.random.default_rng(1), n=50)
    np.testing.assert_allclose(d.t_train[:, 0], np.sin(d.p_train[:, 0]))


def test_features_are_computed_from_the_raw_point() -> None:
    feats = tuple(FEATURES)
    d = make_dataset("gauss", np.random.default_rng(2), n=20, features=feats)
    p = d.p_train
    want = np.stack([p[:, 0], p[:, 1], p[:, 0] ** 2, p[:, 1] ** 2, p[:, 0] * p[:, 1],
                     np.sin(p[:, 0]), np.sin(p[:, 1])], axis=1)
    np.testing.assert_allclose(d.x_train, want)
    assert d.n_in == 7


def test_custom_points_and_their_errors() -> None:
    pts = [(0.0, 1.0, 1), (1.0, 0.0, 0), (2.0, 2.0, 1), (-1.0, -1.0, 0)]
    d = make_dataset("custom", np.random.default_rng(0), points=pts, test_fraction=0.25)
    assert len(d.x_train) == 3 and len(d.x_test) == 1
    all_p = np.vstack([d.p_train, d.p_test])
    assert sorted(map(tuple, all_p.tolist())) == sorted((a, b) for a, b, _ in pts)
    with pytest.raises(ValueError, match="at least two"):
        make_dataset("custom", np.random.default_rng(0), points=[(0.0, 0.0, 1)])
    with pytest.raises(ValueError, match="0 or 1"):
        make_dataset("custom", np.random.default_rng(0), points=[(0, 0, 1), (1, 1, 2)])


def test_bad_requests_are_named() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="unknown dataset"):
        make_dataset("mnist", rng)
    with pytest.raises(ValueError, match="unknown feature"):
        make_dataset("xor", rng, features=("x3",))
    # one-input datasets take x1 whatever the page had selected for 2-D data
    assert make_dataset("sine", rng, features=("x1", "x2")).features == ("x1",)
    with pytest.raises(ValueError, match="test_fraction"):
        make_dataset("xor", rng, test_fraction=1.0)


def test_from_arrays_infers_the_task() -> None:
    x = np.arange(8.0).reshape(4, 2)
    assert Dataset.from_arrays(x, [0, 1, 1, 0]).task == "binary"
    assert Dataset.from_arrays(x, np.eye(3)[[0, 1, 2, 0]]).task == "multiclass"
    assert Dataset.from_arrays(x, [0.5, 1.5, 2.0, 0.1]).task == "regression"
    with pytest.raises(ValueError, match="finite"):
        Dataset.from_arrays(x, [0, 1, np.nan, 0])


def test_grid_points_cover_the_square_row_major_from_the_top_left() -> None:
    g = grid_points(-1.0, 1.0, 3)
    assert g.shape == (9, 2)
    np.testing.assert_array_equal(g[0], [-1.0, 1.0])
    np.testing.assert_array_equal(g[-1], [1.0, -1.0])
    assert grid_points(0.0, 1.0, 5, dims=1).shape == (5, 1)
