"""Losses paired with their output activation, computed stably from logits.

Each loss takes the output layer's pre-activation ``z`` (shape ``(B, K)``), its
activation ``y = f(z)`` and the targets ``t`` (shape ``(B, K)``) and returns

* ``per_sample``: ``ℓ_i`` summed over the K outputs, shape ``(B,)``;
* ``dy``: ∂L/∂y for the mean loss ``L = (1/B) Σ_i ℓ_i``, shape ``(B, K)``;
* ``delta``: ∂L/∂z, shape ``(B, K)``.

For ``bce`` and ``cross_entropy`` the output activation is fixed (sigmoid,
softmax) and ``delta = (y − t)/B`` comes straight from the logits, which is
both the textbook simplification and the numerically stable path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine import activations

Array = np.ndarray

LOSSES = ("mse", "bce", "cross_entropy")


@dataclass
class LossResult:
    """The loss phase's numbers; shapes as in the module docstring."""

    per_sample: Array
    dy: Array
    delta: Array

    @property
    def mean(self) -> float:
        """L = (1/B) Σ_i ℓ_i (without regularization)."""
        return float(self.per_sample.mean())


def output_activation(loss: str, hidden_choice: str) -> str:
    """Name of the output activation a loss implies (mse keeps the chosen one)."""
    if loss == "bce":
        return "sigmoid"
    if loss == "cross_entropy":
        return "softmax"
    return hidden_choice


def softmax(z: Array) -> Array:
    """softmax over the last axis with the max subtracted first (shape kept)."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def compute(loss: str, z: Array, y: Array, t: Array, dfz: Array | None) -> LossResult:
    """Per-sample loss, ∂L/∂y and ∂L/∂z for one batch.

    ``dfz`` is f'(z) of the output activation, needed only by ``mse``:
    δ = (y − t) ⊙ f'(z) / B.
    """
    B = z.shape[0]
    if loss == "mse":
        diff = y - t
        per_sample = 0.5 * np.einsum("ij,ij->i", diff, diff)
        dy = diff / B
        delta = dy if dfz is None else dy * dfz
        return LossResult(per_sample, dy, delta)
    if loss == "bce":
        # ℓ = softplus(z) − t·z = max(z,0) − t z + log1p(e^{−|z|})
        per_sample = (activations.softplus(z) - t * z).sum(axis=1)
        delta = (y - t) / B
        with np.errstate(divide="ignore", invalid="ignore"):
            dy = delta / (y * (1.0 - y))
        return LossResult(per_sample, dy, delta)
    if loss == "cross_entropy":
        m = z.max(axis=1, keepdims=True)
        lse = (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]
        per_sample = lse - np.einsum("ij,ij->i", t, z)
        delta = (y - t) / B
        with np.errstate(divide="ignore", invalid="ignore"):
            dy = -t / y / B
        return LossResult(per_sample, dy, delta)
    raise ValueError(f"unknown loss {loss!r}; choose one of {list(LOSSES)}")
