"""The network: its spec, its parameters, and one layer's forward/backward rule.

A layer ``l`` (1-based; layer 0 is the input) computes, for a batch of rows::

    z  = a_prev @ W + b                      (B, n_out)
    zn = γ ⊙ norm(z) + β     if norm else z   (batch or layer normalization)
    h  = f(zn)
    h  = h ⊙ mask / (1 − p)  if dropout (training only)
    a  = h + a_prev          if residual (needs n_in == n_out) else h

and backward, given ``da`` = ∂L/∂a (B, n_out), applies the chain rule in reverse::

    dh = da;  dh ⊙= mask/(1−p)
    dzn = dh ⊙ f'(zn)
    delta = ∂L/∂z = norm_backward(dzn ⊙ γ)  or dzn
    dW = a_prev.T @ delta                   (n_in, n_out)
    db = Σ_batch delta                      (n_out,)
    da_prev = delta @ W.T (+ da if residual) (B, n_in)

Parameters and gradients are paired dicts with the same stable keys
(``L1.W`` ↔ gradient of ``L1.W``), as the optimizers expect.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine import activations, losses
from engine.init import init_weights

Array = np.ndarray

NORMS = ("none", "batch", "layer")
NORM_EPS = 1e-5
BN_MOMENTUM = 0.1


@dataclass(frozen=True)
class LayerSpec:
    """One dense layer: width, activation and the optional extras."""

    units: int
    activation: str = "tanh"
    alpha: float = 0.01
    norm: str = "none"
    dropout: float = 0.0
    residual: bool = False


@dataclass(frozen=True)
class NetSpec:
    """A whole network: input width, layers (the last is the output) and loss.

    For ``bce`` the output activation is sigmoid, for ``cross_entropy``
    softmax, whatever the last ``LayerSpec`` says; ``mse`` uses it as given.
    """

    n_in: int
    layers: tuple[LayerSpec, ...]
    loss: str = "mse"
    init: str = "xavier_uniform"
    init_scale: float = 0.5

    def __post_init__(self) -> None:
        if self.n_in < 1:
            raise ValueError("n_in must be at least 1")
        if not self.layers:
            raise ValueError("a network needs at least an output layer")
        if self.loss not in losses.LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; choose one of {list(losses.LOSSES)}")
        prev = self.n_in
        for i, ls in enumerate(self.layers, start=1):
            if ls.units < 1:
                raise ValueError(f"layer {i} needs at least one unit")
            activations.get(ls.activation)
            if ls.norm not in NORMS:
                raise ValueError(f"unknown norm {ls.norm!r}; choose one of {list(NORMS)}")
            if not 0.0 <= ls.dropout < 1.0:
                raise ValueError(f"layer {i} dropout must be in [0, 1)")
            if ls.residual and ls.units != prev:
                raise ValueError(
                    f"layer {i} residual needs equal widths ({prev} in, {ls.units} out)"
                )
            last = i == len(self.layers)
            if last and (ls.norm != "none" or ls.dropout or ls.residual):
                raise ValueError("the output layer takes no norm, dropout or residual")
            prev = ls.units

    @property
    def sizes(self) -> list[int]:
        """Widths of every layer, input first: ``[n_in, n_1, …, n_out]``."""
        return [self.n_in, *(ls.units for ls in self.layers)]

    def output_activation(self) -> str:
        """The output activation's name as the loss implies it."""
        return losses.output_activation(self.loss, self.layers[-1].activation)


@dataclass
class LayerCache:
    """What forward keeps for backward and for the frames (shapes (B, n))."""

    a_prev: Array
    z: Array
    zn: Array
    a: Array
    h: Array | None = None        # f(zn) before dropout and the residual add
    u: Array | None = None        # normalized z before γ, β
    inv_std: Array | None = None  # 1/√(var + ε), (n,) for batch, (B, 1) for layer
    mask: Array | None = None     # dropout mask already scaled by 1/(1−p)


@dataclass
class Network:
    """Parameters (and batch-norm running statistics) of a :class:`NetSpec`."""

    spec: NetSpec
    params: dict[str, Array] = field(default_factory=dict)
    buffers: dict[str, Array] = field(default_factory=dict)

    @classmethod
    def build(cls, spec: NetSpec, rng: np.random.Generator) -> Network:
        """Fresh parameters: W by ``spec.init``, b = 0, γ = 1, β = 0."""
        net = cls(spec)
        sizes = spec.sizes
        for l, ls in enumerate(spec.layers, start=1):
            net.params[f"L{l}.W"] = init_weights(
                spec.init, sizes[l - 1], sizes[l], rng, spec.init_scale
            )
            net.params[f"L{l}.b"] = np.zeros(sizes[l])
            if ls.norm != "none":
                net.params[f"L{l}.gamma"] = np.ones(sizes[l])
                net.params[f"L{l}.beta"] = np.zeros(sizes[l])
            if ls.norm == "batch":
                net.buffers[f"L{l}.running_mean"] = np.zeros(sizes[l])
                net.buffers[f"L{l}.running_var"] = np.ones(sizes[l])
        return net

    @property
    def depth(self) -> int:
        """Number of dense layers (the input layer 0 not counted)."""
        return len(self.spec.layers)

    def copy(self) -> Network:
        """A deep copy of parameters and buffers."""
        return Network(
            self.spec,
            {k: v.copy() for k, v in self.params.items()},
            {k: v.copy() for k, v in self.buffers.items()},
        )

    # ---- forward -----------------------------------------------------------------

    def forward(
        self,
        x: Array,
        train: bool = False,
        dropout_rng: np.random.Generator | None = None,
    ) -> list[LayerCache]:
        """Run ``x`` (B, n_in) through every layer; one cache per layer, in order.

        ``train`` selects batch statistics (and updates running ones) and
        applies dropout with masks drawn from ``dropout_rng``.
        """
        caches: list[LayerCache] = []
        a = x
        n = self.depth
        out_act = self.spec.output_activation()
        for l, ls in enumerate(self.spec.layers, start=1):
            W = self.params[f"L{l}.W"]
            b = self.params[f"L{l}.b"]
            z = a @ W
            z += b
            cache = LayerCache(a_prev=a, z=z, zn=z, a=z)
            if ls.norm != "none":
                self._norm_forward(l, ls.norm, cache, train)
            if l == n and out_act == "softmax":
                h = losses.softmax(cache.zn)
            else:
                h = activations.get(out_act if l == n else ls.activation).f(cache.zn, ls.alpha)
            cache.h = h
            if train and ls.dropout > 0.0:
                if dropout_rng is None:
                    raise ValueError("dropout in training needs a dropout_rng")
                keep = 1.0 - ls.dropout
                cache.mask = (dropout_rng.random(h.shape) < keep) / keep
                h = h * cache.mask
            cache.a = h + a if ls.residual else h
            a = cache.a
            caches.append(cache)
        return caches

    def _norm_forward(self, l: int, kind: str, c: LayerCache, train: bool) -> None:
        z = c.z
        if kind == "batch":
            if train and z.shape[0] > 1:
                mean = z.mean(axis=0)
                var = z.var(axis=0)
                rm = self.buffers[f"L{l}.running_mean"]
                rv = self.buffers[f"L{l}.running_var"]
                B = z.shape[0]
                rm *= 1.0 - BN_MOMENTUM
                rm += BN_MOMENTUM * mean
                rv *= 1.0 - BN_MOMENTUM
                rv += BN_MOMENTUM * var * B / (B - 1)  # PyTorch keeps the unbiased variance
            else:
                mean = self.buffers[f"L{l}.running_mean"]
                var = self.buffers[f"L{l}.running_var"]
            inv_std = 1.0 / np.sqrt(var + NORM_EPS)
        else:
            mean = z.mean(axis=1, keepdims=True)
            var = z.var(axis=1, keepdims=True)
            inv_std = 1.0 / np.sqrt(var + NORM_EPS)
        c.u = (z - mean) * inv_std
        c.inv_std = inv_std
        c.zn = self.params[f"L{l}.gamma"] * c.u + self.params[f"L{l}.beta"]

    def predict(self, x: Array) -> Array:
        """Evaluation-mode output ``a`` of the last layer for ``x`` (B, n_in)."""
        return self.forward(x, train=False)[-1].a

    # ---- backward ----------------------------------------------------------------

    def backward(
        self, caches: list[LayerCache], delta_out: Array, train: bool = True
    ) -> tuple[dict[str, Array], list[dict[str, Array]]]:
        """Backpropagate ``delta_out`` = ∂L/∂z of the output layer (B, n_out).

        Returns the gradients (keys as ``params``) and, per layer in order
        1…n, the intermediate values ``delta``, ``da_prev``, ``da`` and ``dzn``.
        """
        grads: dict[str, Array] = {}
        per_layer: list[dict[str, Array]] = [{} for _ in caches]
        n = self.depth
        da: Array | None = None
        for l in range(n, 0, -1):
            ls = self.spec.layers[l - 1]
            c = caches[l - 1]
            info = per_layer[l - 1]
            if l == n:
                delta = delta_out
                dzn = delta_out
            else:
                assert da is not None
                info["da"] = da
                dh = da * c.mask if c.mask is not None and train else da
                dzn = dh * activations.get(ls.activation).df(c.zn, c.h, ls.alpha)
                if ls.norm != "none":
                    delta = self._norm_backward(l, ls.norm, c, dzn, grads, train)
                else:
                    delta = dzn
            W = self.params[f"L{l}.W"]
            grads[f"L{l}.W"] = c.a_prev.T @ delta
            grads[f"L{l}.b"] = delta.sum(axis=0)
            da_prev = delta @ W.T
            if ls.residual:
                assert da is not None
                da_prev = da_prev + da
            info["dzn"] = dzn
            info["delta"] = delta
            info["da_prev"] = da_prev
            da = da_prev
        return grads, per_layer

    def _norm_backward(
        self, l: int, kind: str, c: LayerCache, dzn: Array, grads: dict[str, Array], train: bool
    ) -> Array:
        """∂L/∂z through zn = γ·u + β, u = (z − μ)/σ.

        Training statistics depend on z, so (per normalized group of N values)
        dz = (1/σ)(du − mean(du) − u·mean(du ⊙ u)); with fixed running
        statistics it is simply du/σ.
        """
        assert c.u is not None and c.inv_std is not None
        u = c.u
        axis = 0 if kind == "batch" else 1
        grads[f"L{l}.gamma"] = (dzn * u).sum(axis=0)
        grads[f"L{l}.beta"] = dzn.sum(axis=0)
        du = dzn * self.params[f"L{l}.gamma"]
        if kind == "batch" and not (train and u.shape[0] > 1):
            return du * c.inv_std
        m1 = du.mean(axis=axis, keepdims=True)
        m2 = (du * u).mean(axis=axis, keepdims=True)
        return (du - m1 - u * m2) * c.inv_std
