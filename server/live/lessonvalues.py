"""What a lesson's expressions read (docs/lessons.md, Expressions): the run's values now.

:func:`values_now` gathers them for one check or goal of the session's lesson desk
(:mod:`server.live.lessons`): the current iteration's records, the weights, the
metrics, the counters, the inputs' spreads, the run before's ``prev_…`` values
and the drawing's outputs. :func:`stock_picture` is the picture a ``learn``
action learns when the learner has drawn none; :func:`shown` and :func:`plain`
write a checked number for the explanation and for the wire.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from engine import metrics, probe
from engine.stepper import Stepper
from server.lessons import Lesson, Step
from server.live.views import SessionViews


def values_now(st: Stepper, views: SessionViews,
               m: dict[str, Any] | None = None,
               before: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a lesson's expression may read: every id of the current iteration's phase
    records, the weights now (``L1.W`` …), the metrics (``train_loss``, ``gnorm`` …;
    ``m`` if already collected), ``iteration``, ``epoch``; the inputs' ``spread`` (d,):
    each input's standard deviation over the training split as the network gets it
    (1 when standardised) and ``raw_spread`` (d,) in the data's own units (a CSV
    column's); ``before``'s ``prev_…`` values (:meth:`LessonDesk.values`) and, while
    the learner has a drawing on the pad, ``drawn`` (K,): the network's outputs for it
    now (the ``drawn`` message's; after a ``learn`` the loss record's ``y`` is them
    before its update)."""
    out: dict[str, Any] = dict(before or {})
    for rec in views.capture.phases.values():
        out.update(rec)
    out.update(st.net.params)
    out.update({k: v for k, v in (m if m is not None else metrics.collect(st)).items()})
    out["iteration"] = st.iteration
    out["epoch"] = st.epoch
    d = st.data
    out["spread"] = np.std(d.x_train, axis=0)
    out["raw_spread"] = np.std(d.raw_from_inputs(d.x_train), axis=0)
    if views.drawing is not None:
        out["drawn"] = probe.predict(st.net, st.data.inputs_from_raw([views.drawing]))[0]
    return out


def stock_picture(st: Stepper, label: int) -> list[float]:
    """The first training picture of class ``label`` in the data's own units (a digit's
    pixels 0…16), for a ``learn`` action when the learner has drawn nothing."""
    d = st.data
    rows = np.flatnonzero(metrics.predicted_classes(d.task, d.t_train) == label)
    if len(rows) == 0:
        raise ValueError(f"no training picture of class {label}")
    raw = np.clip(np.rint(d.raw_from_inputs(d.x_train[rows[0]])[0]), 0.0, 16.0)
    return [float(v) for v in raw]



def reads_prev(steps: Sequence[Step]) -> bool:
    """Whether an expression of ``steps`` reads a ``prev_…`` value (the run before)."""
    return any(name.startswith("prev_") for s in steps
               for _, e in Lesson.expressions_of(s) for name in e.names)


def shown(v: float) -> str:
    """``v`` written as the page writes a revealed value (``sig(v, 4)`` in
    static/js/format.js), so the explanation's number reads the same as the one beside
    it: 4 significant digits, an exponent outside [1e-3, 1e5) (``7.285e−4``, ``2.963e5``),
    and the minus sign U+2212."""
    if not math.isfinite(v):
        text = str(v)
    elif v == 0:
        text = "0"
    elif 1e-3 <= abs(v) < 1e5:
        x = float(f"{v:.3e}")  # rounded to 4 significant digits, written shortest
        text = str(int(x)) if x.is_integer() else repr(x)
    else:
        mantissa, exponent = f"{v:.3e}".split("e")
        text = f"{mantissa}e{int(exponent)}"
    return text.replace("-", "\u2212")


def plain(v: Any) -> Any:
    """A value for the wire: a number, or nested lists of numbers."""
    a = np.asarray(v, dtype=float)
    return float(a.reshape(())) if a.size == 1 else a.tolist()
