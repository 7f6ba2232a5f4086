"""A few samples through the network as it is now, in evaluation mode.

The page follows one data point outside the batch (the focused sample), and
redraws its neurons right after a hand edit, before the next frame. Both need
the network's values for given inputs without touching the run: evaluation
mode (no dropout; batch norm with its running statistics), so the numbers do
not depend on a batch, and nothing is recorded.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine import losses
from engine.fpstate import quiet
from engine.model import Network

Array = np.ndarray


@quiet
def sample_values(net: Network, x: Array, t: Array) -> dict[str, Any]:
    """Evaluation-mode forward of samples ``x`` (B, n_in) with targets ``t`` (B, K):
    ``L0.a`` = x, every ``Ll.z`` and ``Ll.a`` (B, n_l), the output ``y`` (B, K) and
    ``loss.per_sample`` (B,), each sample's ℓ_b (the loss of one row, as the
    loss phase computes it), and ``loss.data`` = (1/B) Σ_b ℓ_b."""
    caches = net.forward(x, train=False)
    out = caches[-1]
    res = losses.compute(net.spec.loss, out.z, out.a, t, None)
    v: dict[str, Any] = {"L0.a": x}
    for l, c in enumerate(caches, start=1):
        v[f"L{l}.z"] = c.z
        v[f"L{l}.a"] = c.a
    v["y"] = out.a
    v["loss.per_sample"] = res.per_sample
    v["loss.data"] = res.mean
    return v


def batch_means(values: dict[str, Any], depth: int) -> dict[str, Array]:
    """Batch means of every layer's ``z`` and ``a`` (``Ll.z``, ``Ll.a``: (n_l,) for
    l = 1 … depth) of :func:`sample_values`: z̄ = (1/B) Σ_b z_b (what the page's
    neurons show for a batch)."""
    return {f"L{l}.{k}": values[f"L{l}.{k}"].mean(axis=0)
            for l in range(1, depth + 1) for k in ("z", "a")}


@quiet
def predict(net: Network, x: Array) -> Array:
    """The output layer's activation (B, K) for inputs ``x`` (B, n_in) in evaluation mode
    (a drawing's class probabilities under softmax)."""
    return net.predict(x)
