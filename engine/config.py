"""What defines a run: dataset, network shape, training settings and seed.

A :class:`RunConfig` is plain, frozen data: equal configs (and so equal
seeds) give bit-identical runs. The server builds one from the validated wire
settings; a script builds one directly (see the README's Python API).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from engine.data import Dataset
from engine.model import LayerSpec, NetSpec
from engine.schedules import Schedule


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run; equal configs and seeds give equal runs."""

    dataset: str = "xor"
    n_samples: int = 200
    noise: float = 0.0
    test_fraction: float = 0.5
    features: tuple[str, ...] = ("x1", "x2")
    points: tuple[tuple[float, float, int], ...] = ()
    hidden: tuple[int, ...] = (4, 4)
    activation: str = "tanh"
    layer_activations: tuple[str, ...] = ()
    #: Leaky ReLU slope / ELU α for every layer; None: each activation's own
    #: default (0.01 for Leaky ReLU, 1.0 for ELU, as in PyTorch)
    alpha: float | None = None
    output_activation: str = "linear"
    loss: str = "auto"
    init: str = "xavier_uniform"
    init_scale: float = 0.5
    norm: str = "none"
    dropout: float = 0.0
    residual: bool = False
    optimizer: str = "sgd"
    optimizer_params: tuple[tuple[str, float | bool], ...] = ()
    lr: float = 0.03
    schedule: Schedule = field(default_factory=Schedule)
    clip_norm: float = 0.0
    clip_value: float = 0.0
    l1: float = 0.0
    l2: float = 0.0
    batch_size: int = 10
    seed: int = 1

    def __post_init__(self) -> None:
        if not math.isfinite(self.lr) or self.lr < 0:
            raise ValueError("lr must be a finite number ≥ 0")
        for name in ("noise", "l1", "l2", "clip_norm", "clip_value", "alpha", "init_scale"):
            v = getattr(self, name)
            if v is None and name == "alpha":
                continue
            if not math.isfinite(v) or (name != "alpha" and v < 0):
                raise ValueError(f"{name} must be a finite number ≥ 0")
        if self.batch_size < 0:
            raise ValueError("batch_size must be ≥ 0 (0 means the full batch)")
        if self.layer_activations and len(self.layer_activations) != len(self.hidden):
            raise ValueError("layer_activations needs one activation per hidden layer")

    def resolved_loss(self, task: str) -> str:
        """The loss to use: ``auto`` picks bce, cross_entropy or mse by task."""
        if self.loss != "auto":
            return self.loss
        return {"binary": "bce", "multiclass": "cross_entropy"}.get(task, "mse")

    def net_spec(self, data: Dataset) -> NetSpec:
        """The network this config describes for ``data``'s input and output widths."""
        acts = self.layer_activations or (self.activation,) * len(self.hidden)
        alpha = math.nan if self.alpha is None else self.alpha   # nan: each one's default
        hidden = []
        prev = data.n_in
        for units, act in zip(self.hidden, acts, strict=True):
            hidden.append(
                LayerSpec(units, act, alpha, self.norm, self.dropout,
                          self.residual and units == prev)
            )
            prev = units
        out = LayerSpec(data.n_out, self.output_activation, alpha)
        return NetSpec(data.n_in, (*hidden, out), self.resolved_loss(data.task),
                       self.init, self.init_scale)
