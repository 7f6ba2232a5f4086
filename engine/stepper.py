"""The phase stepper: forward → loss → backward → update, one record per phase.
(Over 500 lines: the four phases, a given batch, the fast path's dispatch and
snapshots of one run, whose state they share.)

A :class:`Stepper` owns one run: its data and mini-batches
(:mod:`engine.batches`), network, optimizer, schedule and random generators
(spawned once from the seed, one per purpose, so switching dropout on does
not change the data). It advances one *phase* at a time and returns a
:class:`PhaseRecord` carrying that phase's numbers under the stable ids of
:mod:`engine` (listed in :mod:`engine.records`).

:meth:`Stepper.train` is the fast path: many iterations, nothing recorded but
a few numbers per iteration (:class:`TrainStats`). Networks without norm,
dropout or residual layers run whole iterations, recorded or not, on the lean
loop (:mod:`engine.lean`). Every path runs the very same arithmetic, so
``train(n)`` and ``n`` captured iterations give bit-identical weights.

Under ``accumulate_grads`` (the forgotten ``optimizer.zero_grad()``) the run
keeps PyTorch's ``p.grad`` between iterations (:attr:`Stepper.grad_sum`, in
snapshots too): every update adds this iteration's gradient to it and the
optimizer uses the sum (:func:`engine.optim.received`).

A phase that produces NaN or ±∞ halts the run with :class:`NonFiniteError`
naming the phase and the first id (in computation order) that went bad.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from engine import catalog, lean, losses, stacked, units
from engine.batches import Batches
from engine.config import RunConfig
from engine.data import Dataset, make_dataset, table_dataset
from engine.fpstate import quiet_off, quiet_on
from engine.model import LayerCache, NetSpec, Network
from engine.optim import Optimizer, received
from engine.records import (
    IterationState,
    LayerIds,
    NonFiniteError,
    PhaseRecord,
    TrainStats,
    backward_values,
    finite,
    first_bad_backward,
    first_bad_forward,
    loss_values,
    param_keys,
    update_values,
)

Array = np.ndarray

PHASES = catalog.PHASES

# re-exported: the server and scripts import them from here
__all__ = ["PHASES", "IterationState", "NonFiniteError", "PhaseRecord", "RunConfig", "Stepper",
           "TrainStats"]


# The cheap screen: Σ x·x over an array is NaN or ∞ if any x is; it can also
# overflow for |x| > 1e154, so a hit only means "look closer" (first_bad_forward).
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
        if data is None and config.table is not None:  # a learner's own CSV
            data = table_dataset(config.table, np.random.default_rng(data_ss),
                                 config.test_fraction, config.standardize)
        if data is None:
            data = make_dataset(
                config.dataset, np.random.default_rng(data_ss), config.n_samples,
                config.noise, config.test_fraction, config.features,
                list(config.points) or None, config.standardize,
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
        #: the mini-batches, drawn with ``shuffle_rng``
        self.batches = Batches(data, self.shuffle_rng)
        self.iteration = 0
        self.phase_index = 0
        self.halted: NonFiniteError | None = None
        #: PyTorch's ``p.grad`` per parameter under ``accumulate_grads`` (G_t of
        #: :mod:`engine.optim`; empty before the first update); unused otherwise
        self.grad_sum: dict[str, Array] = {}
        self._pending = IterationState(0)
        self._last: IterationState | None = None
        self._given: tuple[Array, Array] | None = None
        self._drawn: tuple[Array, Array, Array] | None = None
        self._lean: lean.LeanPlan | None = None
        #: the next iteration computed with other runs (engine.stacked), if any
        self._fast: stacked.Fast | None = None
        #: the last iteration, when it came from engine.stacked: its full records are
        #: computed again only when asked (:meth:`fast_records`)
        self._light: stacked.Fast | None = None
        self._light_recs: list[PhaseRecord] | None = None
        self._ids = [LayerIds(l, ls.norm != "none") for l, ls in enumerate(spec.layers, start=1)]
        self._marks = units.layer_marks(self.net)
        self._out_da = f"L{len(spec.layers)}.da"
        self._plain = all(ls.norm == "none" and not ls.dropout and not ls.residual
                          for ls in spec.layers)
        self._param_keys = param_keys(self.net.params)

    # ---- configuration that may change mid-run -----------------------------------

    def set_entry(self, id: str, index: tuple[int, ...], value: float) -> float:
        """Set one parameter entry by hand (``W[index] = value``) between iterations;
        returns the old value. The array is replaced, not written into: records
        already handed out keep the values they showed. A halted run may go on."""
        W = self.net.params[id].copy()
        old = float(W[index])
        W[index] = value
        self.net.params[id] = W
        self.halted = None
        return old

    def set_hyper(self, **changes: Any) -> None:
        """Change settings that keep the network's shape (lr, optimizer and its params,
        clipping, regularization, batch size, schedule) from the next phase on.

        A different ``optimizer`` starts with empty state (as a new torch optimizer
        would); the same one keeps its state. Nothing changes if a value is refused.
        """
        self._fast = None  # (computed for the settings before)
        allowed = catalog.live_settings() | {"optimizer_params"}
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
        return self.batches.size(self.config.batch_size)

    @property
    def epoch(self) -> int:
        """Epochs completed."""
        return self.batches.epoch

    def lr_at(self, t: int) -> float:
        """Learning rate used at iteration ``t`` (schedule and warm-up applied)."""
        s = self.config.schedule
        if s.name == "constant" and s.warmup == 0:
            return self.config.lr
        return s.lr(self.config.lr, t)

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
        # (looked up on each call: a tuple of bound methods kept on the instance would
        # make every stepper a reference cycle, freed only by the cyclic collector)
        rec = _PHASE_METHODS[self.phase_index](self)
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
                recs = self._lean_step()
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
        self.give_batch(x, t)
        try:
            return self.step_iteration()
        finally:
            self._given = None

    def give_batch(self, x: Array, t: Array) -> None:
        """Make the next iteration run on ``x`` (B, n_in) with targets ``t`` (B, K)
        instead of the run's next mini-batch, phase by phase or fast as any other
        (its records carry no ``batch`` indices). The run's own batching (cursor,
        shuffle) is untouched; the batch is part of :meth:`snapshot` until that
        iteration's update. Given between iterations; finite values only."""
        if self.phase_index != 0:
            raise ValueError("finish the iteration in progress first")
        x = np.array(x, dtype=np.float64)
        t = np.array(t, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.net.spec.n_in or len(x) == 0:
            raise ValueError(f"x must have shape (B, {self.net.spec.n_in})")
        if t.shape != (x.shape[0], self.net.spec.layers[-1].units):
            raise ValueError(f"t must have shape ({x.shape[0]}, {self.net.spec.layers[-1].units})")
        if not (np.isfinite(x).all() and np.isfinite(t).all()):
            raise ValueError("x and t must be finite")
        self._given = (x, t)

    @property
    def given(self) -> tuple[Array, Array] | None:
        """The batch the next (or current) iteration runs on instead of the run's own
        (:meth:`give_batch`), or None."""
        return self._given

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
                idx, x, t = self.batches.next(self.config.batch_size)
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
            bad = first_bad_forward(self._ids, caches)
            if bad is not None:
                raise self._halt("forward", bad, self.iteration)
        units.add_forward(self._marks, caches, v)
        return PhaseRecord("forward", self.iteration, v)

    def _loss_of(self, out: LayerCache, t: Array, dfz: Array | None) -> losses.LossResult:
        """The loss phase's numbers (∂L/∂y included) for the output cache ``out``."""
        given = self._given is not None
        scale = None
        if not given and self.batches.hard and out.sp is not None:
            scale = self.batches.dy_scale(len(t))
        return losses.compute(self.net.spec.loss, out.z, out.a, t, dfz, out.sp, want_dy=True,
                              hard=None if given else self.batches.hard, dy_scale=scale)

    def _loss(self) -> PhaseRecord:
        p = self._pending
        assert p.caches is not None and p.t is not None
        out = p.caches[-1]
        p.loss = res = self._loss_of(out, p.t, self.net.output_dfz(out))
        p.reg = reg = self.regularization()
        data_loss = res.mean
        v = loss_values(res, reg, out.a, p.t, self._out_da)
        if not math.isfinite(data_loss):
            raise self._halt("loss", "loss.data", self.iteration)
        if not math.isfinite(reg):
            raise self._halt("loss", "loss.reg", self.iteration)
        return PhaseRecord("loss", self.iteration, v)

    def regularization(self) -> float:
        """L1 and L2 penalty on weights (not biases): λ₁ Σ|W| + (λ₂/2) Σ W²."""
        c = self.config
        return self.net.penalty(c.l1, c.l2) if c.l1 or c.l2 else 0.0

    def _backward(self) -> PhaseRecord:
        p = self._pending
        assert p.caches is not None and p.loss is not None
        c = self.config
        p.grads, p.gnorms = self.net.gradients(p.caches, p.loss.delta, c.l1, c.l2)
        v = backward_values(self._ids, p)
        if not math.isfinite(sum(p.gnorms)):
            raise self._halt("backward", first_bad_backward(self._ids, p) or self._ids[-1].dW,
                             self.iteration)
        return PhaseRecord("backward", self.iteration, v)

    def _accumulating(self) -> dict[str, Array] | None:
        """The run's ``p.grad`` when gradients accumulate, else None."""
        return self.grad_sum if self.config.accumulate_grads else None

    def _update(self) -> PhaseRecord:
        p = self._pending
        assert p.grads is not None
        c = self.config
        grads, summed, v = received(p.grads, c.clip_value, c.clip_norm, self._accumulating())
        p.lr = lr = self.lr_at(self.iteration)
        params = self.net.params
        p.prev = prev = dict(params)
        steps = self.optimizer.step(params, grads, lr)
        update_values(v, lr, prev, params, steps, self.optimizer.state, self._param_keys,
                      summed)
        p.done = True
        self._last = p
        self._light = None
        self._given = None  # (a given batch is for one iteration)
        # No check here: backward checked the gradients (‖dW‖ is finite), and
        # every rule turns finite gradients and a finite rate into finite steps
        # (an overflow would need |p| near 1e308). A weight set to NaN by hand
        # is caught by the next forward.
        return PhaseRecord("update", self.iteration, v)

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
        first = self.iteration
        stats = TrainStats.empty(first, total, self.net.depth)
        done = 0
        try:
            # the open iteration, or one on a given batch (give_batch), phase by phase
            if extra or (total and self._given is not None):
                self.step_phase()
                while self.phase_index != 0:
                    self.step_phase()
                last = self._last
                assert last is not None and last.loss is not None
                stats.put(0, last.loss.mean, last.reg, last.gnorms, last.lr)
                done = 1
            if self._plain and total - done > 1:
                # all but the last iteration on the lean loop; the last one
                # keeps its caches for engine.chain and engine.metrics
                self._lean_train(done, total - 1, stats)
                done = total - 1
            for i in range(done, total):
                self._fast_iteration(i, stats)
                done = i + 1
            for key, w in self.net.params.items():
                if not finite(w):
                    raise self._halt("update", key, self.iteration - 1)
        except NonFiniteError as e:
            # rows of every iteration completed before the halt
            e.stats = stats.trimmed(self.iteration - first)
            raise
        return stats

    def _fast_iteration(self, i: int, stats: TrainStats,
                        batch: tuple[Array, Array, Array] | None = None) -> None:
        """One uncaptured iteration on the general path (:func:`engine.lean.general`),
        filling row ``i`` of ``stats``; ``batch`` is an already drawn (indices, x, t)."""
        idx, x, t = batch if batch is not None else self.batches.next(self.config.batch_size)
        it = self.iteration
        try:
            p = lean.general(self.net, self.optimizer, self.config, self._ids, idx, x, t, it,
                             self.lr_at(it), self.dropout_rng, self._accumulating())
        except NonFiniteError as e:
            self.halted = e
            raise
        assert p.loss is not None
        self._last = p
        self._light = None
        stats.put(i, p.loss.mean, p.reg, p.gnorms, p.lr)
        self.iteration = it + 1

    # ---- the lean loop (engine.lean) ----------------------------------------------------

    def _lean_plan(self) -> lean.LeanPlan:
        """The lean loop's constants for the current config and optimizer (cached)."""
        plan = self._lean
        if plan is None or not plan.fits(self.config, self.optimizer):
            plan = self._lean = lean.LeanPlan(self.net, self.config, self.optimizer)
        return plan

    def _lean_step(self) -> list[PhaseRecord] | None:
        """The next whole iteration of a plain network, captured on the lean loop:
        the four records, with the caches and :attr:`last_iteration` the
        phase-by-phase path leaves (tested equal, bit for bit). On a non-finite
        value nothing has changed but the batch drawn; returns None and the phase
        path runs that batch (and halts where the value first appears)."""
        plan = self._lean_plan()
        idx, x, t = self.batches.next(self.config.batch_size)
        hard = self.batches.hard
        scale = self.batches.dy_scale(len(x)) if plan.bce and hard else None
        it = self.iteration
        lr = plan.lr if plan.lr is not None else self.lr_at(it)
        done = lean.captured(plan, self.net.params, self.optimizer, idx, x, t, lr, it, hard,
                             scale, self._accumulating())
        if done is None:
            self._drawn = (idx, x, t)
            return None
        recs, self._pending = done
        self._last = self._pending
        self._light = None
        self.iteration = it + 1
        return recs

    def _lean_train(self, start: int, stop: int, stats: TrainStats) -> None:
        """Iterations ``start`` … ``stop − 1`` of a plain network on the lean loop,
        one row of ``stats`` each, nothing kept. A non-finite value makes the
        general path replay that iteration on the same batch, which names the
        phase and id."""
        plan = self._lean_plan()
        params = self.net.params
        optimizer = self.optimizer
        lr = plan.lr
        grad_sum = self._accumulating()
        fb, update = lean.forward_backward, lean.update
        for i in range(start, stop):
            batch = self.batches.next(self.config.batch_size)
            ps = fb(plan, params, batch[1], batch[2], False)
            if not ps.finite:
                self._fast_iteration(i, stats, batch)
                continue
            rate = lr if lr is not None else self.lr_at(self.iteration)
            update(plan, optimizer, params, ps.grads, rate, False, grad_sum)
            stats.put(i, ps.mean, ps.reg, ps.gnorms, rate)
            self.iteration += 1

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
            "grad_sum": {k: v.copy() for k, v in self.grad_sum.items()},
            "dropout_rng": self.dropout_rng.bit_generator.state,
            "iteration": self.iteration,
            "given": None if self._given is None else (self._given[0].copy(),
                                                       self._given[1].copy()),
            **self.batches.snapshot(),
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
        self.grad_sum.clear()
        self.grad_sum.update({k: v.copy() for k, v in snap.get("grad_sum", {}).items()})
        self.dropout_rng.bit_generator.state = snap["dropout_rng"]
        self.iteration = snap["iteration"]
        self.batches.restore(snap)
        self.phase_index = 0
        self.halted = None
        given = snap.get("given")
        self._given = None if given is None else (given[0].copy(), given[1].copy())
        self._pending = IterationState(self.iteration)
        self._last = None
        self._light = None
        self._fast = None

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

    def forget_last(self) -> None:
        """Let the last iteration's values go (its caches and gradients: a batch's worth
        per layer, megabytes for a large network), between iterations only. Nothing
        ahead depends on them (:meth:`restore` leaves none either); a seek to here
        computes them again."""
        self._fast = None  # (what it holds is the next iteration's: computed again)
        if self.phase_index == 0:
            self._last = None
            self._light = None
            self._pending = IterationState(self.iteration)

    @property
    def last_iteration(self) -> IterationState | None:
        """The last completed captured iteration's values (for metrics and the traces).
        After :meth:`step_fast` it holds the loss, ‖dW‖, the rate and the parameters
        before, not the caches: :meth:`full_last_iteration` has those."""
        return self._last

    def full_last_iteration(self) -> IterationState | None:
        """:attr:`last_iteration` with its caches and gradients (for engine.chain),
        computed again if it came from :meth:`step_fast`."""
        self.fast_records()
        return self._last

    def fast_records(self) -> list[PhaseRecord] | None:
        """The four full records of the last iteration if it came from
        :meth:`step_fast` (computed again from its inputs on the first call: the
        same numbers; its :attr:`last_iteration` becomes the full one), else None."""
        f = self._light
        if f is None:
            return None
        if self._light_recs is None:
            recs, p = f.records(self.optimizer)
            if self._pending is self._last:  # (not once the next iteration has begun)
                self._pending = p
            self._last = p
            self._light_recs = recs
        return self._light_recs

    def step_fast(self) -> stacked.Fast | None:
        """The next whole iteration from the one :func:`engine.stacked.ahead` computed
        with other runs of this shape, if it is still this run's next (the same
        iteration, batch, parameters and rate): the run moves on exactly as
        :meth:`step_iteration` would move it, and the :class:`~engine.stacked.Fast`
        holds what its compact frames show. None, with nothing changed, otherwise."""
        f, self._fast = self._fast, None
        if (f is None or self.phase_index != 0 or not self._plain or self._given is not None
                or self.halted is not None or self._accumulating() is not None):
            return None
        plan = self._lean_plan()
        it = self.iteration
        lr = plan.lr if plan.lr is not None else self.lr_at(it)
        b = self.batches
        start, order = b.next_start(self.config.batch_size)
        if not f.fits(it, start, order, plan, lr, self.net.params):
            return None
        b.next(self.config.batch_size)  # the very batch it was computed on
        self.optimizer.t += 1  # (engine.lean.update's plain SGD)
        self.net.params.update(f.new)
        self._last = self._pending = f.light()
        self._light = f
        self._light_recs = None
        self.iteration = it + 1
        return f


#: the four phases in order, as functions of the stepper
_PHASE_METHODS = (Stepper._forward, Stepper._loss, Stepper._backward, Stepper._update)
