"""What defines a run: dataset, network shape, training settings and seed.

A :class:`RunConfig` is plain, frozen data: equal configs (and so equal
seeds) give bit-identical runs. The server builds one from the validated wire
settings; a script builds one directly (see the README's Python API).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from engine import catalog
from engine.data import Dataset
from engine.model import LayerSpec, NetSpec
from engine.owndata import Table
from engine.schedules import Schedule

_S = catalog.setting
_f, _i, _s, _b = catalog.float_default, catalog.int_default, catalog.str_default, \
    catalog.bool_default


def _tuple(name: str) -> tuple[Any, ...]:
    v = _S(name).default
    assert isinstance(v, tuple)
    return v


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run; equal configs and seeds give equal runs.
    Defaults (and the page's ranges): ``engine/catalog.py``'s ``SETTINGS``."""

    dataset: str = _s(_S("dataset"))
    n_samples: int = _i(_S("n_samples"))
    noise: float = _f(_S("noise"))
    test_fraction: float = _f(_S("test_fraction"))
    features: tuple[str, ...] = _tuple("features")
    #: real data: columns (and a regression target) to mean 0, sd 1 over the training split
    standardize: bool = _b(_S("standardize"))
    points: tuple[tuple[float, float, int], ...] = ()
    #: the ``own`` dataset's table (a learner's CSV, :func:`engine.owndata.parse_csv`)
    table: Table | None = None
    hidden: tuple[int, ...] = _tuple("hidden")
    activation: str = _s(_S("activation"))
    layer_activations: tuple[str, ...] = _tuple("layer_activations")
    #: Leaky ReLU slope / ELU α for every layer; None: each activation's own
    #: default (0.01 for Leaky ReLU, 1.0 for ELU, as in PyTorch)
    alpha: float | None = None
    output_activation: str = _s(_S("output_activation"))
    loss: str = _s(_S("loss"))
    init: str = _s(_S("init"))
    init_scale: float = _f(_S("init_scale"))
    norm: str = _s(_S("norm"))
    dropout: float = _f(_S("dropout"))
    residual: bool = _b(_S("residual"))
    optimizer: str = _s(_S("optimizer"))
    optimizer_params: tuple[tuple[str, float | bool], ...] = ()
    lr: float = _f(_S("lr"))
    schedule: Schedule = field(default_factory=Schedule)
    clip_norm: float = _f(_S("clip_norm"))
    clip_value: float = _f(_S("clip_value"))
    l1: float = _f(_S("l1"))
    l2: float = _f(_S("l2"))
    #: the forgotten ``optimizer.zero_grad()``: every update uses the gradients summed
    #: since the run started (a lesson's switch; :func:`engine.optim.received`)
    accumulate_grads: bool = _b(_S("accumulate_grads"))
    batch_size: int = _i(_S("batch_size"))
    seed: int = _i(_S("seed"))

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
        return catalog.AUTO_LOSS.get(task, "mse")

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
