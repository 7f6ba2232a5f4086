"""The phase stepper: forward → loss → backward → update, one record per phase.

A :class:`Stepper` owns one run: its data, network, optimizer, schedule and
random generators (spawned once from the seed, one per purpose, so switching
dropout on does not change the data). It advances one *phase* at a time and
returns a :class:`PhaseRecord` carrying that phase's numbers under the stable
ids of :mod:`engine`:

=========  ==================================================================
forward    ``x`` (B, n_in), ``t`` (B, K), ``batch`` indices (absent for a batch
           given to :meth:`Stepper.step_batch`), ``L0.a``, every ``Ll.z``,
           ``Ll.a`` (B, n_l) (and ``Ll.zn``, ``Ll.mask`` if used)
loss       ``loss.per_sample`` (B,), ``loss.data``, ``loss.reg``, ``loss.total``,
           ``y`` and ``Ln.da`` = ∂L/∂y (B, K)
backward   ``Ll.delta`` (B, n_l), ``Ll.dW`` (n_{l−1}, n_l), ``Ll.db`` (n_l,),
           ``L{l−1}.da`` = ∂L/∂a_prev, ``Ll.gnorm`` = ‖dW‖ (dW includes the
           L1/L2 terms; ``Ll.dgamma``, ``Ll.dbeta`` with a norm)
update     ``Ll.W.prev``, ``Ll.W``, ``Ll.W.step`` (and the same for ``b``, γ, β),
           ``lr``, optimizer state ``Ll.W.<state>`` (momentum_buffer, exp_avg…),
           ``clip.total_norm`` / ``clip.value`` when clipping is on
=========  ==================================================================

Every array in a record is a fresh array that the engine never changes
afterwards, so records can be kept or sent later without copying.

:meth:`Stepper.train` is the fast path: many iterations, nothing recorded but
a few numbers per iteration (:class:`TrainStats`). Both paths run the very
same arithmetic, so ``train(n)`` and ``n`` captured iterations give
bit-identical weights.

A phase that produces NaN or ±∞ halts the run with :class:`NonFiniteError`
naming the phase and the first id (in computation order) that went bad.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from engine import activations, losses
from engine.config import RunConfig
from engine.data import Dataset, make_dataset
from engine.fpstate import quiet_off, quiet_on
from engine.model import LayerCache, NetSpec, Network
from engine.optim import Optimizer, clip_grad_norm, clip_grad_value
from engine.records import NonFiniteError, PhaseRecord, TrainStats

Array = np.ndarray

PHASES = ("forward", "loss", "backward", "update")

# re-exported: the server and scripts import them from here
__all__ = ["PHASES", "IterationState", "NonFiniteError", "PhaseRecord", "RunConfig", "Stepper",
           "TrainStats"]


class IterationState:
    """The values of one iteration: carried between its phases, then kept as
    :attr:`Stepper.last_iteration` for :mod:`engine.chain` and :mod:`engine.metrics`.

    ``x`` (B, n_in), ``t`` (B, K), ``idx`` batch indices (None for a given
    batch); ``caches`` per layer (see :class:`engine.model.LayerCache`);
    ``loss``; ``reg`` the L1/L2 term; ``grads`` with the L1/L2 terms, before
    clipping; ``gnorms`` ‖dW_l‖; ``params`` the parameters forward used;
    ``prev`` those the update started from; ``lr``; ``done`` once updated.
    """

    __slots__ = (
        "caches",
        "done",
        "gnorms",
        "grads",
        "idx",
        "iteration",
        "loss",
        "lr",
        "params",
        "prev",
        "reg",
        "t",
        "x",
    )

    def __init__(self, iteration: int) -> None:
        self.iteration = iteration
        self.idx: Array | None = None
        self.x: Array | None = None
        self.t: Array | None = None
        self.caches: list[LayerCache] | None = None
        self.loss: losses.LossResult | None = None
        self.reg = 0.0
        self.grads: dict[str, Array] | None = None
        self.gnorms: list[float] = []
        self.params: dict[str, Array] = {}   # the parameters forward used
        self.prev: dict[str, Array] = {}     # the parameters before the update
        self.lr = 0.0
        self.done = False


class _Ids:
    """The stable ids of one layer, built once."""

    __slots__ = (
        "W",
        "a",
        "b",
        "dW",
        "da_prev",
        "db",
        "delta",
        "extra",
        "gnorm",
        "l",
        "mask",
        "z",
        "zn",
    )

    def __init__(self, l: int, has_norm: bool) -> None:
        self.l = l
        self.W, self.b = f"L{l}.W", f"L{l}.b"
        self.z, self.zn, self.a, self.mask = f"L{l}.z", f"L{l}.zn", f"L{l}.a", f"L{l}.mask"
        self.delta, self.da_prev = f"L{l}.delta", f"L{l - 1}.da"
        self.dW, self.db, self.gnorm = f"L{l}.dW", f"L{l}.db", f"L{l}.gnorm"
        self.extra = ((f"L{l}.gamma", f"L{l}.dgamma"), (f"L{l}.beta", f"L{l}.dbeta")) \
            if has_norm else ()


class _Lean:
    """What :meth:`Stepper._plain_iterations` needs of the network, config and
    optimizer, resolved once per config and optimizer."""

    __slots__ = ("K", "clip", "config", "has_reg", "hidden", "l1", "l2", "last", "loss", "lr",
                 "mse_df", "optimizer", "plain_sgd", "plans", "rev_hidden", "screen_out")

    def __init__(self, st: Stepper) -> None:
        net = st.net
        spec = net.spec
        self.config = cfg = st.config
        self.optimizer = opt = st.optimizer
        self.plans = net.plans
        self.last = self.plans[-1]
        self.hidden = self.plans[:-1]
        self.rev_hidden = self.hidden[::-1]
        self.loss = spec.loss
        self.K = spec.layers[-1].units
        self.mse_df = spec.output_df()
        self.screen_out = self.mse_df is not None
        self.l1, self.l2 = cfg.l1, cfg.l2
        self.has_reg = bool(cfg.l1 or cfg.l2)
        self.clip = cfg.clip_value > 0 or cfg.clip_norm > 0
        sched = cfg.schedule
        #: the rate when the schedule keeps it constant (else None: ask lr_at)
        self.lr = cfg.lr if sched.name == "constant" and sched.warmup == 0 else None
        h = opt.hyper
        self.plain_sgd = opt.name == "sgd" and float(h["weight_decay"]) == 0.0 \
            and float(h["momentum"]) == 0.0


def _finite(arr: Array) -> bool:
    """Exact test: every entry of ``arr`` is finite."""
    return bool(np.isfinite(arr).all())


# The cheap screen: Σ x·x over an array is NaN or ∞ if any x is; it can also
# overflow for |x| > 1e154, so a hit only means "look closer" with _finite.
# One BLAS call per array, no temporaries.


class Stepper:
    """One run, advanced phase by phase (or fast) under a :class:`RunConfig`.

    ``spec`` and ``data`` override what the config would build: a network of
    your own shape (:class:`NetSpec`) and your own arrays (:meth:`Dataset.from_arrays`).
    The seed still drives the initial weights, shuffling and dropout.
    """

    def __init__(self, config: RunConfig | None = None, *, spec: NetSpec | None = None,
                 data: Dataset | None = None) -> None:
        config = config or RunConfig()
        self.config = config
        ss = np.random.SeedSequence(config.seed)
        data_ss, init_ss, shuffle_ss, dropout_ss = ss.spawn(4)
        if data is None:
            data = make_dataset(
                config.dataset, np.random.default_rng(data_ss), config.n_samples,
                config.noise, config.test_fraction, config.features,
                list(config.points) or None,
            )
        self.data = data
        if spec is None:
            spec = config.net_spec(data)
        elif spec.n_in != data.n_in or spec.layers[-1].units != data.n_out:
            raise ValueError(
                f"the network takes {spec.n_in} inputs and gives {spec.layers[-1].units} "
                f"outputs; the data has {data.n_in} and {data.n_out}"
            )
        self.net = Network.build(spec, np.random.default_rng(init_ss))
        self.optimizer = Optimizer(config.optimizer, dict(config.optimizer_params))
        self.shuffle_rng = np.random.default_rng(shuffle_ss)
        self.dropout_rng = np.random.default_rng(dropout_ss)
        self.iteration = 0
        self.epoch = 0
        self.phase_index = 0
        self.halted: NonFiniteError | None = None
        self._n_train = len(self.data.x_train)
        tt = self.data.t_train
        self._hard = bool(((tt == 0.0) | (tt == 1.0)).all())
        self._start = 0
        # (1 − 2t)/B of the epoch's order for ∂L/∂y of bce (see losses.compute)
        self._dy_scale: Array | None = None
        self._dy_scale_b = 0
        self._order = np.arange(self._n_train)
        self._xs = self.data.x_train
        self._ts = self.data.t_train
        self._cursor = self._n_train  # forces a shuffle on the first batch
        self._shuffled = False
        self._pending = IterationState(0)
        self._last: IterationState | None = None
        self._given: tuple[Array, Array] | None = None
        self._drawn: tuple[Array, Array, Array] | None = None
        self._lean: _Lean | None = None
        self._ids = [_Ids(l, ls.norm != "none") for l, ls in enumerate(spec.layers, start=1)]
        self._out_da = f"L{len(spec.layers)}.da"
        self._plain = all(ls.norm == "none" and not ls.dropout and not ls.residual
                          for ls in spec.layers)
        self._param_keys: list[tuple[str, str, str, str]] = []
        self._phases = (self._forward, self._loss, self._backward, self._update)

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
        n = self._n_train
        bs = self.config.batch_size
        return n if bs <= 0 or bs > n else bs

    def lr_at(self, t: int) -> float:
        """Learning rate used at iteration ``t`` (schedule and warm-up applied)."""
        s = self.config.schedule
        if s.name == "constant" and s.warmup == 0:
            return self.config.lr
        return s.lr(self.config.lr, t)

    # ---- batching ------------------------------------------------------------------

    def _next_batch(self) -> tuple[Array, Array, Array]:
        """Indices, inputs and targets of the next mini-batch (views, no copies).

        Each epoch draws one permutation and reorders the training set once,
        so a batch is a contiguous slice.
        """
        n = self._n_train
        bs = self.config.batch_size
        if bs <= 0 or bs > n:
            bs = n
        c = self._cursor
        if c + bs > n:
            if self._shuffled:
                self.epoch += 1
            self._shuffled = True
            self._order = self.shuffle_rng.permutation(n)
            self._xs = self.data.x_train[self._order]
            self._ts = self.data.t_train[self._order]
            self._dy_scale = None
            c = 0
        self._start = c
        self._cursor = c + bs
        return self._order[c:c + bs], self._xs[c:c + bs], self._ts[c:c + bs]

    # ---- the four phases ------------------------------------------------------------

    def step_phase(self) -> PhaseRecord:
        """Run the next phase and return its record.

        Raises :class:`NonFiniteError` (and halts the run until :meth:`set_hyper`
        or a restore) when a value becomes NaN or infinite.
        """
        tok = quiet_on()
        try:
            return self._step_phase()
        finally:
            quiet_off(tok)

    def _step_phase(self) -> PhaseRecord:
        if self.halted is not None:
            raise self.halted
        rec = self._phases[self.phase_index]()
        self.phase_index = (self.phase_index + 1) % 4
        if self.phase_index == 0:
            self.iteration += 1
        return rec

    def step_iteration(self) -> list[PhaseRecord]:
        """Run the remaining phases of the current iteration (all four from the start)."""
        tok = quiet_on()
        try:
            if self.phase_index == 0 and self._plain and self._given is None \
                    and self.halted is None:
                recs = self._plain_iterations(0, 1, None)
                if recs is not None:
                    return recs
            out = [self._step_phase()]
            while self.phase_index != 0:
                out.append(self._step_phase())
            return out
        finally:
            quiet_off(tok)

    def step_batch(self, x: Array, t: Array) -> list[PhaseRecord]:
        """One whole captured iteration on a batch you give: ``x`` (B, n_in),
        ``t`` (B, K). The run's own batching (cursor, shuffle) is untouched."""
        if self.phase_index != 0:
            raise ValueError("finish the iteration in progress first")
        x = np.asarray(x, dtype=np.float64)
        t = np.asarray(t, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.net.spec.n_in:
            raise ValueError(f"x must have shape (B, {self.net.spec.n_in})")
        if t.shape != (x.shape[0], self.net.spec.layers[-1].units):
            raise ValueError(f"t must have shape ({x.shape[0]}, {self.net.spec.layers[-1].units})")
        self._given = (x, t)
        try:
            return self.step_iteration()
        finally:
            self._given = None

    def _halt(self, phase: str, where: str, iteration: int) -> NonFiniteError:
        self.halted = NonFiniteError(phase, where, iteration)
        return self.halted

    def _forward(self) -> PhaseRecord:
        p = self._pending = IterationState(self.iteration)
        if self._given is not None:
            x, t = self._given
            v: dict[str, Any] = {"x": x, "t": t, "L0.a": x}
        else:
            if self._drawn is not None:  # drawn by a lean iteration that handed over
                (idx, x, t), self._drawn = self._drawn, None
            else:
                idx, x, t = self._next_batch()
            p.idx = idx
            v = {"batch": idx, "x": x, "t": t, "L0.a": x}
        p.x, p.t = x, t
        p.params = dict(self.net.params)
        caches = p.caches = self.net.forward(x, train=True, dropout_rng=self.dropout_rng)
        # Screen with Σx² (see above): every f maps finite z to finite a,
        # so the z's (and a norm's zn, a residual sum) are all there is to check.
        s = 0.0
        vdot = np.vdot
        for ids, c in zip(self._ids, caches, strict=True):
            z = c.z
            v[ids.z] = z
            v[ids.a] = c.a
            s += vdot(z, z)
            if c.zn is not z:
                v[ids.zn] = c.zn
                s += vdot(c.zn, c.zn)
            if c.mask is not None:
                v[ids.mask] = c.mask
            if c.a is not c.h:
                s += vdot(c.a, c.a)
        if not math.isfinite(s):
            bad = self._first_bad_forward(caches)
            if bad is not None:
                raise self._halt("forward", bad, self.iteration)
        return PhaseRecord("forward", self.iteration, v)

    def _first_bad_forward(self, caches: list[LayerCache]) -> str | None:
        """The first non-finite forward id in computation order (None if all finite)."""
        for ids, c in zip(self._ids, caches, strict=True):
            if not _finite(c.z):
                return ids.z
            if c.zn is not c.z and not _finite(c.zn):
                return ids.zn
            if not _finite(c.a):
                return ids.a
        return None

    def _output_dfz(self, out: LayerCache) -> Array | None:
        """f'(z) of the output layer for ``mse``, kept in ``out`` (None when the loss
        does not need it)."""
        spec = self.net.spec
        df = spec.output_df()
        if df is None:
            return None
        out.dfz = df(out.z, out.a, spec.layers[-1].alpha)
        return out.dfz

    def _dy_scale_of(self, B: int) -> Array:
        """(1 − 2t)/B of the current batch (0/1 targets), sliced from the epoch's."""
        scale = self._dy_scale
        if scale is None or self._dy_scale_b != B:
            scale = self._dy_scale = (1.0 - 2.0 * self._ts) / B
            self._dy_scale_b = B
        return scale[self._start:self._start + B]

    def _loss_of(self, out: LayerCache, t: Array, dfz: Array | None) -> losses.LossResult:
        """The loss phase's numbers (∂L/∂y included) for the output cache ``out``."""
        given = self._given is not None
        scale = None
        if not given and self._hard and out.sp is not None:
            scale = self._dy_scale_of(len(t))
        return losses.compute(self.net.spec.loss, out.z, out.a, t, dfz, out.sp, want_dy=True,
                              hard=None if given else self._hard, dy_scale=scale)

    def _loss_values(self, res: losses.LossResult, reg: float, y: Array,
                     t: Array) -> dict[str, Any]:
        """The loss record's values."""
        data_loss = res.mean
        return {
            "loss.per_sample": res.per_sample,
            "loss.data": data_loss,
            "loss.reg": reg,
            "loss.total": data_loss + reg,
            "y": y,
            "t": t,
            self._out_da: res.dy,
        }

    def _loss(self) -> PhaseRecord:
        p = self._pending
        assert p.caches is not None and p.t is not None
        out = p.caches[-1]
        p.loss = res = self._loss_of(out, p.t, self._output_dfz(out))
        p.reg = reg = self.regularization()
        data_loss = res.mean
        v = self._loss_values(res, reg, out.a, p.t)
        if not math.isfinite(data_loss):
            raise self._halt("loss", "loss.data", self.iteration)
        if not math.isfinite(reg):
            raise self._halt("loss", "loss.reg", self.iteration)
        return PhaseRecord("loss", self.iteration, v)

    def regularization(self) -> float:
        """L1 and L2 penalty on weights (not biases): λ₁ Σ|W| + (λ₂/2) Σ W²."""
        c = self.config
        return self.net.penalty(c.l1, c.l2) if c.l1 or c.l2 else 0.0

    def _grads(self, p: IterationState, input_grad: bool) -> dict[str, Array]:
        """Backward shared by both paths: gradients with the L1/L2 terms added,
        and ‖dW_l‖ per layer in ``p.gnorms``."""
        assert p.caches is not None and p.loss is not None
        grads = self.net.backward(p.caches, p.loss.delta, train=True, input_grad=input_grad)
        c = self.config
        params = self.net.params
        gnorms = []
        for ids in self._ids:
            g = grads[ids.W]
            if c.l1 or c.l2:
                g = grads[ids.W] = losses.penalty_grad(g, params[ids.W], c.l1, c.l2)
            gnorms.append(math.sqrt(np.vdot(g, g)))
        p.grads = grads
        p.gnorms = gnorms
        return grads

    def _first_bad_backward(self, p: IterationState) -> str | None:
        """The first non-finite backward id, going from the output layer down."""
        assert p.caches is not None and p.grads is not None
        for ids, c, gn in zip(reversed(self._ids), reversed(p.caches), reversed(p.gnorms),
                              strict=True):
            if c.delta is not None and not _finite(c.delta):
                return ids.delta
            if not math.isfinite(gn):
                return ids.dW if not _finite(p.grads[ids.W]) else ids.gnorm
            if not _finite(p.grads[ids.b]):
                return ids.db
        return None

    def _backward(self) -> PhaseRecord:
        p = self._pending
        assert p.caches is not None
        self._grads(p, input_grad=True)
        v = self._backward_values(p)
        if not math.isfinite(sum(p.gnorms)):
            raise self._halt("backward", self._first_bad_backward(p) or self._ids[-1].dW,
                             self.iteration)
        return PhaseRecord("backward", self.iteration, v)

    def _backward_values(self, p: IterationState) -> dict[str, Any]:
        """The backward record's values of the iteration ``p`` (gradients computed)."""
        assert p.caches is not None and p.grads is not None
        grads = p.grads
        v: dict[str, Any] = {}
        for ids, c, gn in zip(self._ids, p.caches, p.gnorms, strict=True):
            v[ids.delta] = c.delta
            v[ids.da_prev] = c.da_prev
            v[ids.dW] = grads[ids.W]
            v[ids.db] = grads[ids.b]
            if ids.extra:
                for pk, gk in ids.extra:
                    v[gk] = grads[pk]
            v[ids.gnorm] = gn
        return v

    def _clip(self, grads: dict[str, Array]) -> tuple[dict[str, Array], dict[str, Any]]:
        c = self.config
        info: dict[str, Any] = {}
        if not (c.clip_value > 0 or c.clip_norm > 0):
            return grads, info
        if c.clip_value > 0:
            grads = clip_grad_value(grads, c.clip_value)
            info["clip.value"] = c.clip_value
        if c.clip_norm > 0:
            info["clip.total_norm"], grads = clip_grad_norm(grads, c.clip_norm)
        return grads, info

    def _update(self) -> PhaseRecord:
        p = self._pending
        assert p.grads is not None
        grads, v = self._clip(p.grads)
        p.lr = lr = self.lr_at(self.iteration)
        params = self.net.params
        p.prev = prev = dict(params)
        steps = self.optimizer.step(params, grads, lr)
        self._update_values(v, lr, prev, steps)
        p.done = True
        self._last = p
        # No check here: backward checked the gradients (‖dW‖ is finite), and
        # every rule turns finite gradients and a finite rate into finite steps
        # (an overflow would need |p| near 1e308). A weight set to NaN by hand
        # is caught by the next forward.
        return PhaseRecord("update", self.iteration, v)

    def _update_values(self, v: dict[str, Any], lr: float, prev: dict[str, Array],
                       steps: dict[str, Array]) -> None:
        """Add the update record's values to ``v``: the rate, and per parameter the
        value before, after, the step and the optimizer's state."""
        v["lr"] = lr
        params = self.net.params
        state = self.optimizer.state
        keys = self._param_keys
        if len(keys) != len(params):
            keys = self._param_keys = [(k, f"{k}.prev", f"{k}.step", f"{k}.") for k in params]
        if not state:  # plain SGD keeps none
            for k, kprev, kstep, _ in keys:
                v[kprev] = prev[k]
                v[k] = params[k]
                v[kstep] = steps[k]
            return
        for k, kprev, kstep, kdot in keys:
            v[kprev] = prev[k]
            v[k] = params[k]
            v[kstep] = steps[k]
            st = state.get(k)
            if st:
                for sname, s in st.items():
                    v[kdot + sname] = s

    # ---- fast path ------------------------------------------------------------------

    def train(self, n: int) -> TrainStats:
        """Run ``n`` whole iterations without recording (finishing any open one first).

        Returns per-iteration :class:`TrainStats` (for the open iteration
        finished first too). Raises :class:`NonFiniteError` naming the first
        phase and id that went bad, with the completed iterations' stats in
        its ``stats``.
        """
        if self.halted is not None:
            raise self.halted
        # A run going non-finite is reported by NonFiniteError, not by NumPy's
        # overflow warnings (one context for the whole loop costs nothing).
        tok = quiet_on()
        try:
            return self._train(max(int(n), 0))
        finally:
            quiet_off(tok)

    def _train(self, n: int) -> TrainStats:
        extra = 1 if self.phase_index != 0 else 0
        total = n + extra
        depth = self.net.depth
        its = np.arange(self.iteration, self.iteration + total)
        loss_a = np.empty(total)
        reg_a = np.empty(total)
        gn_a = np.empty((total, depth))
        lr_a = np.empty(total)
        stats = TrainStats(its, loss_a, reg_a, gn_a, lr_a)
        done = 0
        try:
            if extra:
                while self.phase_index != 0:
                    self.step_phase()
                last = self._last
                assert last is not None and last.loss is not None
                loss_a[0], reg_a[0], lr_a[0] = last.loss.mean, last.reg, last.lr
                gn_a[0] = last.gnorms
                done = 1
            if self._plain and total - extra > 1:
                # all but the last iteration on the lean loop; the last one
                # keeps its caches for engine.chain and engine.metrics
                self._plain_iterations(extra, total - 1, stats)
                done = total - 1
            for i in range(done, total):
                self._fast_iteration(i, stats)
                done = i + 1
            for key, w in self.net.params.items():
                if not _finite(w):
                    raise self._halt("update", key, self.iteration - 1)
        except NonFiniteError as e:
            # rows of every iteration completed before the halt
            e.stats = stats.trimmed(self.iteration - int(its[0]))
            raise
        return stats

    def _fast_iteration(self, i: int, stats: TrainStats,
                        batch: tuple[Array, Array, Array] | None = None) -> None:
        """One uncaptured iteration on the general path, filling row ``i`` of
        ``stats``; ``batch`` is an already drawn (indices, x, t)."""
        net = self.net
        cfg = self.config
        p = IterationState(self.iteration)
        p.idx, p.x, p.t = batch if batch is not None else self._next_batch()
        p.params = dict(net.params)
        p.caches = caches = net.forward(p.x, True, self.dropout_rng)
        out = caches[-1]
        p.loss = res = losses.compute(net.spec.loss, out.z, out.a, p.t,
                                      self._output_dfz(out), out.sp)
        if cfg.l1 or cfg.l2:
            p.reg = self.regularization()
        grads = self._grads(p, input_grad=False)
        mean = res.mean
        gnorms = p.gnorms
        if not (math.isfinite(mean) and math.isfinite(p.reg) and math.isfinite(sum(gnorms))):
            # name the first bad value in computation order, as a stepped run would
            bad = self._first_bad_forward(caches)
            if bad is not None:
                raise self._halt("forward", bad, self.iteration)
            if not math.isfinite(mean) or not math.isfinite(p.reg):
                raise self._halt("loss", "loss.data" if not math.isfinite(mean)
                                 else "loss.reg", self.iteration)
            bad = self._first_bad_backward(p)
            raise self._halt("backward", bad or self._ids[-1].dW, self.iteration)
        if cfg.clip_value > 0 or cfg.clip_norm > 0:
            grads, _ = self._clip(grads)
        p.lr = lr = self.lr_at(self.iteration)
        p.prev = p.params
        self.optimizer.step(net.params, grads, lr)
        p.done = True
        self._last = p
        stats.loss[i] = mean
        stats.reg[i] = p.reg
        stats.gnorm[i] = gnorms
        stats.lr[i] = lr
        self.iteration += 1

    def _lean_context(self) -> _Lean:
        """The lean path's constants for the current config and optimizer (cached)."""
        lean = self._lean
        if lean is None or lean.config is not self.config or lean.optimizer is not self.optimizer:
            lean = self._lean = _Lean(self)
        return lean

    def _plain_iterations(self, start: int, stop: int,
                          stats: TrainStats | None) -> list[PhaseRecord] | None:
        """Whole iterations of a network without norm, dropout or residual layers,
        on a lean loop: the very same NumPy operations as ``Network.forward``/
        ``backward``, ``losses.compute``, :meth:`_grads` and ``Optimizer.step``,
        in the same order (so the same bits), without per-phase dispatch.

        With ``stats`` (:meth:`train`): iterations ``start`` … ``stop − 1``, one
        row of ``stats`` each, nothing kept; a non-finite value makes the general
        path replay that iteration on the same batch, which names the phase and
        id. Returns None.

        With ``stats`` None (:meth:`step_iteration`): one iteration, returned as
        its four phase records, with the caches and :attr:`last_iteration` the
        phase-by-phase path leaves (tested equal, bit for bit). On a non-finite
        value nothing has changed but the batch drawn; it returns None and the
        phase path runs that batch (and halts where the value first appears).
        """
        net = self.net
        params = net.params
        lean = self._lean_context()
        plans, last, hidden, rev_hidden = lean.plans, lean.last, lean.hidden, lean.rev_hidden
        capture = stats is None
        has_reg, mse_df = lean.has_reg, lean.mse_df
        optimizer = self.optimizer
        K = lean.K
        softplus = activations.softplus
        sqrt = math.sqrt
        vdot = np.vdot
        isfinite = math.isfinite
        for i in range(start, stop):
            idx, x, t = self._next_batch()
            B = x.shape[0]
            ones = net.ones(B)
            # forward
            ins = [x]
            zs = []
            hs = []
            a = x
            for p in hidden:
                z = a.dot(params[p.kW])
                b = params[p.kb]
                z += b.reshape(()) if getattr(b, "shape", None) == (1,) else b
                a = p.f(z, p.alpha)
                zs.append(z)
                hs.append(a)
                ins.append(a)
            z = a.dot(params[last.kW])
            b = params[last.kb]
            z += b.reshape(()) if getattr(b, "shape", None) == (1,) else b
            sp = None
            if last.bce:
                # σ(z) = e^(z − softplus(z)): the loss needs softplus(z) anyway
                sp = softplus(z)
                y = z - sp
                np.exp(y, out=y)
            elif last.softmax:
                y = losses.softmax(z)
            else:
                y = last.f(z, last.alpha)
            zs.append(z)
            hs.append(y)
            # loss
            dfz_out = None if mse_df is None else mse_df(z, y, last.alpha)
            res = out = None
            if capture:
                out = LayerCache(a, z)
                out.h = out.a = y
                out.sp = sp
                out.dfz = dfz_out
                res = losses.compute(lean.loss, z, y, t, dfz_out, sp, want_dy=True,
                                     hard=self._hard, dy_scale=self._dy_scale_of(B)
                                     if sp is not None and self._hard else None)
                delta = res.delta
                mean = res.mean
            elif sp is not None:
                # losses.compute's bce, inlined: the same operations in order
                elem = t * z
                np.subtract(sp, elem, out=elem)
                per_sample = elem[:, 0] if K == 1 else elem.sum(axis=1)
                delta = y - t
                delta /= losses.batch_divisor(B)
                mean = losses.batch_mean(per_sample)
            else:
                r = losses.compute(lean.loss, z, y, t, dfz_out, sp)
                delta = r.delta
                mean = r.mean
            reg = self.regularization() if has_reg else 0.0
            # backward
            grads: dict[str, Array] = {}
            deltas = [delta]
            dfzs: list[Array | None] = [dfz_out]
            das: list[Array] = []
            grads[last.kW] = ins[-1].T.dot(delta)
            grads[last.kb] = ones.dot(delta)
            if hidden or capture:
                da = delta.dot(params[last.kW].T)
                das.append(da)
                for p in rev_hidden:
                    k = p.l - 1
                    dfz = p.df(zs[k], hs[k], p.alpha)
                    delta = da * dfz
                    grads[p.kW] = ins[k].T.dot(delta)
                    grads[p.kb] = ones.dot(delta)
                    if capture:
                        dfzs.append(dfz)
                        deltas.append(delta)
                    if k > 0 or capture:
                        da = delta.dot(params[p.kW].T)
                        das.append(da)
            gnorms = []
            gsum = 0.0
            for p in plans:
                g = grads[p.kW]
                if has_reg:
                    g = grads[p.kW] = losses.penalty_grad(g, params[p.kW], lean.l1, lean.l2)
                gn = sqrt(vdot(g, g))
                gnorms.append(gn)
                gsum += gn
            screen = 0.0
            if capture:
                # a non-finite output z always reaches the loss (softplus, softmax,
                # (y − t)²) unless mse's output activation saturates; hidden z's can
                # vanish behind any activation (tanh(∞) = 1, relu(−∞) = 0)
                for z in zs if lean.screen_out else zs[:-1]:
                    screen += vdot(z, z)
            if not (isfinite(mean) and isfinite(reg) and isfinite(gsum) and isfinite(screen)):
                if capture:
                    self._drawn = (idx, x, t)
                    return None
                assert stats is not None
                self._fast_iteration(i, stats, (idx, x, t))
                continue
            # update
            grads_used = grads
            clip_info: dict[str, Any] = {}
            if lean.clip:
                grads_used, clip_info = self._clip(grads)
            lr = lean.lr if lean.lr is not None else self.lr_at(self.iteration)
            prev = dict(params) if capture else params
            steps: dict[str, Array] = {}
            if lean.plain_sgd:
                # Optimizer.step's plain-SGD branch, inlined
                optimizer.t += 1
                neg = np.array(-lr)
                for key, w in params.items():
                    step = grads_used[key] * neg
                    params[key] = w + step
                    if capture:
                        steps[key] = step
            else:
                steps = optimizer.step(params, grads_used, lr)
            if not capture:
                assert stats is not None
                stats.loss[i] = mean
                stats.reg[i] = reg
                stats.gnorm[i] = gnorms
                stats.lr[i] = lr
                self.iteration += 1
                continue
            assert res is not None
            assert out is not None
            return self._lean_records(idx, x, t, ins, zs, hs, out, deltas[::-1], dfzs[::-1],
                                      das[::-1], res, reg, grads, gnorms, lr, prev, steps,
                                      clip_info)
        return None

    def _lean_records(self, idx: Array, x: Array, t: Array, ins: list[Array],
                      zs: list[Array], hs: list[Array], out: LayerCache, deltas: list[Array],
                      dfzs: list[Array | None], das: list[Array], res: losses.LossResult,
                      reg: float, grads: dict[str, Array], gnorms: list[float], lr: float,
                      prev: dict[str, Array], steps: dict[str, Array],
                      clip_info: dict[str, Any]) -> list[PhaseRecord]:
        """The four records, caches and last iteration of a captured lean iteration
        (per-layer lists in layer order; ``das[k]`` = ∂L/∂a of layer ``k + 1``'s input;
        ``out`` the output layer's cache from the loss)."""
        it = self.iteration
        p = IterationState(it)
        p.idx, p.x, p.t = idx, x, t
        vf: dict[str, Any] = {"batch": idx, "x": x, "t": t, "L0.a": x}
        caches = []
        n = len(zs)
        for k, ids in enumerate(self._ids):
            if k + 1 < n:
                c = LayerCache(ins[k], zs[k])
                c.h = c.a = hs[k]
            else:
                c = out
            c.dfz = dfzs[k]
            c.dzn = c.delta = deltas[k]
            c.da_prev = das[k]
            if k + 1 < n:
                c.da = das[k + 1]
            caches.append(c)
            vf[ids.z] = zs[k]
            vf[ids.a] = hs[k]
        p.caches = caches
        p.loss = res
        p.reg = reg
        p.grads = grads
        p.gnorms = gnorms
        p.params = p.prev = prev
        p.lr = lr
        vu = dict(clip_info)
        self._update_values(vu, lr, prev, steps)
        p.done = True
        self._pending = self._last = p
        self.iteration = it + 1
        return [PhaseRecord("forward", it, vf),
                PhaseRecord("loss", it, self._loss_values(res, reg, out.a, t)),
                PhaseRecord("backward", it, self._backward_values(p)),
                PhaseRecord("update", it, vu)]

    # ---- snapshots -----------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Everything that determines the future of this run, copied.

        Restoring it (on a stepper built from the same config) and giving the
        same commands reproduces the same numbers bit for bit. Taken between
        iterations (``phase_index == 0``).
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
        """Return to a :meth:`snapshot` (the network's shape must match).

        Parameters are replaced by fresh copies, so records already handed
        out keep the values they showed."""
        if set(snap["params"]) != set(self.net.params):
            raise ValueError("the snapshot belongs to a network of another shape")
        self.config = snap["config"]
        for k, v in snap["params"].items():
            self.net.params[k] = v.copy()
        for k, v in snap["buffers"].items():
            self.net.buffers[k][...] = v
        self.optimizer = snap["optimizer"].copy()
        self.shuffle_rng.bit_generator.state = snap["shuffle_rng"]
        self.dropout_rng.bit_generator.state = snap["dropout_rng"]
        self.iteration = snap["iteration"]
        self.epoch = snap["epoch"]
        self._order = snap["order"].copy()
        self._xs = self.data.x_train[self._order]
        self._ts = self.data.t_train[self._order]
        self._dy_scale = None
        self._cursor = snap["cursor"]
        self._shuffled = snap["shuffled"]
        self.phase_index = 0
        self.halted = None
        self._pending = IterationState(self.iteration)
        self._last = None

    # ---- evaluation ----------------------------------------------------------------

    def evaluate(self, x: Array, t: Array) -> tuple[float, float | None]:
        """Mean data loss and accuracy (None for regression) of ``x`` in eval mode.

        Accuracy: binary, y ≥ 0.5 against t ≥ 0.5; multiclass, argmax of y
        against argmax of t."""
        if len(x) == 0:
            return float("nan"), None
        tok = quiet_on()
        try:
            out = self.net.forward(x, train=False)[-1]
            res = losses.compute(self.net.spec.loss, out.z, out.a, t, None)
        finally:
            quiet_off(tok)
        return res.mean, losses.accuracy(self.data.task, out.a, t)

    @property
    def last_iteration(self) -> IterationState | None:
        """The last completed captured iteration's values (for chain and metrics)."""
        return self._last
