"""Optimizers with ``torch.optim``'s update rules and defaults, plus clipping.

Each optimizer updates a dict of parameters in place from the paired dict of
gradients and keeps its state per parameter id (``state["L1.W"]["m"]``…) so the
update phase can show it. ``t`` below is the 1-based step count, ``g`` the
gradient after weight decay (``g = ∇ + λ·p`` where the rule says so).

* SGD:      b = μ b + (1 − τ) g (b = g on the first step); g ← g + μ b (Nesterov) or b;
            p ← p − η g
* RMSprop:  v = α v + (1 − α) g²; [ḡ = α ḡ + (1 − α) g; v̂ = v − ḡ²]; d = √v̂ + ε;
            with momentum b = μ b + g/d, p ← p − η b; else p ← p − η g/d
* Adagrad:  s = s + g²; p ← p − η/(1 + (t − 1)·decay) · g/(√s + ε)
* Adam:     m = β₁ m + (1 − β₁) g; v = β₂ v + (1 − β₂) g²;
            p ← p − (η/(1 − β₁ᵗ)) · m / (√v/√(1 − β₂ᵗ) + ε)
* AdamW:    p ← p (1 − η λ), then Adam without λ in g.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

Array = np.ndarray

OPTIMIZERS = ("sgd", "rmsprop", "adagrad", "adam", "adamw")

#: torch.optim defaults, per optimizer (the learning rate is always given).
DEFAULTS: dict[str, dict[str, float | bool]] = {
    "sgd": {"momentum": 0.0, "dampening": 0.0, "nesterov": False, "weight_decay": 0.0},
    "rmsprop": {"alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0, "momentum": 0.0,
                "centered": False},
    "adagrad": {"lr_decay": 0.0, "weight_decay": 0.0, "initial_accumulator_value": 0.0,
                "eps": 1e-10},
    "adam": {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0},
    "adamw": {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.01},
}


@dataclass
class Optimizer:
    """One of :data:`OPTIMIZERS` with its hyper-parameters and per-parameter state."""

    name: str = "sgd"
    hyper: dict[str, float | bool] = field(default_factory=dict)
    state: dict[str, dict[str, Array]] = field(default_factory=dict)
    t: int = 0

    def __post_init__(self) -> None:
        if self.name not in DEFAULTS:
            raise ValueError(f"unknown optimizer {self.name!r}; choose one of {list(OPTIMIZERS)}")
        unknown = set(self.hyper) - set(DEFAULTS[self.name])
        if unknown:
            raise ValueError(
                f"{self.name} takes no {sorted(unknown)}; it takes {sorted(DEFAULTS[self.name])}"
            )
        self.hyper = {**DEFAULTS[self.name], **self.hyper}
        if self.name == "sgd" and self.hyper["nesterov"] and (
            float(self.hyper["momentum"]) <= 0 or float(self.hyper["dampening"]) != 0
        ):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    def copy(self) -> Optimizer:
        """A deep copy (state arrays copied)."""
        return Optimizer(
            self.name,
            dict(self.hyper),
            {k: {n: a.copy() for n, a in s.items()} for k, s in self.state.items()},
            self.t,
        )

    def step(self, params: dict[str, Array], grads: dict[str, Array], lr: float) -> None:
        """Update every parameter in ``params`` in place with learning rate ``lr``."""
        self.t += 1
        h = self.hyper
        wd = float(h["weight_decay"])
        for key, p in params.items():
            g = grads[key]
            st = self.state.setdefault(key, {})
            if self.name != "adamw" and wd != 0.0:
                g = g + wd * p
            if self.name == "sgd":
                mu = float(h["momentum"])
                if mu != 0.0:
                    if "momentum_buffer" not in st:
                        st["momentum_buffer"] = g.copy()
                    else:
                        buf = st["momentum_buffer"]
                        buf *= mu
                        buf += (1.0 - float(h["dampening"])) * g
                    buf = st["momentum_buffer"]
                    g = g + mu * buf if h["nesterov"] else buf
                p -= lr * g
            elif self.name == "rmsprop":
                alpha = float(h["alpha"])
                v = st.setdefault("square_avg", np.zeros_like(p))
                v *= alpha
                v += (1.0 - alpha) * g * g
                if h["centered"]:
                    ga = st.setdefault("grad_avg", np.zeros_like(p))
                    ga *= alpha
                    ga += (1.0 - alpha) * g
                    avg = np.sqrt(v - ga * ga) + float(h["eps"])
                else:
                    avg = np.sqrt(v) + float(h["eps"])
                mu = float(h["momentum"])
                if mu > 0.0:
                    buf = st.setdefault("momentum_buffer", np.zeros_like(p))
                    buf *= mu
                    buf += g / avg
                    p -= lr * buf
                else:
                    p -= lr * (g / avg)
            elif self.name == "adagrad":
                s = st.setdefault(
                    "sum", np.full_like(p, float(h["initial_accumulator_value"]))
                )
                s += g * g
                clr = lr / (1.0 + (self.t - 1) * float(h["lr_decay"]))
                p -= clr * (g / (np.sqrt(s) + float(h["eps"])))
            else:  # adam, adamw
                if self.name == "adamw" and wd != 0.0:
                    p *= 1.0 - lr * wd
                b1, b2 = float(h["beta1"]), float(h["beta2"])
                m = st.setdefault("exp_avg", np.zeros_like(p))
                v = st.setdefault("exp_avg_sq", np.zeros_like(p))
                m *= b1
                m += (1.0 - b1) * g
                v *= b2
                v += (1.0 - b2) * g * g
                bc1 = 1.0 - b1**self.t
                bc2 = 1.0 - b2**self.t
                denom = np.sqrt(v) / math.sqrt(bc2) + float(h["eps"])
                p -= (lr / bc1) * (m / denom)


def clip_grad_norm(grads: dict[str, Array], max_norm: float) -> float:
    """Scale all gradients together so their global L2 norm is ≤ ``max_norm``.

    As ``torch.nn.utils.clip_grad_norm_``: coef = max_norm / (‖g‖ + 1e-6),
    applied only when coef < 1. Returns the norm before clipping.
    """
    total = math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        for g in grads.values():
            g *= coef
    return total


def clip_grad_value(grads: dict[str, Array], clip_value: float) -> None:
    """Clamp every gradient entry to [−clip_value, clip_value] in place."""
    for g in grads.values():
        np.clip(g, -clip_value, clip_value, out=g)
