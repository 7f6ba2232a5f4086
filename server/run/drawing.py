"""A learner's drawing as data: what ``draw`` and ``learn`` may be given, and the one-row
batch a ``learn`` command gives the next iteration.

A drawing is a picture's pixels in the dataset's own units (digits: 64 values 0…16,
row by row, as scikit-learn downsampled its digits). ``learn`` runs one iteration on
it with a class the learner chose: the batch is the drawing standardised exactly as
the training split was (:meth:`engine.data.Dataset.inputs_from_raw`) and that class's
target (:meth:`engine.data.Dataset.targets_of`): ``x`` (1, n_in), ``t`` (1, K). The
command keeps the raw pixels and the class (small in a run file) and the batch is
rebuilt from them on every replay, by the engine's arithmetic, so a rewind, a reload,
a run file and a class's copy give the same numbers bit for bit.

A drawing that cannot be learned raises :class:`DrawingError`, whose ``reason`` the
page words in the learner's language (``docs/protocol.md``, ``learn``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from engine import catalog
from engine.stepper import Stepper

Array = np.ndarray

#: a ``learn`` command's share of a run's change budget (``server.run.history.MAX_COMMANDS``):
#: its 64 pixels make it about three ``set``s long in a run file, so a run of as many
#: changes as allowed still loads within the default ``max_message_bytes``
LEARN_WEIGHT = 3


class DrawingError(ValueError):
    """A drawing (and class) this run cannot take: ``reason`` is ``not_picture`` (the
    run's inputs are not a picture), ``size`` (another number of pixels), ``label``
    (no such class) or ``value`` (a pixel that is not a finite number); ``field``
    names the message's part and ``counts`` the numbers the page's words need."""

    def __init__(self, message: str, reason: str, field: str, **counts: int) -> None:
        super().__init__(message)
        self.reason = reason
        self.field = field
        self.counts = counts


def check_pixels(st: Stepper, pixels: Sequence[float]) -> tuple[float, ...]:
    """``pixels`` if the run's inputs are a picture of that many values (finite ones);
    else :class:`DrawingError`."""
    ds = catalog.entry("datasets", st.config.dataset)
    if ds.image is None or st.config.table is not None:
        raise DrawingError("drawing needs data whose inputs are a picture (digits)",
                           "not_picture", "pixels")
    n = st.data.n_in
    if len(pixels) != n:
        raise DrawingError(f"a drawing of this data has {n} pixels, not {len(pixels)}",
                           "size", "pixels", expected=n, found=len(pixels))
    values = tuple(float(v) for v in pixels)
    if not all(np.isfinite(values)):
        raise DrawingError("every pixel must be a finite number", "value", "pixels")
    return values


def check_learn(st: Stepper, pixels: Sequence[float], label: int) -> dict[str, Any]:
    """The data of a ``learn`` command, ``{"pixels", "label"}``, for a drawing and class
    the run can take (:func:`check_pixels`, and ``label`` one of its classes); else
    :class:`DrawingError`."""
    values = check_pixels(st, pixels)
    k = st.data.n_classes
    if not 0 <= label < k:
        raise DrawingError(f"this data's classes are 0 … {k - 1}, not {label}", "label",
                           "label", found=label, limit=k - 1)
    return {"pixels": values, "label": int(label)}


def learn_batch(st: Stepper, data: dict[str, Any]) -> tuple[Array, Array]:
    """The one-row batch of a ``learn`` command: ``x`` (1, n_in) = (pixels − μ_train) /
    s_train, ``t`` (1, K) the class's one-hot target."""
    x = st.data.inputs_from_raw([data["pixels"]])
    t = st.data.targets_of([data["label"]])
    return x, t


def learn_wire(data: dict[str, Any]) -> dict[str, Any]:
    """A ``learn`` command's JSON form: whole pixels as integers (a drawing's are counts
    0…16), so a run file stays small."""
    return {"pixels": [int(v) if float(v).is_integer() else v for v in data["pixels"]],
            "label": data["label"]}
