"""Per-iteration training health: the numbers a learner charts to see a run.

:func:`collect` gives, for the current weights and the last completed
iteration of a :class:`~engine.stepper.Stepper`:

* ``train_loss``, ``test_loss`` — mean data loss over the whole split in
  evaluation mode (no dropout, batch-norm running statistics);
  ``train_acc``, ``test_acc`` — accuracy (None for regression);
* ``batch_loss`` — the last iteration's own data loss: its batch, in training
  mode, with the weights *before* its update (the loss record's ``loss.data``;
  with the whole training set as the batch and no dropout or norm it equals
  the previous iteration's ``train_loss``); None before the first iteration;
* per layer l = 1…n (lists of length n):

  - ``gnorm``: ‖∂L/∂W_l‖ (Frobenius) of the last iteration's gradient, with
    the L1/L2 terms, before clipping;
  - ``wnorm``: ‖W_l‖ now;
  - ``update_ratio``: ‖ΔW_l‖ / ‖W_l before‖, the relative size of the last
    update (≈ 1e-3 is the usual healthy order of magnitude; None when the
    weights were all zero);
  - ``dead``: for ReLU layers, the fraction of units whose activation is 0
    for *every* training sample (a dead unit never passes a gradient again);
    None for other activations;
  - ``saturated``: for sigmoid and tanh layers, the fraction of
    (sample, unit) activations in the flat ends of the curve, where
    f'(z) < 0.01·max f' — |tanh z| > 0.995 (|z| ≳ 3.0), σ(z) < 0.0025 or
    > 0.9975 (|z| ≳ 6.0); None for other activations.

For classification, :func:`classified_of` reads a split as classes with one forward
pass: the confusion matrix and each row's true class, predicted class and the output
behind the guess, from which :func:`mistakes` picks the rows a learner is shown.

``gnorm``, ``update_ratio`` and ``batch_loss`` are None before the first iteration. The fast
path reports its own cheap per-iteration series
(:class:`~engine.stepper.TrainStats`: loss and ``gnorm`` for every iteration).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine import activations, losses
from engine.fpstate import quiet
from engine.stepper import Stepper

Array = np.ndarray

#: f'(z) below this fraction of its maximum counts as saturated (the same fraction
#: marks the flat ends of each activation's curve: engine.activations.flat_ends)
SATURATION = activations.FLAT_FRACTION


def _saturated(act: str, a: Array) -> float | None:
    """Fraction of activations ``a`` (B, n) in the flat ends (module docstring)."""
    if a.size == 0:
        return None
    if act == "tanh":
        # tanh' = 1 − a² < 0.01  ⇔  |a| > √0.99
        return float((np.abs(a) > math.sqrt(1.0 - SATURATION)).mean())
    if act == "sigmoid":
        # σ' = a(1 − a) < 0.01 · ¼
        return float((a * (1.0 - a) < SATURATION * 0.25).mean())
    return None


def _dead(act: str, a: Array) -> float | None:
    """Fraction of ReLU units that are 0 for every row of ``a`` (B, n)."""
    if act != "relu" or a.size == 0:
        return None
    return float((a <= 0.0).all(axis=0).mean())


@quiet
def collect(st: Stepper) -> dict[str, Any]:
    """Every metric of the module docstring as JSON-friendly values."""
    net = st.net
    d = st.data
    spec = net.spec
    acts = [ls.activation for ls in spec.layers[:-1]] + [spec.output_activation()]
    out: dict[str, Any] = {"iteration": st.iteration}
    for split, x, t in (("train", d.x_train, d.t_train), ("test", d.x_test, d.t_test)):
        if len(x) == 0:
            out[f"{split}_loss"], out[f"{split}_acc"] = None, None
            continue
        caches = net.forward(x, train=False)
        y = caches[-1]
        res = losses.compute(spec.loss, y.z, y.a, t, None, y.sp)
        out[f"{split}_loss"] = res.mean
        out[f"{split}_acc"] = losses.accuracy(d.task, y.a, t)
        if split == "train":
            # a unit's own activation f(zn), before dropout and the residual add
            out["dead"] = [_dead(act, c.h) for act, c in zip(acts, caches, strict=True)]
            out["saturated"] = [_saturated(act, c.h) for act, c in zip(acts, caches,
                                                                        strict=True)]
    if "dead" not in out:
        out["dead"] = [None] * net.depth
        out["saturated"] = [None] * net.depth
    weights = net.weights()
    out["wnorm"] = [math.sqrt(float(np.vdot(W, W))) for W in weights]
    last = st.last_iteration
    if last is None or not last.done:
        out["gnorm"] = None
        out["update_ratio"] = None
        out["lr"] = None
        out["batch_loss"] = None
        return out
    out["gnorm"] = [float(g) for g in last.gnorms]
    out["batch_loss"] = None if last.loss is None else float(last.loss.mean)
    out["lr"] = last.lr
    ratios: list[float | None] = []
    for l, W in enumerate(weights, start=1):
        before = last.prev.get(f"L{l}.W")
        if before is None:
            ratios.append(None)
            continue
        nb = math.sqrt(float(np.vdot(before, before)))
        diff = W - before
        ratios.append(math.sqrt(float(np.vdot(diff, diff))) / nb if nb > 0 else None)
    out["update_ratio"] = ratios
    return out


def predicted_classes(task: str, y: Array) -> Array:
    """The class each output row ``y`` (B, K) predicts, (B,) int: binary ``y ≥ 0.5``
    (one column), multiclass the argmax (as :func:`engine.losses.accuracy` counts)."""
    if task == "binary":
        return (y[:, 0] >= 0.5).astype(np.int64)
    return y.argmax(axis=1).astype(np.int64)


def confusion(task: str, n_classes: int, y: Array, t: Array) -> Array:
    """Confusion matrix ``C`` (K, K) of outputs ``y`` (B, K) against targets ``t``:
    ``C[i, j]`` = samples of true class i predicted as class j (rows: truth, as
    scikit-learn's ``confusion_matrix``); the diagonal counts the right ones."""
    return classify(task, n_classes, y, t, probability=False).counts


@quiet
def confusion_of(st: Stepper, split: str = "test") -> Array | None:
    """:func:`confusion` of ``st``'s network (evaluation mode) on its ``split``
    (``train`` or ``test``); None for regression or an empty split. Costs one
    forward pass of the split."""
    c = classified_of(st, split)
    return None if c is None else c.counts


@dataclass(frozen=True)
class Classified:
    """A split read as classes by one forward pass: the confusion matrix and, row by
    row, each sample's true class, predicted class and the output behind the guess."""

    counts: Array  #: (K, K) :func:`confusion`
    truth: Array  #: (N,) int, the true class of each row
    guess: Array  #: (N,) int, the class the network predicts (:func:`predicted_classes`)
    #: (N,) the predicted class's output: its probability when ``probability`` (softmax:
    #: p_guess; a sigmoid's binary output y reads as p(1) = y, p(0) = 1 − y), else y_guess
    p: Array
    probability: bool  #: whether the outputs are probabilities (softmax or sigmoid)


def classify(task: str, n_classes: int, y: Array, t: Array, probability: bool) -> Classified:
    """:class:`Classified` of outputs ``y`` (N, K) against targets ``t`` (N, K)."""
    truth = predicted_classes(task, t)  # a target row's class, read as an output's
    guess = predicted_classes(task, y)
    if task == "binary":
        p = np.where(guess == 1, y[:, 0], 1.0 - y[:, 0]) if probability else y[:, 0].copy()
    else:
        p = y[np.arange(len(y)), guess]
    k = n_classes
    counts = np.bincount(truth * k + guess, minlength=k * k).reshape(k, k)
    return Classified(counts, truth, guess, p, probability)


@quiet
def classified_of(st: Stepper, split: str = "test") -> Classified | None:
    """:func:`classify` ``st``'s network (evaluation mode) on its ``split`` (``train`` or
    ``test``); None for regression or an empty split. Costs one forward pass of the
    split, whose outputs both the confusion matrix and the mistakes are read from."""
    d = st.data
    x, t = (d.x_train, d.t_train) if split == "train" else (d.x_test, d.t_test)
    if d.task == "regression" or len(x) == 0:
        return None
    y = st.net.forward(x, train=False)[-1].a
    prob = st.net.spec.output_activation() in ("softmax", "sigmoid")
    return classify(d.task, d.n_classes, y, t, prob)


def mistakes(c: Classified, limit: int) -> Array:
    """Rows (indices into the split) the network gets wrong, at most ``limit``, chosen
    so that every kind of mistake shows: the most confident mistake of each (true,
    predicted) pair first, then each pair's second, and so on (within a round, the
    most confident first). Returned most confident first (ties: lower index first);
    ``c.counts`` off its diagonal says how many there are in all."""
    wrong = np.flatnonzero(c.truth != c.guess)
    if limit <= 0 or len(wrong) == 0:
        return wrong[:0]
    order = wrong[np.lexsort((wrong, -c.p[wrong]))]  # most confident first
    k = len(c.counts)
    pair = c.truth[order] * k + c.guess[order]
    by_pair = np.argsort(pair, kind="stable")  # each pair's rows, still most confident first
    sp = pair[by_pair]
    starts = np.flatnonzero(np.r_[True, sp[1:] != sp[:-1]])
    first = np.repeat(starts, np.diff(np.r_[starts, len(sp)]))
    rank = np.empty(len(order), dtype=np.int64)
    rank[by_pair] = np.arange(len(sp)) - first  # 0 for a pair's most confident mistake
    pick = np.lexsort((np.arange(len(order)), rank))[:limit]
    return order[np.sort(pick)]
