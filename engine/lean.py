"""The lean loop: whole iterations of a plain network on arrays, fast.

A network without norm, dropout or residual layers needs none of
:class:`engine.model.Network`'s per-layer generality, and the stepper's
phase-by-phase dispatch costs more than the arithmetic on the small arrays
of a classroom run. Here one iteration is straight-line NumPy on the
parameters, a batch ``x`` (B, n_in) and its targets ``t`` (B, K):

    forward   z_l = a_{l−1} W_l + b_l, a_l = f_l(z_l)   (σ(z) = e^(z − softplus z) under bce)
    loss      ℓ, δ_n = ∂L/∂z_n from :func:`engine.losses.compute` (bce inlined when
              nothing is recorded)
    backward  dW_l = a_{l−1}ᵀ δ_l, db_l = 1ᵀ δ_l, δ_{l−1} = (δ_l W_lᵀ) ⊙ f′(z_{l−1}),
              plus the L1/L2 terms, ‖dW_l‖
    update    the gradient received (:func:`engine.optim.received`: clipped, or under
              ``accumulate_grads`` added to the run's running sum first), then
              :meth:`engine.optim.Optimizer.step` (plain SGD inlined)

It performs exactly the same NumPy operations, in the same order, as
``Network.forward``/``backward``, ``losses.compute``, the stepper's gradient
step and ``Optimizer.step``, so its numbers are the phase path's bit for bit
(``tests/engine/test_lean_capture.py``, ``test_stepper.py``). It knows nothing
of the stepper: batching, the schedule and the run's counters stay there; it
takes arrays and gives arrays, and :func:`captured` the four records.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engine import activations, losses, units
from engine.config import RunConfig
from engine.model import LayerCache, LayerPlan, Network
from engine.optim import Optimizer, received
from engine.records import (
    IterationState,
    LayerIds,
    NonFiniteError,
    PhaseRecord,
    backward_values,
    first_bad_backward,
    first_bad_forward,
    loss_values,
    param_keys,
    update_values,
)

Array = np.ndarray
_UNSET_KIND = object()  # (engine.stacked's "not computed yet")


class LeanPlan:
    """What the lean loop needs of a network, config and optimizer, resolved once
    (rebuild when either changes: :meth:`fits`)."""

    __slots__ = ("K", "bce", "clip_norm", "clip_value", "config", "has_reg", "hidden", "ids",
                 "keys", "l1", "l2", "last", "loss", "lr", "marks", "mse_df", "optimizer",
                 "out_da", "plain_sgd", "plans", "rev_hidden", "screen_out", "stack_kind",
                 "width")

    def __init__(self, net: Network, config: RunConfig, optimizer: Optimizer) -> None:
        spec = net.spec
        self.config = config
        self.optimizer = optimizer
        self.plans = net.plans
        self.last = self.plans[-1]
        self.hidden = self.plans[:-1]
        self.rev_hidden = self.hidden[::-1]
        self.bce = self.last.bce
        self.loss = spec.loss
        self.K = spec.layers[-1].units
        self.mse_df = spec.output_df()
        #: a non-finite output z reaches the loss anyway unless mse's output activation
        #: saturates, so only then is it screened in a captured iteration
        self.screen_out = self.mse_df is not None
        self.l1, self.l2 = config.l1, config.l2
        self.has_reg = bool(config.l1 or config.l2)
        self.clip_value, self.clip_norm = config.clip_value, config.clip_norm
        sched = config.schedule
        #: the rate when the schedule keeps it constant (else None: the schedule's)
        self.lr = config.lr if sched.name == "constant" and sched.warmup == 0 else None
        h = optimizer.hyper
        self.plain_sgd = optimizer.name == "sgd" and float(h["weight_decay"]) == 0.0 \
            and float(h["momentum"]) == 0.0
        self.ids = [LayerIds(l, False) for l in range(1, len(self.plans) + 1)]
        self.keys = param_keys(net.params)
        self.marks = units.layer_marks(net)
        self.out_da = f"L{len(self.plans)}.da"
        #: what runs stepped together share (engine.stacked, computed there once)
        self.stack_kind: object = _UNSET_KIND
        #: the units of every layer, inputs included (a sample's numbers in one pass)
        self.width = spec.n_in + sum(ls.units for ls in spec.layers)

    def fits(self, config: RunConfig, optimizer: Optimizer) -> bool:
        """Whether this plan was resolved for this very config and optimizer."""
        return self.config is config and self.optimizer is optimizer


class LeanPass:
    """Forward, loss and backward of one lean iteration (per-layer lists in layer
    order: ``ins[l−1]`` = a_{l−1}, ``zs``, ``hs`` = a_l; the backward lists are filled
    output first). ``finite`` says whether the loss, the L1/L2 term, every ‖dW‖
    (and, captured, the screened z's) are finite; nothing else is looked at."""

    __slots__ = ("das", "deltas", "dfzs", "finite", "gnorms", "grads", "hs", "ins", "mean",
                 "out", "reg", "res", "zs")

    def __init__(self) -> None:
        self.ins: list[Array] = []
        self.zs: list[Array] = []
        self.hs: list[Array] = []
        #: the output layer's cache and the loss's numbers (captured only)
        self.out: LayerCache | None = None
        self.res: losses.LossResult | None = None
        self.mean = 0.0
        self.reg = 0.0
        self.grads: dict[str, Array] = {}
        self.gnorms: list[float] = []
        self.deltas: list[Array] = []
        self.dfzs: list[Array | None] = []
        self.das: list[Array] = []
        self.finite = True


def output(last: LayerPlan, z: Array) -> tuple[Array, Array | None]:
    """The output layer's ``y`` from its ``z`` (any leading shape), and softplus(z)
    under bce (else None): σ(z) = e^(z − softplus(z)) there, as the loss needs
    softplus(z) anyway; softmax over the last axis; else the layer's activation."""
    if last.bce:
        sp = activations.softplus(z)
        y = z - sp
        np.exp(y, out=y)
        return y, sp
    if last.softmax:
        return losses.softmax(z), None
    return last.f(z, last.alpha), None


def forward_backward(plan: LeanPlan, params: dict[str, Array], x: Array, t: Array,
                     capture: bool, hard: bool = False,
                     dy_scale: Array | None = None) -> LeanPass:
    """One iteration's forward, loss and backward on ``x`` (B, n_in), ``t`` (B, K).

    ``capture`` keeps what the records and the chain rule need (∂L/∂y, every
    δ and f′(z), ∂L/∂a down to the input) and screens the z's; ``hard`` says
    the targets are all 0/1 and ``dy_scale`` may bring bce's (1 − 2t)/B (see
    :func:`engine.losses.compute`). Nothing is changed: the update is
    :func:`update`'s."""
    ps = LeanPass()
    last, hidden = plan.last, plan.hidden
    B = x.shape[0]
    ones = losses.ones(B)
    # forward
    ins = ps.ins
    zs = ps.zs
    hs = ps.hs
    ins.append(x)
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
    y, sp = output(last, z)
    zs.append(z)
    hs.append(y)
    # loss
    mse_df = plan.mse_df
    dfz_out = None if mse_df is None else mse_df(z, y, last.alpha)
    if capture:
        out = ps.out = LayerCache(a, z)
        out.h = out.a = y
        out.sp = sp
        out.dfz = dfz_out
        res = ps.res = losses.compute(plan.loss, z, y, t, dfz_out, sp, want_dy=True,
                                      hard=hard, dy_scale=dy_scale)
        delta = res.delta
        mean = res.mean
    elif sp is not None:
        # losses.compute's bce, inlined: the same operations in order
        elem = t * z
        np.subtract(sp, elem, out=elem)
        per_sample = elem[:, 0] if plan.K == 1 else elem.sum(axis=1)
        delta = y - t
        delta /= losses.batch_divisor(B)
        mean = losses.batch_mean(per_sample)
    else:
        r = losses.compute(plan.loss, z, y, t, dfz_out, sp)
        delta = r.delta
        mean = r.mean
    has_reg = plan.has_reg
    # the L1/L2 term as Network.penalty computes it
    reg = losses.penalty([params[p.kW] for p in plan.plans], plan.l1, plan.l2) \
        if has_reg else 0.0
    # backward
    grads = ps.grads
    deltas = ps.deltas
    dfzs = ps.dfzs
    das = ps.das
    deltas.append(delta)
    dfzs.append(dfz_out)
    grads[last.kW] = ins[-1].T.dot(delta)
    grads[last.kb] = ones.dot(delta)
    if hidden or capture:
        da = delta.dot(params[last.kW].T)
        das.append(da)
        for p in plan.rev_hidden:
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
    gnorms = ps.gnorms
    gsum = 0.0
    sqrt = math.sqrt
    vdot = np.vdot
    for p in plan.plans:
        g = grads[p.kW]
        if has_reg:
            g = grads[p.kW] = losses.penalty_grad(g, params[p.kW], plan.l1, plan.l2)
        gn = sqrt(vdot(g, g))
        gnorms.append(gn)
        gsum += gn
    screen = 0.0
    if capture:
        # a non-finite output z always reaches the loss (softplus, softmax,
        # (y − t)²) unless mse's output activation saturates; hidden z's can
        # vanish behind any activation (tanh(∞) = 1, relu(−∞) = 0)
        for z in zs if plan.screen_out else zs[:-1]:
            screen += vdot(z, z)
    isfinite = math.isfinite
    ps.finite = isfinite(mean) and isfinite(reg) and isfinite(gsum) and isfinite(screen)
    ps.mean = mean
    ps.reg = reg
    return ps


def update(plan: LeanPlan, optimizer: Optimizer, params: dict[str, Array],
           grads: dict[str, Array], lr: float, capture: bool,
           grad_sum: dict[str, Array] | None = None,
           ) -> tuple[dict[str, Array], dict[str, Array], dict[str, Any],
                      dict[str, Array] | None]:
    """Turn ``grads`` into what the optimizer receives (:func:`engine.optim.received`:
    clipped as configured; added to ``grad_sum``, the run's ``p.grad``, first under
    ``accumulate_grads``, else None) and step ``params`` (replacing its arrays) with
    rate ``lr``. Returns the parameters before (a copy of the dict when
    ``capture``, else ``params`` itself), the steps (captured or not plain SGD),
    the clipping's record values and the accumulated sums before clipping (None
    without accumulation)."""
    summed = None
    clip_info: dict[str, Any] = {}
    if grad_sum is not None or plan.clip_value > 0 or plan.clip_norm > 0:
        grads, summed, clip_info = received(grads, plan.clip_value, plan.clip_norm, grad_sum)
    prev = dict(params) if capture else params
    steps: dict[str, Array] = {}
    if plan.plain_sgd:
        # Optimizer.step's plain-SGD branch, inlined
        optimizer.t += 1
        neg = np.array(-lr)
        for key, w in params.items():
            step = grads[key] * neg
            params[key] = w + step
            if capture:
                steps[key] = step
    else:
        steps = optimizer.step(params, grads, lr)
    return prev, steps, clip_info, summed


def captured(plan: LeanPlan, params: dict[str, Array], optimizer: Optimizer, idx: Array,
             x: Array, t: Array, lr: float, iteration: int, hard: bool,
             dy_scale: Array | None, grad_sum: dict[str, Array] | None = None,
             ) -> tuple[list[PhaseRecord], IterationState] | None:
    """One whole recorded iteration on the batch ``idx``, ``x``, ``t`` at rate ``lr``:
    its four records and its :class:`IterationState` (caches included), exactly
    as the phase-by-phase path leaves them (``grad_sum``: see :func:`update`).
    None, with nothing changed, when a value is not finite (the phase path then
    runs the batch and names it)."""
    ps = forward_backward(plan, params, x, t, True, hard, dy_scale)
    if not ps.finite:
        return None
    prev, steps, clip_info, summed = update(plan, optimizer, params, ps.grads, lr, True,
                                            grad_sum)
    res, out = ps.res, ps.out
    assert res is not None and out is not None
    ins, zs, hs = ps.ins, ps.zs, ps.hs
    deltas, dfzs, das = ps.deltas[::-1], ps.dfzs[::-1], ps.das[::-1]
    p = IterationState(iteration)
    p.idx, p.x, p.t = idx, x, t
    vf: dict[str, Any] = {"batch": idx, "x": x, "t": t, "L0.a": x}
    caches = []
    n = len(zs)
    for k, ids in enumerate(plan.ids):
        # das[k] = ∂L/∂a of layer k + 1's input
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
    units.add_forward(plan.marks, caches, vf)
    p.caches = caches
    p.loss = res
    p.reg = ps.reg
    p.grads = ps.grads
    p.gnorms = ps.gnorms
    p.params = p.prev = prev
    p.lr = lr
    vu = dict(clip_info)
    update_values(vu, lr, prev, params, steps, optimizer.state, plan.keys, summed)
    p.done = True
    return [PhaseRecord("forward", iteration, vf),
            PhaseRecord("loss", iteration, loss_values(res, ps.reg, out.a, t, plan.out_da)),
            PhaseRecord("backward", iteration, backward_values(plan.ids, p)),
            PhaseRecord("update", iteration, vu)], p


def general(net: Network, optimizer: Optimizer, config: RunConfig, ids: list[LayerIds],
            idx: Array | None, x: Array, t: Array, iteration: int, lr: float,
            dropout_rng: np.random.Generator,
            grad_sum: dict[str, Array] | None = None) -> IterationState:
    """One uncaptured iteration of any network on the general path
    (``Network.forward``/``gradients``, ``losses.compute``, ``Optimizer.step``):
    the fast path's iteration where the lean loop does not apply, its last one
    (whose caches :mod:`engine.chain` and :mod:`engine.metrics` read) and its
    replay of a batch that went non-finite.

    ``grad_sum``: the run's ``p.grad`` under ``accumulate_grads`` (see :func:`update`).
    Returns the iteration's values (``done``). A non-finite loss, L1/L2 term or
    ‖dW‖ raises :class:`NonFiniteError` naming the first bad value in
    computation order, as a stepped run would, before anything is updated.
    """
    p = IterationState(iteration)
    p.idx, p.x, p.t = idx, x, t
    p.params = dict(net.params)
    p.caches = caches = net.forward(x, True, dropout_rng)
    out = caches[-1]
    p.loss = res = losses.compute(net.spec.loss, out.z, out.a, t, net.output_dfz(out), out.sp)
    l1, l2 = config.l1, config.l2
    if l1 or l2:
        p.reg = net.penalty(l1, l2)
    p.grads, p.gnorms = grads, gnorms = net.gradients(caches, res.delta, l1, l2,
                                                      input_grad=False)
    mean = res.mean
    isfinite = math.isfinite
    if not (isfinite(mean) and isfinite(p.reg) and isfinite(sum(gnorms))):
        bad = first_bad_forward(ids, caches)
        if bad is not None:
            raise NonFiniteError("forward", bad, iteration)
        if not isfinite(mean) or not isfinite(p.reg):
            raise NonFiniteError("loss", "loss.data" if not isfinite(mean) else "loss.reg",
                                 iteration)
        raise NonFiniteError("backward", first_bad_backward(ids, p) or ids[-1].dW, iteration)
    if grad_sum is not None or config.clip_value > 0 or config.clip_norm > 0:
        grads, _, _ = received(grads, config.clip_value, config.clip_norm, grad_sum)
    p.lr = lr
    p.prev = p.params
    optimizer.step(net.params, grads, lr)
    p.done = True
    return p
