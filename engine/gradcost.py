"""What it costs to get every gradient: backpropagation against finite differences.

The inspector checks one gradient with a central difference, two extra forward
passes. Doing that for *every* parameter is what backpropagation saves: the
numbers here, for a given network and batch, say by how much.

Counted in multiply-adds (MACs) of the dense layers' matrix products, the work
that dominates; element-wise work (bias, activation, norm, dropout, the loss)
is left out. For a batch of B samples and layer l with n_{l−1} inputs and n_l
units:

* forward:  z = a_prev W            B·n_{l−1}·n_l MACs;
* backward: dW = a_prevᵀ δ and ∂L/∂a_prev = δ Wᵀ, each B·n_{l−1}·n_l MACs,
  so 2·B·n_{l−1}·n_l (the engine computes ∂L/∂a_prev for layer 1 too: the
  backward frame shows ∂L/∂x).

A forward pass costs F = Σ_l B·n_{l−1}·n_l and one backward pass 2F. A central
difference needs two forward passes per parameter, so every gradient
numerically costs 2·P·F for P parameters (weights, biases, a norm's γ and β):
P times the backward pass.
"""

from __future__ import annotations

from typing import Any

from engine.model import NetSpec


def gradient_cost(spec: NetSpec, batch: int) -> dict[str, Any]:
    """The cost of every gradient of ``spec`` for a batch of ``batch`` samples.

    Returns ``params`` P, ``batch`` B, per layer (layer 1 first) ``forward`` and
    ``backward`` MACs, their totals ``forward_total`` F and ``backward_total``
    2F, ``numeric_passes`` 2P (forward passes for every central difference),
    ``numeric_total`` 2·P·F MACs and ``ratio`` = numeric_total / backward_total.
    """
    if batch < 1:
        raise ValueError("batch must be at least 1")
    sizes = spec.sizes
    fwd = [batch * sizes[l - 1] * sizes[l] for l in range(1, len(sizes))]
    back = [2 * f for f in fwd]
    params = 0
    for l, ls in enumerate(spec.layers, start=1):
        params += sizes[l - 1] * sizes[l] + sizes[l]
        if ls.norm != "none":
            params += 2 * sizes[l]
    F = sum(fwd)
    numeric = 2 * params * F
    return {
        "params": params, "batch": batch, "forward": fwd, "backward": back,
        "forward_total": F, "backward_total": sum(back), "numeric_passes": 2 * params,
        "numeric_total": numeric, "ratio": numeric / sum(back),
    }
