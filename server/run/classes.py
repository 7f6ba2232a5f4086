"""What a classification run's maps carry beside the map: the confusion matrix and the
examples the network gets wrong.

Both come from one evaluation-mode forward pass of the test split (the training split
when there is none), :func:`engine.metrics.classified_of`, so the counts, the mistakes
and each mistake's probability describe the same weights. The page shows the mistakes
of a run on a table (real data or a learner's CSV): each with its true class, the
class predicted, the output behind the guess (the predicted class's probability under
softmax or sigmoid) and its inputs in the table's own units, a digit's 64 pixels
(0…16) drawn as its picture, another table's first :data:`MAX_VALUES` columns.

Bounded like the rest of the maps message: at most :data:`MAX_SHOWN` examples of at
most 64 values each (≈ 1 500 numbers, ≈ 6 KB), and no work beyond the confusion
matrix's forward pass but a sort of the mistakes (``maps`` is paced by its measured
cost, :mod:`server.live.views`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engine import catalog, metrics
from engine.stepper import Stepper

Array = np.ndarray

#: mistakes sent with one maps message, at most
MAX_SHOWN = 24
#: columns sent for a table whose rows are not a picture (the page shows a few of them)
MAX_VALUES = 8


def _rounded(raw: Array, scale: Array) -> Array:
    """Rows ``raw`` (B, c) to 4 significant digits of each column's spread ``scale``
    (c,): a pixel (spread ≈ 5) to 0.001, so 5 − 1e-15 from undoing the standardisation
    is sent as 5.0; a tumour's area (spread ≈ 350) to 0.1."""
    out = np.empty_like(raw)
    for j in range(raw.shape[1]):
        decimals = 3 - math.floor(math.log10(scale[j])) if scale[j] > 0 else 3
        out[:, j] = np.round(raw[:, j], decimals) + 0.0  # (no −0.0)
    return out


def classes_body(st: Stepper, limit: int = MAX_SHOWN) -> dict[str, Any]:
    """``confusion`` (and for a table, ``misclassified``) for ``st``'s current weights,
    as fields of a ``maps`` message; empty for regression.

    ``misclassified``: ``split``, ``wrong`` (how many of the split are wrong in all),
    ``probability`` (whether ``p`` is a probability), ``columns`` (inputs per row),
    ``image`` (whether ``values`` are a picture's pixels) and ``examples``: at most
    ``limit`` rows chosen by :func:`engine.metrics.mistakes`, each ``index`` (into the
    split), ``true``, ``pred``, ``p`` and ``values`` (the row's inputs in the table's
    units, to 4 significant digits of the column's spread)."""
    d = st.data
    split = "test" if len(d.x_test) else "train"
    c = metrics.classified_of(st, split)
    if c is None:
        return {}
    body: dict[str, Any] = {"confusion": {"split": split, "counts": c.counts}}
    if not d.real:
        return body  # the toy planes show their points on the map itself
    rows = metrics.mistakes(c, limit)
    x = d.x_test if split == "test" else d.x_train
    image = catalog.entry("datasets", st.config.dataset).image is not None \
        and st.config.table is None
    width = d.n_in if image else min(d.n_in, MAX_VALUES)
    spread = d.x_scale[:width] if d.x_scale is not None else d.x_train[:, :width].std(axis=0)
    raw = _rounded(d.raw_from_inputs(x[rows])[:, :width], spread)
    body["misclassified"] = {
        "split": split, "wrong": int(len(c.truth) - np.trace(c.counts)),
        "probability": c.probability, "columns": d.n_in, "image": image,
        "examples": [{"index": int(i), "true": int(c.truth[i]), "pred": int(c.guess[i]),
                      "p": float(c.p[i]), "values": raw[k]}
                     for k, i in enumerate(rows)],
    }
    return body
