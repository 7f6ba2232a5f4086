"""Optimizers with ``torch.optim``'s update rules and defaults, plus clipping.

Each optimizer updates a dict of parameters from the paired dict of gradients
(replacing each array by a fresh one) and keeps its state per parameter id
(``state["L1.W"]["exp_avg"]``…) so the update phase can show it. ``t`` below
is the 1-based step count, ``g`` the gradient after weight decay
(``g = ∇ + λ·p`` where the rule says so).

* SGD:      b = μ b + (1 − τ) g (b = g on the first step); g ← g + μ b (Nesterov) or b;
            p ← p − η g
* RMSprop:  v = α v + (1 − α) g²; [ḡ = α ḡ + (1 − α) g; v̂ = v − ḡ²]; d = √v̂ + ε;
            with momentum b = μ b + g/d, p ← p − η b; else p ← p − η g/d
* Adagrad:  s = s + g²; p ← p − η/(1 + (t − 1)·decay) · g/(√s + ε)
* Adam:     m = β₁ m + (1 − β₁) g; v = β₂ v + (1 − β₂) g²;
            p ← p − (η/(1 − β₁ᵗ)) · m / (√v/√(1 − β₂ᵗ) + ε)
* AdamW:    p ← p (1 − η λ), then Adam without λ in g.

What the optimizer receives is :func:`received`'s: this iteration's gradient,
clipped when clipping is on, or, under ``accumulate_grads`` (the forgotten
``optimizer.zero_grad()``), the running sum that PyTorch's ``p.grad`` holds:

    G_t = C(G_{t−1} + g_t),  G_0 = 0 (no gradient yet; G_1 = C(g_1))

``g_t`` is the backward phase's gradient (L1/L2 terms included: they are part
of the loss ``backward()`` differentiates), ``C`` the clipping (the identity
when off). PyTorch's order decides every detail: ``loss.backward()`` adds
``g_t`` into ``p.grad``; ``clip_grad_value_`` and ``clip_grad_norm_`` then scale
or clamp ``p.grad`` *in place*, so a clipped sum stays clipped and the next
iteration adds to it; ``clip.total_norm`` is the norm of the sum; the
optimizer's ``weight_decay`` is added to a copy inside ``step()`` (``g + λθ``),
never to ``p.grad``, and its state (momentum, Adam's m and v) is fed ``G_t`` as
it would be any gradient.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from engine import catalog

Array = np.ndarray

#: the optimizers, their hyper-parameters, ranges and state names: engine/catalog.py
OPTIMIZERS = catalog.names("optimizers")

#: torch.optim defaults, per optimizer (the learning rate is always given).
DEFAULTS: dict[str, dict[str, float | bool]] = {
    name: catalog.optimizer(name).defaults() for name in OPTIMIZERS
}


@dataclass
class Optimizer:
    """One of :data:`OPTIMIZERS` with its hyper-parameters and per-parameter state."""

    name: str = "sgd"
    #: read-only once built (change settings with ``Stepper.set_hyper``, which builds a
    #: new optimizer): the stepper resolves the update rule once per optimizer
    hyper: Mapping[str, float | bool] = field(default_factory=dict)
    state: dict[str, dict[str, Array]] = field(default_factory=dict)
    t: int = 0

    def __post_init__(self) -> None:
        # names, types, ranges and torch's defaults: catalog.check_optimizer
        self.hyper = MappingProxyType(catalog.check_optimizer(self.name, self.hyper))

    def __deepcopy__(self, memo: dict[int, Any]) -> Optimizer:
        return self.copy()

    def copy(self) -> Optimizer:
        """A deep copy (state arrays copied)."""
        return Optimizer(
            self.name,
            dict(self.hyper),
            {k: {n: a.copy() for n, a in s.items()} for k, s in self.state.items()},
            self.t,
        )

    def step(
        self, params: dict[str, Array], grads: dict[str, Array], lr: float
    ) -> dict[str, Array]:
        """Update every parameter in ``params`` with learning rate ``lr``.

        Each parameter and each state array is *replaced* by a fresh array
        (never changed in place), so a record may keep the old and new ones
        without copying. Returns, per parameter id, the step that was added
        (``p_new = p + step``; for plain SGD ``step = −η g``; for AdamW the
        change p_new − p, decay included).
        """
        self.t += 1
        h = self.hyper
        wd = float(h["weight_decay"])
        name = self.name
        steps: dict[str, Array] = {}
        if name == "sgd" and wd == 0.0 and float(h["momentum"]) == 0.0:
            # plain SGD, the common classroom case: p ← p − η g (−η as a 0-d
            # array: the same bits, without a float conversion per multiply)
            neg = np.array(-lr)
            for key, p in params.items():
                step = grads[key] * neg
                params[key] = p + step
                steps[key] = step
            return steps
        params_in = dict(params)
        for key, p in params_in.items():
            g = grads[key]
            st = self.state.get(key)
            if st is None:
                st = self.state[key] = {}
            if name != "adamw" and wd != 0.0:
                g = g + wd * p
            if name == "sgd":
                mu = float(h["momentum"])
                if mu != 0.0:
                    buf = st.get("momentum_buffer")
                    if buf is None:
                        buf = g.copy()
                    else:
                        buf = buf * mu
                        buf += (1.0 - float(h["dampening"])) * g
                    st["momentum_buffer"] = buf
                    g = g + mu * buf if h["nesterov"] else buf
                step = g * -lr
            elif name == "rmsprop":
                alpha = float(h["alpha"])
                v = st.get("square_avg")
                v = (1.0 - alpha) * (g * g) if v is None else v * alpha + (1.0 - alpha) * (g * g)
                st["square_avg"] = v
                if h["centered"]:
                    ga = st.get("grad_avg")
                    ga = (1.0 - alpha) * g if ga is None else ga * alpha + (1.0 - alpha) * g
                    st["grad_avg"] = ga
                    avg = np.sqrt(v - ga * ga)
                else:
                    avg = np.sqrt(v)
                avg += float(h["eps"])
                mu = float(h["momentum"])
                if mu > 0.0:
                    buf = st.get("momentum_buffer")
                    buf = g / avg if buf is None else buf * mu + g / avg
                    st["momentum_buffer"] = buf
                    step = buf * -lr
                else:
                    step = (g / avg) * -lr
            elif name == "adagrad":
                s = st.get("sum")
                if s is None:
                    s = np.full_like(p, float(h["initial_accumulator_value"]))
                s = s + g * g
                st["sum"] = s
                clr = lr / (1.0 + (self.t - 1) * float(h["lr_decay"]))
                denom = np.sqrt(s)
                denom += float(h["eps"])
                step = (g / denom) * -clr
            else:  # adam, adamw
                if name == "adamw" and wd != 0.0:
                    p = p * (1.0 - lr * wd)
                b1, b2 = float(h["beta1"]), float(h["beta2"])
                m = st.get("exp_avg")
                v = st.get("exp_avg_sq")
                m = (1.0 - b1) * g if m is None else m * b1 + (1.0 - b1) * g
                v = (1.0 - b2) * (g * g) if v is None else v * b2 + (1.0 - b2) * (g * g)
                st["exp_avg"] = m
                st["exp_avg_sq"] = v
                bc1 = 1.0 - b1**self.t
                bc2 = 1.0 - b2**self.t
                denom = np.sqrt(v)
                denom /= math.sqrt(bc2)
                denom += float(h["eps"])
                step = (m / denom) * -(lr / bc1)
            new = p + step
            params[key] = new
            # AdamW's decay is part of the change too
            steps[key] = step if name != "adamw" or wd == 0.0 else new - params_in[key]
        return steps


def clip_coef(total_norm: float, max_norm: float) -> float:
    """torch's clipping coefficient max_norm / (‖g‖ + 1e-6); gradients are scaled by
    it only when it is below 1."""
    return max_norm / (total_norm + 1e-6)


def clip_grad_norm(grads: dict[str, Array], max_norm: float) -> tuple[float, dict[str, Array]]:
    """Scale all gradients together so their global L2 norm is ≤ ``max_norm``.

    As ``torch.nn.utils.clip_grad_norm_``: ‖g‖ = √(Σ_p ‖g_p‖²),
    coef = max_norm / (‖g‖ + 1e-6), applied only when coef < 1. Returns the
    norm before clipping and the (new) clipped gradients; ``grads`` is left
    as it was.
    """
    total = math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))
    coef = clip_coef(total, max_norm)
    if coef < 1.0:
        return total, {k: g * coef for k, g in grads.items()}
    return total, dict(grads)


def clip_grads(grads: dict[str, Array], clip_value: float,
               clip_norm: float) -> tuple[dict[str, Array], dict[str, Any]]:
    """Both clippings in the engine's order, each when its limit is > 0: values to
    [−clip_value, clip_value], then the global norm to ≤ clip_norm. Returns the
    gradients to use (``grads`` itself when neither is on) and what the update
    record shows: ``clip.value``, ``clip.total_norm`` (the norm before clipping)."""
    info: dict[str, Any] = {}
    if clip_value > 0:
        grads = clip_grad_value(grads, clip_value)
        info["clip.value"] = clip_value
    if clip_norm > 0:
        info["clip.total_norm"], grads = clip_grad_norm(grads, clip_norm)
    return grads, info


def received(grads: dict[str, Array], clip_value: float, clip_norm: float,
             grad_sum: dict[str, Array] | None = None,
             ) -> tuple[dict[str, Array], dict[str, Array] | None, dict[str, Any]]:
    """What ``optimizer.step()`` finds in ``p.grad``: see the module docstring.

    ``grads`` is this iteration's gradient per parameter. ``grad_sum`` is None
    when gradients are reset every iteration; under ``accumulate_grads`` it is the
    run's ``p.grad`` ({} before the first iteration), which this *replaces the
    arrays of* (never writing into them) with G_t. Returns the gradients the
    optimizer uses (G_t, or this iteration's clipped), the sum before clipping
    (G_{t−1} + g_t, what ``backward()`` leaves in ``p.grad``; None without
    accumulation) and the clipping's record values (:func:`clip_grads`)."""
    summed = None
    if grad_sum is not None:
        # p.grad += g (the first backward assigns g itself: 0 + g would turn −0.0 into 0.0)
        summed = {k: g if (s := grad_sum.get(k)) is None else s + g for k, g in grads.items()}
        grads = summed
    info: dict[str, Any] = {}
    if clip_value > 0 or clip_norm > 0:
        grads, info = clip_grads(grads, clip_value, clip_norm)
    if grad_sum is not None:
        grad_sum.update(grads)  # clip_grad_*_ clip p.grad in place: the clipped sum stays
    return grads, summed, info


def clip_grad_value(grads: dict[str, Array], clip_value: float) -> dict[str, Array]:
    """Every gradient entry clamped to [−clip_value, clip_value] (new arrays),
    as ``torch.nn.utils.clip_grad_value_``."""
    return {k: np.clip(g, -clip_value, clip_value) for k, g in grads.items()}
