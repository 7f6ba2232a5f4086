"""Seeded toy datasets and input features.

Every generator draws from the ``numpy.random.Generator`` it is given, returns
raw points ``p`` of shape ``(N, d)`` (d = 2, or 1 for ``sine`` and
``single``) and targets. Classification targets are one column of 0/1 for two
classes, one-hot ``(N, K)`` for K > 2; regression targets are ``(N, 1)``.

Inputs fed to the network are *features* of the raw point, chosen from
x₁, x₂, x₁², x₂², x₁x₂, sin x₁, sin x₂ (as in TensorFlow Playground).

Real datasets (the catalog's ``real`` ones: iris … digits, :mod:`engine.realdata`)
are tables: every row is used, shuffled by the seed and split, and their
columns are the inputs as they are (``p_*`` is ``x_*`` to 3 decimals), standardised over the
training split when asked: ``x ← (x − μ_train) / s_train`` (and a regression
target likewise).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from engine import catalog, owndata, realdata

Array = np.ndarray

# each catalog feature's function of the raw points (N, d)
_FEATURE_FNS: dict[str, Callable[[Array], Array]] = {
    "x1": lambda p: p[:, 0],
    "x2": lambda p: p[:, 1],
    "x1^2": lambda p: p[:, 0] ** 2,
    "x2^2": lambda p: p[:, 1] ** 2,
    "x1x2": lambda p: p[:, 0] * p[:, 1],
    "sin_x1": lambda p: np.sin(p[:, 0]),
    "sin_x2": lambda p: np.sin(p[:, 1]),
}

#: feature name → its function of the raw points (N, d) → (N,), in the catalog's order
FEATURES: dict[str, Callable[[Array], Array]] = {
    f.name: _FEATURE_FNS[f.name] for f in catalog.FEATURES
}

#: dataset name → (task, number of classes or 1 for regression, raw input dims),
#: from engine/catalog.py
DATASETS: dict[str, tuple[str, int, int]] = {
    d.name: (d.task, d.classes, d.dims) for d in catalog.DATASETS
}
#: the real (tabular) datasets shipped with scikit-learn, by name (``own`` is a table too,
#: the learner's: :func:`table_dataset`)
REAL: frozenset[str] = frozenset(d.name for d in catalog.DATASETS if d.real and d.name != "own")


@dataclass
class Dataset:
    """A train/test split. ``p_*`` raw points (N, d), ``x_*`` features (N, n_in),
    ``t_*`` targets (N, K). ``real``: a table whose columns are the inputs
    (``p_*`` = ``x_*`` to 3 decimals, ``features`` the column names)."""

    name: str
    task: str
    n_classes: int
    features: tuple[str, ...]
    p_train: Array
    x_train: Array
    t_train: Array
    p_test: Array
    x_test: Array
    t_test: Array
    real: bool = False
    #: a table's standardisation: inputs are ``(raw − x_shift) / x_scale`` (None: as they are)
    x_shift: Array | None = None
    x_scale: Array | None = None

    def inputs_from_raw(self, raw: npt.ArrayLike) -> Array:
        """Network inputs (B, n_in) for rows ``raw`` (B, n_in) in the table's own units
        (a drawn digit's pixels, 0…16): standardised as the training split was."""
        x = np.array(raw, dtype=np.float64, ndmin=2)
        if x.shape[1] != self.n_in:
            raise ValueError(f"a row of this data has {self.n_in} values, not {x.shape[1]}")
        if self.x_shift is not None and self.x_scale is not None:
            x = (x - self.x_shift) / self.x_scale
        return x

    def targets_of(self, labels: npt.ArrayLike) -> Array:
        """Targets (B, K) of class indices ``labels`` (B,), as the training split's are:
        one-hot rows, or one 0/1 column for two classes (classification only)."""
        k = np.array(labels, dtype=np.int64, ndmin=1)
        if self.task == "regression":
            raise ValueError("a regression's targets are values, not classes")
        if k.ndim != 1 or ((k < 0) | (k >= self.n_classes)).any():
            raise ValueError(f"a class of this data is 0 … {self.n_classes - 1}")
        return _labels_to_targets(k, self.n_classes)

    def raw_from_inputs(self, x: npt.ArrayLike) -> Array:
        """Rows ``x`` (B, n_in) of network inputs back in the table's own units (a
        digit's pixels 0…16, iris's centimetres): ``x · x_scale + x_shift``, the inverse
        of :meth:`inputs_from_raw` (the inputs themselves when not standardised)."""
        rows = np.array(x, dtype=np.float64, ndmin=2)
        if self.x_shift is not None and self.x_scale is not None:
            rows = rows * self.x_scale + self.x_shift
        return rows

    @classmethod
    def from_arrays(
        cls, x: npt.ArrayLike, t: npt.ArrayLike, x_test: npt.ArrayLike | None = None,
        t_test: npt.ArrayLike | None = None,
        task: str | None = None, name: str = "arrays",
    ) -> Dataset:
        """A dataset from your own arrays: ``x`` (N, n_in) inputs, ``t`` (N, K) targets.

        ``task`` is ``binary`` (one 0/1 column), ``multiclass`` (one-hot rows)
        or ``regression``; when None it is read off ``t``. The inputs are used
        as they are (``features`` are named ``x1``, ``x2`` …, ``p_* = x_*``).
        """
        x = np.array(x, dtype=np.float64, ndmin=2)
        t = np.array(t, dtype=np.float64)
        if t.ndim == 1:
            t = t[:, None]
        if x.ndim != 2 or t.ndim != 2 or len(x) != len(t) or len(x) == 0:
            raise ValueError("x must be (N, n_in) and t (N, K) with the same N ≥ 1")
        if not (np.isfinite(x).all() and np.isfinite(t).all()):
            raise ValueError("x and t must be finite")
        if x_test is None or t_test is None:
            xt, tt = x[:0], t[:0]
        else:
            xt = np.array(x_test, dtype=np.float64, ndmin=2).reshape(-1, x.shape[1])
            tt = np.array(t_test, dtype=np.float64).reshape(-1, t.shape[1])
        if task is None:
            binary = bool(((t == 0.0) | (t == 1.0)).all())
            if binary and t.shape[1] == 1:
                task = "binary"
            elif binary and (t.sum(axis=1) == 1.0).all():
                task = "multiclass"
            else:
                task = "regression"
        if task not in catalog.TASKS:
            raise ValueError("task must be binary, multiclass or regression")
        k = t.shape[1] if task == "multiclass" else (2 if task == "binary" else 1)
        feats = tuple(f"x{i + 1}" for i in range(x.shape[1]))
        return cls(name, task, k, feats, x, x, t, xt, xt, tt)

    @property
    def n_in(self) -> int:
        """Network input width (number of features)."""
        return int(self.x_train.shape[1])

    @property
    def n_out(self) -> int:
        """Network output width: 1 for binary and regression, K for multiclass."""
        return int(self.t_train.shape[1])


def _labels_to_targets(labels: Array, k: int) -> Array:
    if k == 2:
        return labels.astype(np.float64)[:, None]
    return np.eye(k)[labels]


def _spiral(n: int, k: int, noise: float, rng: np.random.Generator) -> tuple[Array, Array]:
    labels = np.arange(n) % k
    r = rng.uniform(0.0, 1.0, n) ** 0.5 * 5.0
    theta = r * 1.75 + labels * 2 * np.pi / k
    p = np.stack([r * np.sin(theta), r * np.cos(theta)], axis=1)
    return p + rng.normal(0.0, noise * 0.5 + 1e-12, p.shape), labels


def _raw(name: str, n: int, noise: float, rng: np.random.Generator) -> tuple[Array, Array]:
    """Raw points (n, d) and labels (classification) or values (regression)."""
    if name == "xor":
        p = rng.uniform(-5, 5, (n, 2))
        p += np.sign(p) * 0.3  # keep points off the axes, as Playground does
        p += rng.normal(0, noise, p.shape)
        return p, ((p[:, 0] * p[:, 1]) < 0).astype(np.int64)
    if name == "circle":
        inner = np.arange(n) % 2 == 0
        r = np.where(inner, rng.uniform(0, 2.0, n), rng.uniform(3.5, 5.0, n))
        ang = rng.uniform(0, 2 * np.pi, n)
        p = np.stack([r * np.sin(ang), r * np.cos(ang)], axis=1) + rng.normal(0, noise, (n, 2))
        return p, inner.astype(np.int64)
    if name == "gauss":
        labels = np.arange(n) % 2
        centers = np.where(labels[:, None] == 1, 2.0, -2.0)
        return centers + rng.normal(0, 1.0 + noise, (n, 2)), labels
    if name == "moons":
        labels = np.arange(n) % 2
        ang = rng.uniform(0, np.pi, n)
        p = np.where(
            labels[:, None] == 0,
            np.stack([np.cos(ang), np.sin(ang)], 1),
            np.stack([1 - np.cos(ang), 0.5 - np.sin(ang)], 1),
        )
        p = (p - [0.5, 0.25]) * 3.0
        return p + rng.normal(0, noise, (n, 2)), labels
    if name.startswith("blobs"):
        k = int(name[5:])
        labels = np.arange(n) % k
        ang = 2 * np.pi * np.arange(k) / k
        centers = 3.0 * np.stack([np.cos(ang), np.sin(ang)], 1)
        return centers[labels] + rng.normal(0, 0.8 + noise, (n, 2)), labels
    if name == "spiral" or name.startswith("spiral"):
        k = 2 if name == "spiral" else int(name[6:])
        return _spiral(n, k, noise, rng)
    if name == "sine":
        p = rng.uniform(-np.pi, np.pi, (n, 1))
        return p, np.sin(p[:, 0]) + rng.normal(0, noise * 0.1, n)
    if name == "plane":
        p = rng.uniform(-5, 5, (n, 2))
        return p, (p[:, 0] + p[:, 1]) / 10 + rng.normal(0, noise * 0.1, n)
    raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}")


def make_dataset(
    name: str,
    rng: np.random.Generator,
    n: int = 200,
    noise: float = 0.0,
    test_fraction: float = 0.5,
    features: tuple[str, ...] = ("x1", "x2"),
    points: list[tuple[float, float, int]] | None = None,
    standardize: bool = True,
) -> Dataset:
    """Draw ``n`` points of ``name`` and split them, the first part for training.

    ``single`` is the textbook single neuron: inputs 0 and 1 with targets 0 and
    1, the same two samples for training and test. ``custom`` uses ``points``
    given as ``(x₁, x₂, label)``. A real dataset uses all its rows in an order
    drawn from ``rng`` (``n``, ``noise`` and ``features`` do not apply), its
    columns standardised over the training part when ``standardize``.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}")
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError("test_fraction must be in [0, 1)")
    task, k, dims = DATASETS[name]
    if name == "own":
        raise ValueError("own data needs its table: engine.data.table_dataset")
    if name in REAL:
        return _real(name, rng, test_fraction, standardize)
    if name == "single":
        p = np.array([[0.0], [1.0]])
        t = np.array([[0.0], [1.0]])
        return Dataset(name, task, 1, ("x1",), p, p.copy(), t, p.copy(), p.copy(), t.copy())
    if name == "custom":
        if not points or len(points) < 2:
            raise ValueError("a custom dataset needs at least two points")
        arr = np.asarray(points, dtype=np.float64)
        p, labels = arr[:, :2], arr[:, 2].astype(np.int64)
        if not np.isin(labels, (0, 1)).all():
            raise ValueError("custom point labels must be 0 or 1")
        order = rng.permutation(len(p))
        p, labels = p[order], labels[order]
    else:
        if n < 4:
            raise ValueError("a dataset needs at least 4 points")
        p, labels = _raw(name, n, noise, rng)
        order = rng.permutation(n)
        p, labels = p[order], labels[order]
    if dims == 1:
        features = ("x1",)
    for f in features:
        if f not in FEATURES:
            raise ValueError(f"unknown feature {f!r}; choose from {list(FEATURES)}")
        if dims == 1 and f != "x1":
            raise ValueError(f"{name} has one input; only x1 applies")
    if not features:
        raise ValueError("choose at least one input feature")
    x = np.stack([FEATURES[f](p) for f in features], axis=1)
    t = _labels_to_targets(labels, k) if task != "regression" else labels[:, None]
    n_test = round(len(p) * test_fraction)
    n_train = max(len(p) - n_test, 1)
    return Dataset(
        name, task, k if task != "regression" else 1, tuple(features),
        p[:n_train], x[:n_train], t[:n_train], p[n_train:], x[n_train:], t[n_train:],
    )


def _real(name: str, rng: np.random.Generator, test_fraction: float,
          standardize: bool) -> Dataset:
    """A real table shuffled by ``rng`` and split; see :func:`make_dataset`."""
    task, k, _ = DATASETS[name]
    X, y, columns = realdata.table(name)
    return _split_table(name, task, k, columns, X, y, rng, test_fraction, standardize)


def table_dataset(table: owndata.Table, rng: np.random.Generator, test_fraction: float = 0.5,
                  standardize: bool = True, name: str = "own") -> Dataset:
    """A learner's own table (:func:`engine.owndata.parse_csv`) as a dataset, made as the
    real ones are: rows in an order drawn from ``rng``, split, standardised over the
    training part when ``standardize``; ``features`` are its column names."""
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError("test_fraction must be in [0, 1)")
    k = len(table.labels) if table.labels is not None else 1
    return _split_table(name, table.task, k, table.columns, table.x, table.y, rng,
                        test_fraction, standardize)


def _split_table(name: str, task: str, k: int, columns: tuple[str, ...], X: Array, y: Array,
                 rng: np.random.Generator, test_fraction: float,
                 standardize: bool) -> Dataset:
    """Table ``X`` (N, d) with labels or values ``y`` (N,), shuffled by ``rng``, split
    and standardised over the training part when asked."""
    order = rng.permutation(len(X))
    x, labels = X[order], y[order]
    n_test = round(len(x) * test_fraction)
    n_train = max(len(x) - n_test, 1)
    if task == "regression":
        t = labels.astype(np.float64)[:, None]
        if standardize:
            mu_t, s_t = realdata.standardizer(t[:n_train])
            t = (t - mu_t) / s_t
    else:
        t = _labels_to_targets(labels, k)
    mu = s = None
    if standardize:
        mu, s = realdata.standardizer(x[:n_train])
        x = (x - mu) / s
    # the points a map draws: the inputs to 3 decimals (a third of the bytes on the wire
    # for the 115 000 numbers of digits, and no visible difference)
    p = np.round(x, 3)
    return Dataset(
        name, task, k if task != "regression" else 1, columns,
        p[:n_train], x[:n_train], t[:n_train], p[n_train:], x[n_train:], t[n_train:],
        real=True, x_shift=mu, x_scale=s,
    )


def telling_columns(data: Dataset) -> tuple[int, int]:
    """The two input columns that tell the targets apart best, for a map of data with
    more than two inputs: classification, the largest share of a column's variance
    that lies between the class means (η² = Σ_k n_k (μ_k − μ)² / Σ (x − μ)²; iris:
    petal length and width); regression, the largest squared correlation with the
    target. Training rows only; (0, 1) when there are fewer than three columns."""
    x, t = data.x_train, data.t_train
    if x.shape[1] < 3:
        return (0, 1)
    var = ((x - x.mean(axis=0)) ** 2).sum(axis=0)
    if data.task == "regression":
        tc = t[:, 0] - t[:, 0].mean()
        cov = ((x - x.mean(axis=0)) * tc[:, None]).sum(axis=0)
        score = np.divide(cov**2, var * (tc @ tc), out=np.zeros_like(var),
                          where=var * (tc @ tc) > 0)
    else:
        labels = t[:, 0] >= 0.5 if t.shape[1] == 1 else t.argmax(axis=1)
        between = np.zeros_like(var)
        for k in np.unique(labels):
            rows = x[labels == k]
            between += len(rows) * (rows.mean(axis=0) - x.mean(axis=0)) ** 2
        score = np.divide(between, var, out=np.zeros_like(var), where=var > 0)
    i, j = np.argsort(-score, kind="stable")[:2]
    return (int(min(i, j)), int(max(i, j)))


def grid_points(lo: float, hi: float, size: int, dims: int = 2) -> Array:
    """A ``size``×``size`` grid over [lo, hi]² as rows (size², 2), row-major from
    the top-left (y descending), or ``size`` points (size, 1) when ``dims`` is 1."""
    xs = np.linspace(lo, hi, size)
    if dims == 1:
        return xs[:, None]
    gx, gy = np.meshgrid(xs, xs[::-1])
    return np.stack([gx.ravel(), gy.ravel()], axis=1)
