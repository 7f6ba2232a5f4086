"""Real data: the small tabular datasets that ship inside scikit-learn.

Iris, wine, breast cancer, diabetes and the 8×8 handwritten digits are read
from the copies bundled in the ``scikit-learn`` package (nothing is
downloaded), once per process, and kept read-only: a run's split and
standardisation are made from them by :func:`engine.data.make_dataset`.

Each table is ``(X, y, columns)``: ``X`` (N, d) float64 features as the
package gives them (diabetes unscaled, ``scaled=False``: age in years, BMI,
blood pressure …; digits' pixels 0…16), ``y`` (N,) integer class labels or
regression values, and the column names.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

Array = np.ndarray


def _loaders() -> dict[str, Callable[[], Any]]:
    from sklearn import datasets as sk  # imported when first needed: it takes ~1 s

    return {
        "iris": sk.load_iris,
        "wine": sk.load_wine,
        "breast_cancer": sk.load_breast_cancer,
        "diabetes": lambda: sk.load_diabetes(scaled=False),
        "digits": sk.load_digits,
    }


@functools.cache
def table(name: str) -> tuple[Array, Array, tuple[str, ...]]:
    """The real dataset ``name`` as ``(X (N, d), y (N,), column names)``, read-only.

    Classification labels are int64 ``0 … K−1``; regression values float64."""
    loaders = _loaders()
    if name not in loaders:
        raise ValueError(f"no real dataset {name!r}; choose one of {sorted(loaders)}")
    bunch = loaders[name]()
    X = np.array(bunch.data, dtype=np.float64)
    y = np.array(bunch.target)
    y = y.astype(np.int64) if np.issubdtype(y.dtype, np.integer) else y.astype(np.float64)
    X.setflags(write=False)
    y.setflags(write=False)
    return X, y, tuple(str(c) for c in bunch.feature_names)


def standardizer(x_train: Array) -> tuple[Array, Array]:
    """Mean ``μ`` (d,) and scale ``s`` (d,) of the training columns, so that
    ``(x − μ) / s`` has mean 0 and standard deviation 1 (population sd, as
    scikit-learn's ``StandardScaler``); a constant column (a digit's corner
    pixel) gets ``s = 1``, so it becomes 0."""
    mu = x_train.mean(axis=0)
    sd = x_train.std(axis=0)
    return mu, np.where(sd > 1e-12, sd, 1.0)
