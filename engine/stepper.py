"""The phase stepper: forward → loss → backward → update, one record per phase.

A :class:`Stepper` owns one run: its data, network, optimizer, schedule and
random generators (spawned once from the seed, one per purpose, so switching
dropout on does not change the data). It advances one *phase* at a time and
returns a :class:`PhaseRecord` carrying that phase's numbers under the stable
ids of :mod:`engine`:

=========  ==================================================================
forward    ``x`` (B, n_in), ``t`` (B, K), ``batch`` indices, ``L0.a``, every
           ``Ll.z``, ``Ll.a`` (B, n_l) (and ``Ll.zn``, ``Ll.mask`` if used)
loss       ``loss.per_sample`` (B,), ``loss.data``, ``loss.reg``, ``loss.total``,
           ``y`` and ``Ln.da`` = ∂L/∂y (B, K)
backward   ``Ll.delta`` (B, n_l), ``Ll.dW`` (n_{l−1}, n_l), ``Ll.db`` (n_l,),
           ``L{l−1}.da`` = ∂L/∂a_prev, ``Ll.gnorm`` = ‖dW‖
update     ``Ll.W.prev``, ``Ll.W``, ``Ll.W.step`` (and the same for ``b``, γ, β),
           ``lr``, optimizer state ``Ll.W.<state>`` (momentum_buffer, exp_avg…)
=========  ==================================================================

:meth:`Stepper.train` is the fast path: many iterations, nothing recorded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from engine import activations, losses
from engine.data import Dataset, make_dataset
from engine.model import LayerCache, LayerSpec, NetSpec, Network
from engine.optim import Optimizer, clip_grad_norm, clip_grad_value
from engine.schedules import Schedule

Array = np.ndarray

PHASES = ("forward", "loss", "backward", "update")


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
    alpha: float = 0.01
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
        hidden = []
        prev = data.n_in
        for units, act in zip(self.hidden, acts, strict=True):
            hidden.append(
                LayerSpec(units, act, self.alpha, self.norm, self.dropout,
                          self.residual and units == prev)
            )
            prev = units
        out = LayerSpec(data.n_out, self.output_activation, self.alpha)
        return NetSpec(data.n_in, (*hidden, out), self.resolved_loss(data.task),
                       self.init, self.init_scale)


@dataclass
class PhaseRecord:
    """One phase of one iteration: ``values`` maps stable ids to arrays or floats."""

    phase: str
    iteration: int
    values: dict[str, Any]


class NonFiniteError(RuntimeError):
    """The run produced NaN or ±∞; ``phase`` and ``where`` say where first."""

    def __init__(self, phase: str, where: str, iteration: int) -> None:
        super().__init__(
            f"non-finite value in {where} during the {phase} phase of iteration {iteration}"
        )
        self.phase = phase
        self.where = where
        self.iteration = iteration


@dataclass
class _Pending:
    """Values carried between the phases of the iteration in progress."""

    idx: Array | None = None
    x: Array | None = None
    t: Array | None = None
    caches: list[LayerCache] | None = None
    loss: losses.LossResult | None = None
    reg: float = 0.0
    grads: dict[str, Array] | None = None


class Stepper:
    """One run, advanced phase by phase (or fast) under a :class:`RunConfig`."""

    def __init__(self, config: RunConfig) -> None:
        self.config = config
        ss = np.random.SeedSequence(config.seed)
        data_ss, init_ss, shuffle_ss, dropout_ss = ss.spawn(4)
        self.data = make_dataset(
            config.dataset, np.random.default_rng(data_ss), config.n_samples, config.noise,
            config.test_fraction, config.features, [tuple(p) for p in config.points] or None,
        )
        self.net = Network.build(config.net_spec(self.data), np.random.default_rng(init_ss))
        self.optimizer = Optimizer(config.optimizer, dict(config.optimizer_params))
        self.shuffle_rng = np.random.default_rng(shuffle_ss)
        self.dropout_rng = np.random.default_rng(dropout_ss)
        self.iteration = 0
        self.epoch = 0
        self.phase_index = 0
        self.halted: NonFiniteError | None = None
        self._order = np.arange(len(self.data.x_train))
        self._cursor = len(self._order)  # forces a shuffle on the first batch
        self._shuffled = False
        self._pending = _Pending()

    # ---- configuration that may change mid-run -----------------------------------

    def set_hyper(self, **changes: Any) -> None:
        """Change settings that keep the network's shape (lr, optimizer and its params,
        clipping, regularization, batch size, schedule) from the next phase on.

        A different ``optimizer`` starts with empty state (as a new torch optimizer
        would); the same one keeps its state. Nothing changes if a value is refused.
        """
        allowed = {"lr", "clip_norm", "clip_value", "l1", "l2", "batch_size", "schedule",
                   "optimizer", "optimizer_params"}
        bad = set(changes) - allowed
        if bad:
            raise ValueError(f"cannot change {sorted(bad)} mid-run; reset instead")
        config = replace(self.config, **changes)
        if "optimizer" in changes or "optimizer_params" in changes:
            same = config.optimizer == self.optimizer.name
            self.optimizer = Optimizer(
                config.optimizer, dict(config.optimizer_params),
                self.optimizer.state if same else {}, self.optimizer.t if same else 0,
            )
        self.config = config
        self.halted = None

    @property
    def next_phase(self) -> str:
        """Name of the phase the next :meth:`step_phase` will run."""
        return PHASES[self.phase_index]

    @property
    def batch_size(self) -> int:
        """Effective batch size (0 in the config means the whole training set)."""
        n = len(self.data.x_train)
        bs = self.config.batch_size
        return n if bs <= 0 or bs > n else bs

    def lr_at(self, t: int) -> float:
        """Learning rate used at iteration ``t`` (schedule and warm-up applied)."""
        return self.config.schedule.lr(self.config.lr, t)

    # ---- batching ------------------------------------------------------------------

    def _next_batch(self) -> Array:
        bs = self.batch_size
        n = len(self._order)
        if self._cursor + bs > n:
            if self._shuffled:
                self.epoch += 1
            self._shuffled = True
            self._order = self.shuffle_rng.permutation(n)
            self._cursor = 0
        idx = self._order[self._cursor:self._cursor + bs]
        self._cursor += bs
        return idx

    # ---- the four phases ------------------------------------------------------------

    def step_phase(self) -> PhaseRecord:
        """Run the next phase and return its record.

        Raises :class:`NonFiniteError` (and halts the run until :meth:`set_hyper`
        or a restore) when a value becomes NaN or infinite.
        """
        if self.halted is not None:
            raise self.halted
        phase = PHASES[self.phase_index]
        rec = getattr(self, f"_{phase}")()
        self._check_finite(rec)
        self.phase_index = (self.phase_index + 1) % 4
        if self.phase_index == 0:
            self.iteration += 1
        return rec

    def step_iteration(self) -> list[PhaseRecord]:
        """Run the remaining phases of the current iteration (all four from the start)."""
        out = [self.step_phase()]
        while self.phase_index != 0:
            out.append(self.step_phase())
        return out

    def _forward(self) -> PhaseRecord:
        p = self._pending = _Pending()
        p.idx = self._next_batch()
        p.x = self.data.x_train[p.idx]
        p.t = self.data.t_train[p.idx]
        p.caches = self.net.forward(p.x, train=True, dropout_rng=self.dropout_rng)
        v: dict[str, Any] = {"batch": p.idx, "x": p.x, "t": p.t, "L0.a": p.x}
        for l, c in enumerate(p.caches, start=1):
            v[f"L{l}.z"] = c.z
            v[f"L{l}.a"] = c.a
            if c.zn is not c.z:
                v[f"L{l}.zn"] = c.zn
            if c.mask is not None:
                v[f"L{l}.mask"] = c.mask
        return PhaseRecord("forward", self.iteration, v)

    def _loss(self) -> PhaseRecord:
        p = self._pending
        assert p.caches is not None and p.t is not None
        n = self.net.depth
        out = p.caches[-1]
        spec = self.net.spec
        dfz = None
        if spec.loss == "mse":
            act = activations.get(spec.layers[-1].activation)
            if act.name != "linear":
                dfz = act.df(out.z, out.a, spec.layers[-1].alpha)
        p.loss = losses.compute(spec.loss, out.z, out.a, p.t, dfz)
        p.reg = self.regularization()
        data_loss = p.loss.mean
        v: dict[str, Any] = {
            "loss.per_sample": p.loss.per_sample,
            "loss.data": data_loss,
            "loss.reg": p.reg,
            "loss.total": data_loss + p.reg,
            "y": out.a,
            "t": p.t,
            f"L{n}.da": p.loss.dy,
        }
        return PhaseRecord("loss", self.iteration, v)

    def regularization(self) -> float:
        """L1 and L2 penalty on weights (not biases): λ₁ Σ|W| + (λ₂/2) Σ W²."""
        c = self.config
        if not c.l1 and not c.l2:
            return 0.0
        total = 0.0
        for l in range(1, self.net.depth + 1):
            W = self.net.params[f"L{l}.W"]
            if c.l1:
                total += c.l1 * float(np.abs(W).sum())
            if c.l2:
                total += 0.5 * c.l2 * float(np.vdot(W, W))
        return total

    def _backward(self) -> PhaseRecord:
        p = self._pending
        assert p.caches is not None and p.loss is not None
        grads, per_layer = self.net.backward(p.caches, p.loss.delta, train=True)
        c = self.config
        if c.l1 or c.l2:
            for l in range(1, self.net.depth + 1):
                W = self.net.params[f"L{l}.W"]
                g = grads[f"L{l}.W"]
                if c.l1:
                    g += c.l1 * np.sign(W)
                if c.l2:
                    g += c.l2 * W
        p.grads = grads
        v: dict[str, Any] = {}
        for l, info in enumerate(per_layer, start=1):
            v[f"L{l}.delta"] = info["delta"]
            v[f"L{l - 1}.da"] = info["da_prev"]
            for key, g in grads.items():
                if key.startswith(f"L{l}."):
                    v[f"L{l}.d{key.split('.', 1)[1]}"] = g
            v[f"L{l}.gnorm"] = float(np.linalg.norm(grads[f"L{l}.W"]))
        return PhaseRecord("backward", self.iteration, v)

    def _clip(self, grads: dict[str, Array]) -> dict[str, Any]:
        c = self.config
        info: dict[str, Any] = {}
        if c.clip_value > 0:
            clip_grad_value(grads, c.clip_value)
            info["clip.value"] = c.clip_value
        if c.clip_norm > 0:
            info["clip.total_norm"] = clip_grad_norm(grads, c.clip_norm)
        return info

    def _update(self) -> PhaseRecord:
        p = self._pending
        assert p.grads is not None
        v: dict[str, Any] = self._clip(p.grads)
        lr = self.lr_at(self.iteration)
        params = self.net.params
        before = {k: w.copy() for k, w in params.items()}
        self.optimizer.step(params, p.grads, lr)
        v["lr"] = lr
        for k, w in params.items():
            v[f"{k}.prev"] = before[k]
            v[k] = w.copy()
            v[f"{k}.step"] = w - before[k]
            for sname, s in self.optimizer.state.get(k, {}).items():
                v[f"{k}.{sname}"] = s.copy()
        return PhaseRecord("update", self.iteration, v)

    def _check_finite(self, rec: PhaseRecord) -> None:
        for key, val in rec.values.items():
            arr = np.asarray(val)
            if arr.dtype.kind == "f" and not np.isfinite(arr).all():
                self.halted = NonFiniteError(rec.phase, key, rec.iteration)
                raise self.halted

    # ---- fast path ------------------------------------------------------------------

    def train(self, n: int) -> None:
        """Run ``n`` whole iterations without recording (finishing any open one first).

        Raises :class:`NonFiniteError` if the loss or the weights stop being finite.
        """
        if self.halted is not None:
            raise self.halted
        while self.phase_index != 0:
            self.step_phase()
        net = self.net
        spec = net.spec
        out_act = activations.get(spec.layers[-1].activation)
        for _ in range(n):
            idx = self._next_batch()
            x = self.data.x_train[idx]
            t = self.data.t_train[idx]
            caches = net.forward(x, train=True, dropout_rng=self.dropout_rng)
            out = caches[-1]
            dfz = None
            if spec.loss == "mse" and out_act.name != "linear":
                dfz = out_act.df(out.z, out.a, spec.layers[-1].alpha)
            res = losses.compute(spec.loss, out.z, out.a, t, dfz)
            grads, _ = net.backward(caches, res.delta, train=True)
            c = self.config
            if c.l1 or c.l2:
                for l in range(1, net.depth + 1):
                    W = net.params[f"L{l}.W"]
                    if c.l1:
                        grads[f"L{l}.W"] += c.l1 * np.sign(W)
                    if c.l2:
                        grads[f"L{l}.W"] += c.l2 * W
            self._clip(grads)
            self.optimizer.step(net.params, grads, self.lr_at(self.iteration))
            if not math.isfinite(res.mean):
                self.halted = NonFiniteError("loss", "loss.data", self.iteration)
                raise self.halted
            self.iteration += 1
        for key, w in net.params.items():
            if not np.isfinite(w).all():
                self.halted = NonFiniteError("update", key, self.iteration - 1)
                raise self.halted

    # ---- snapshots -----------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Everything that determines the future of this run, copied.

        Restoring it (on a stepper built from the same config) and giving the
        same commands reproduces the same numbers bit for bit. Taken between
        phases; an iteration in progress is rewound to its start on restore
        only if the snapshot was taken at ``phase_index == 0``.
        """
        if self.phase_index != 0:
            raise ValueError("snapshots are taken between iterations")
        return {
            "config": self.config,
            "params": {k: v.copy() for k, v in self.net.params.items()},
            "buffers": {k: v.copy() for k, v in self.net.buffers.items()},
            "optimizer": self.optimizer.copy(),
            "shuffle_rng": self.shuffle_rng.bit_generator.state,
            "dropout_rng": self.dropout_rng.bit_generator.state,
            "iteration": self.iteration,
            "epoch": self.epoch,
            "order": self._order.copy(),
            "cursor": self._cursor,
            "shuffled": self._shuffled,
        }

    def restore(self, snap: dict[str, Any]) -> None:
        """Return to a :meth:`snapshot` (the network's shape must match)."""
        self.config = snap["config"]
        for k, v in snap["params"].items():
            self.net.params[k][...] = v
        for k, v in snap["buffers"].items():
            self.net.buffers[k][...] = v
        self.optimizer = snap["optimizer"].copy()
        self.shuffle_rng.bit_generator.state = snap["shuffle_rng"]
        self.dropout_rng.bit_generator.state = snap["dropout_rng"]
        self.iteration = snap["iteration"]
        self.epoch = snap["epoch"]
        self._order = snap["order"].copy()
        self._cursor = snap["cursor"]
        self._shuffled = snap["shuffled"]
        self.phase_index = 0
        self.halted = None
        self._pending = _Pending()

    # ---- evaluation ----------------------------------------------------------------

    def evaluate(self, x: Array, t: Array) -> tuple[float, float | None]:
        """Mean data loss and accuracy (None for regression) of ``x`` in eval mode."""
        if len(x) == 0:
            return float("nan"), None
        caches = self.net.forward(x, train=False)
        out = caches[-1]
        res = losses.compute(self.net.spec.loss, out.z, out.a, t, None)
        task = self.data.task
        if task == "regression":
            return res.mean, None
        if task == "binary":
            acc = float(((out.a >= 0.5) == (t >= 0.5)).mean())
        else:
            acc = float((out.a.argmax(axis=1) == t.argmax(axis=1)).mean())
        return res.mean, acc
