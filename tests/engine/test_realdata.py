"""Real data from scikit-learn's bundled copies: split by the seed, standardised over the
training part, and learnable by the lab's own networks in a few hundred iterations."""

from __future__ import annotations

import time

import numpy as np
import pytest
from sklearn import datasets as sk

from engine import catalog, metrics
from engine.config import RunConfig
from engine.data import REAL, telling_columns
from engine.stepper import Stepper

#: name → (rows, columns) as scikit-learn ships them
SHAPES = {"iris": (150, 4), "wine": (178, 13), "breast_cancer": (569, 30),
          "diabetes": (442, 10), "digits": (1797, 64)}


def test_the_catalog_offers_the_five_real_datasets_with_their_shapes() -> None:
    real = {d.name: d for d in catalog.DATASETS if d.real and d.name != "own"}
    assert set(real) == set(SHAPES) == REAL
    for name, (_, cols) in SHAPES.items():
        assert real[name].dims == cols
    assert (real["iris"].classes, real["digits"].classes, real["wine"].classes) == (3, 10, 3)
    assert real["diabetes"].task == "regression" and real["breast_cancer"].task == "binary"


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_every_row_is_used_split_as_asked_and_the_seed_decides_the_order(name: str) -> None:
    rows, cols = SHAPES[name]
    d = Stepper(RunConfig(dataset=name, test_fraction=0.25, seed=3)).data
    assert d.real and d.n_in == cols and len(d.features) == cols
    assert len(d.x_test) == round(rows * 0.25) and len(d.x_train) + len(d.x_test) == rows
    again = Stepper(RunConfig(dataset=name, test_fraction=0.25, seed=3)).data
    other = Stepper(RunConfig(dataset=name, test_fraction=0.25, seed=4)).data
    assert np.array_equal(d.x_train, again.x_train)
    assert not np.array_equal(d.x_train, other.x_train)
    # the points a map draws are the inputs, to 3 decimals
    assert np.abs(d.p_train - d.x_train).max() <= 5e-4


def test_standardised_columns_have_mean_0_and_sd_1_over_the_training_split() -> None:
    d = Stepper(RunConfig(dataset="wine")).data
    assert np.allclose(d.x_train.mean(axis=0), 0, atol=1e-12)
    assert np.allclose(d.x_train.std(axis=0), 1)
    raw = Stepper(RunConfig(dataset="wine", standardize=False)).data
    X = sk.load_wine().data
    assert sorted(map(tuple, np.concatenate([raw.x_train, raw.x_test]))) == sorted(map(tuple, X))
    assert raw.x_train.max() > 1000  # proline, as measured: why standardising matters
    digits = Stepper(RunConfig(dataset="digits")).data
    assert np.isfinite(digits.x_train).all()  # a pixel that is always 0 stays 0
    target = Stepper(RunConfig(dataset="diabetes")).data.t_train
    assert abs(target.mean()) < 1e-12 and abs(target.std() - 1) < 1e-12


def test_iris_map_axes_are_the_petal_columns() -> None:
    d = Stepper(RunConfig(dataset="iris")).data
    assert [d.features[i] for i in telling_columns(d)] == ["petal length (cm)",
                                                           "petal width (cm)"]


#: name → (settings, iterations, the least test score): accuracy, or for diabetes the
#: share of the target's variance explained (1 − 2·loss, the loss being ½ MSE of a
#: standardised target)
LEARNS = {
    "iris": (dict(hidden=(8,), optimizer="adam", lr=0.03, batch_size=16), 200, 0.90),
    "wine": (dict(hidden=(8,), optimizer="adam", lr=0.03, batch_size=16), 200, 0.90),
    "breast_cancer": (dict(hidden=(8,), optimizer="adam", lr=0.01, batch_size=32), 200, 0.90),
    "digits": (dict(hidden=(32,), optimizer="adam", lr=0.01, batch_size=32), 300, 0.85),
    "diabetes": (dict(hidden=(8,), optimizer="adam", lr=0.01, batch_size=32), 300, 0.35),
}


@pytest.mark.parametrize("name", sorted(LEARNS))
def test_each_real_dataset_trains_to_a_sensible_test_score(name: str) -> None:
    settings, n, least = LEARNS[name]
    st = Stepper(RunConfig(dataset=name, activation="relu", seed=1, **settings))
    t0 = time.perf_counter()
    st.train(n)
    assert time.perf_counter() - t0 < 3.0  # the lean loop: fast enough for a lesson
    loss, acc = st.evaluate(st.data.x_test, st.data.t_test)
    score = 1 - 2 * loss if acc is None else acc
    assert score >= least, f"{name}: test score {score:.3f} after {n} iterations"


def _count(truth: np.ndarray, guess: np.ndarray, k: int) -> np.ndarray:
    """The confusion matrix counted one sample at a time."""
    out = np.zeros((k, k), dtype=np.int64)
    for i, j in zip(truth, guess, strict=True):
        out[i, j] += 1
    return out


@pytest.mark.parametrize("name", ["iris", "breast_cancer", "digits"])
def test_the_confusion_matrix_counts_each_test_sample_once(name: str) -> None:
    st = Stepper(RunConfig(dataset=name, hidden=(16,), optimizer="adam", lr=0.01))
    st.train(50)
    d = st.data
    c = metrics.confusion_of(st, "test")
    assert c is not None and c.shape == (d.n_classes, d.n_classes)
    y = st.net.predict(d.x_test)
    if d.task == "binary":
        truth, guess = d.t_test[:, 0].astype(int), (y[:, 0] >= 0.5).astype(int)
    else:
        truth, guess = d.t_test.argmax(axis=1), y.argmax(axis=1)
    assert np.array_equal(c, _count(truth, guess, d.n_classes))
    assert c.sum() == len(d.x_test)
    _, acc = st.evaluate(d.x_test, d.t_test)
    assert np.trace(c) / c.sum() == pytest.approx(acc)


def test_regression_has_no_confusion_matrix() -> None:
    assert metrics.confusion_of(Stepper(RunConfig(dataset="diabetes"))) is None
