"""Sessions of one shape stepped together: the lean loop over stacked arrays.

A classroom's runs are mostly the same small network (the default 2-4-4-1), and
at these sizes each NumPy call costs far more than its arithmetic: one
captured lean iteration is ~40 calls on arrays of a few dozen numbers. Here the
next iteration of K runs whose lean plans agree (:func:`_kind`) is computed
with each of those calls made once on arrays stacked along a first axis of K:

    Z_l = A_{l−1} @ W_l + b_l       (K, B, n_l), ``np.matmul`` over the stack
    δ, ∂L/∂y, the loss              per run, :func:`engine.losses.compute` (exact)
    dW_l = A_{l−1}ᵀ @ δ_l, db_l = 1ᵀ @ δ_l, δ_{l−1} = (δ_l @ W_lᵀ) ⊙ f′(Z_{l−1})
    W_l ← W_l + (−lr) · dW_l        plain SGD, as :func:`engine.lean.update`

``np.matmul`` over a stack makes the same BLAS call per run that ``dot`` makes
alone and the element-wise functions do not depend on the shape, so every
number is the lone lean loop's bit for bit (``tests/engine/test_stacked.py``);
norms and the non-finite screen are per run, as alone.

Nothing is changed here: :func:`ahead` leaves each run a :class:`Ahead` (the
pass, the new parameters and steps) for the batch its next iteration will draw,
and :meth:`engine.stepper.Stepper.step_iteration` uses it only if that is still
so — the same iteration, batch, parameters (the arrays themselves), plan and
rate — and otherwise steps alone. Runs that do not fit (optimizer state,
L1/L2, clipping, accumulated gradients, softmax, an epoch's end) step alone.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import Any, Protocol

import numpy as np

from engine import activations, losses
from engine.batches import Batches
from engine.config import RunConfig
from engine.lean import LeanPass, LeanPlan
from engine.model import LayerCache, Network

Array = np.ndarray


class Run(Protocol):
    """What :func:`ahead` reads of a run (:class:`engine.stepper.Stepper`)."""

    phase_index: int
    iteration: int
    halted: Any
    config: RunConfig
    batches: Batches
    net: Network
    _plain: bool
    _given: Any
    _ahead: Ahead | None

    def _lean_plan(self) -> LeanPlan: ...

    def lr_at(self, t: int) -> float: ...


class Ahead:
    """A run's next lean iteration computed with others (see :func:`ahead`): valid
    for iteration ``iteration`` on the batch starting at ``start`` of the epoch
    order ``order``, from the parameter arrays ``params_in`` with ``plan`` and
    rate ``lr``."""

    __slots__ = ("iteration", "lr", "new", "order", "params_in", "plan", "ps", "start", "steps")

    def __init__(self, iteration: int, start: int, order: Array, plan: LeanPlan, lr: float,
                 params_in: dict[str, Array], ps: LeanPass, new: dict[str, Array],
                 steps: dict[str, Array]) -> None:
        self.iteration = iteration
        self.start = start
        self.order = order
        self.plan = plan
        self.lr = lr
        self.params_in = params_in
        self.ps = ps
        self.new = new
        self.steps = steps

    def fits(self, iteration: int, start: int, order: Array, plan: LeanPlan, lr: float,
             params: dict[str, Array]) -> bool:
        """Whether this is still the iteration a lone lean step would compute now."""
        if (iteration != self.iteration or start != self.start or order is not self.order
                or plan is not self.plan or lr != self.lr):
            return False
        p_in = self.params_in
        return len(params) == len(p_in) and all(p_in.get(k) is v for k, v in params.items())


#: a plan's kind (:func:`_kind`) by the plan's id, with the plan (so the id is its own)
_KINDS: dict[int, tuple[LeanPlan, int | None]] = {}
_KIND_IDS: dict[Hashable, int] = {}
_MAX_KINDS = 4096


def _kind(plan: LeanPlan, params: dict[str, Array]) -> int | None:
    """A small number shared by the plans whose runs can be stepped together: the same
    layers, activations, loss and parameter shapes, plain SGD without L1/L2,
    clipping or softmax; None if this one steps alone. (Cached per plan: a run's plan
    lasts as long as its config.)"""
    got = _KINDS.get(id(plan))
    if got is not None and got[0] is plan:
        return got[1]
    if len(_KINDS) >= _MAX_KINDS:
        _KINDS.clear()
    kind = None
    if not (not plan.plain_sgd or plan.has_reg or plan.clip_value > 0 or plan.clip_norm > 0
            or plan.last.softmax):
        key = (tuple((p.f, p.df, p.alpha) for p in plan.plans), plan.last.bce, plan.loss,
               plan.mse_df, plan.screen_out, tuple(params[k[0]].shape for k in plan.keys))
        kind = _KIND_IDS.setdefault(key, len(_KIND_IDS))
    _KINDS[id(plan)] = (plan, kind)
    return kind


def ahead(steppers: Sequence[Run]) -> int:
    """Compute the next captured lean iteration of ``steppers`` together where their
    plans agree, and leave each of them its :class:`Ahead`; returns how many got one.
    Runs that are not at an iteration's start on the lean loop, or alone in their
    group, are left as they are."""
    Member = tuple[Run, int, Array, Array, Array, Array | None, LeanPlan, float]
    groups: dict[tuple[int, int, bool, bool], list[Member]] = {}
    for st in steppers:
        st._ahead = None
        if (st.phase_index != 0 or not st._plain or st._given is not None
                or st.halted is not None or st.config.accumulate_grads):
            continue
        peek = st.batches.peek(st.config.batch_size)
        if peek is None:
            continue
        start, idx, x, t = peek
        plan = st._lean_plan()
        hard = st.batches.hard
        scale = st.batches.dy_scale_at(start, len(x)) if plan.bce and hard else None
        kind = _kind(plan, st.net.params)
        if kind is None:
            continue
        lr = plan.lr if plan.lr is not None else st.lr_at(st.iteration)
        groups.setdefault((kind, x.shape[0], hard, scale is not None), []).append(
            (st, start, idx, x, t, scale, plan, lr))
    n = 0
    for (_, _, hard, _), members in groups.items():
        if len(members) < 2:
            continue
        plan = members[0][6]
        params = [m[0].net.params for m in members]
        passes, new, steps = forward_backward_update(
            plan, params, [m[3] for m in members], [m[4] for m in members], hard,
            [m[5] for m in members], [m[7] for m in members])
        new_ = {k: list(v) for k, v in new.items()}
        steps_ = {k: list(v) for k, v in steps.items()}
        for i, (st, start, _, _, _, _, p, lr) in enumerate(members):
            st._ahead = Ahead(st.iteration, start, st.batches.order, p, lr, dict(params[i]),
                              passes[i], {k: v[i] for k, v in new_.items()},
                              {k: v[i] for k, v in steps_.items()})
        n += len(members)
    return n


def forward_backward_update(plan: LeanPlan, params: list[dict[str, Array]], xs: list[Array],
                            ts: list[Array], hard: bool, scales: list[Array | None],
                            lrs: list[float]
                            ) -> tuple[list[LeanPass], dict[str, Array], dict[str, Array]]:
    """:func:`engine.lean.forward_backward` (captured) and plain SGD's
    :func:`engine.lean.update` of K runs at once: their passes (every array a view
    of a stacked one), the new parameters and the steps (each (K, …))."""
    K = len(xs)
    last, hidden = plan.last, plan.hidden
    X = np.stack(xs)
    B = X.shape[1]
    names = [k[0] for k in plan.keys]  # the parameters' ids, in their order
    P = {k: np.stack([p[k] for p in params]) for k in names}
    ins = [X]
    zs: list[Array] = []
    hs: list[Array] = []
    a = X
    for p in hidden:
        z = np.matmul(a, P[p.kW])
        z += P[p.kb][:, None, :]
        a = p.f(z, p.alpha)
        zs.append(z)
        hs.append(a)
        ins.append(a)
    z = np.matmul(a, P[last.kW])
    z += P[last.kb][:, None, :]
    sp = None
    if last.bce:
        sp = activations.softplus(z)
        y = z - sp
        np.exp(y, out=y)
    else:
        y = last.f(z, last.alpha)
    zs.append(z)
    hs.append(y)
    mse_df = plan.mse_df
    dfz_out = None if mse_df is None else mse_df(z, y, last.alpha)
    a_, z_, y_ = list(a), list(z), list(y)
    sp_ = [None] * K if sp is None else list(sp)
    dfz_ = [None] * K if dfz_out is None else list(dfz_out)
    res_all = _bce_hard(z, y, sp, ts, scales, B) if (
        plan.loss == "bce" and sp is not None and hard
        and all(sc is not None for sc in scales)) else None
    if res_all is None:  # each run's loss on its own (losses.compute, as alone)
        res_all = [losses.compute(plan.loss, z_[i], y_[i], ts[i], dfz_[i], sp_[i],
                                  want_dy=True, hard=hard, dy_scale=scales[i])
                   for i in range(K)]
    delta = np.stack([r.delta for r in res_all])
    grads: dict[str, Array] = {}
    deltas: list[Array] = [delta]
    dfzs: list[Array | None] = [dfz_out]
    das: list[Array] = []
    ones = np.ones((K, 1, B))  # (a real array: BLAS takes it as it takes 1ᵀ alone)
    grads[last.kW] = np.matmul(ins[-1].transpose(0, 2, 1), delta)
    grads[last.kb] = np.matmul(ones, delta)[:, 0, :]
    da = np.matmul(delta, P[last.kW].transpose(0, 2, 1))
    das.append(da)
    for p in plan.rev_hidden:
        k = p.l - 1
        dfz = p.df(zs[k], hs[k], p.alpha)
        delta = da * dfz
        grads[p.kW] = np.matmul(ins[k].transpose(0, 2, 1), delta)
        grads[p.kb] = np.matmul(ones, delta)[:, 0, :]
        dfzs.append(dfz)
        deltas.append(delta)
        da = np.matmul(delta, P[p.kW].transpose(0, 2, 1))
        das.append(da)
    # each run's views, made by iterating the stacks (one C loop each)
    ins_ = [list(v) for v in ins]
    zs_ = [list(v) for v in zs]
    hs_ = [list(v) for v in hs]
    grads_ = {k: list(v) for k, v in grads.items()}
    deltas_ = [list(v) for v in deltas]
    dfzs_ = [[None] * K if v is None else list(v) for v in dfzs]
    das_ = [list(v) for v in das]
    kws = [p.kW for p in plan.plans]
    sqrt = math.sqrt
    vdot = np.vdot
    isfinite = math.isfinite
    screened = zs_ if plan.screen_out else zs_[:-1]
    passes = []
    for i in range(K):
        ps = LeanPass()
        out = ps.out = LayerCache(a_[i], z_[i])
        out.h = out.a = y_[i]
        out.sp = sp_[i]
        out.dfz = dfz_[i]
        res = ps.res = res_all[i]
        ps.ins = [v[i] for v in ins_]
        ps.zs = [v[i] for v in zs_]
        ps.hs = [v[i] for v in hs_]
        g = ps.grads = {k: v[i] for k, v in grads_.items()}
        ps.deltas = [v[i] for v in deltas_]
        ps.dfzs = [v[i] for v in dfzs_]
        ps.das = [v[i] for v in das_]
        gsum = 0.0
        gnorms = ps.gnorms
        for kw in kws:
            gk = g[kw]
            gn = sqrt(vdot(gk, gk))
            gnorms.append(gn)
            gsum += gn
        screen = 0.0
        for zk in screened:
            zi = zk[i]
            screen += vdot(zi, zi)
        mean = res.mean
        ps.finite = isfinite(mean) and isfinite(gsum) and isfinite(screen)
        ps.mean = mean
        passes.append(ps)
    # plain SGD (engine.lean.update): step = dW · (−lr), W ← W + step, per run's rate
    neg = np.array([-lr for lr in lrs]) if len(set(lrs)) > 1 else np.array(-lrs[0])
    steps: dict[str, Array] = {}
    new: dict[str, Array] = {}
    for key in names:
        w = P[key]
        n = neg if neg.ndim == 0 else neg.reshape((K,) + (1,) * (w.ndim - 1))
        step = steps[key] = grads[key] * n
        new[key] = w + step
    return passes, new, steps


def _bce_hard(z: Array, y: Array, sp: Array, ts: list[Array], scales: list[Array | None],
              B: int) -> list[losses.LossResult] | None:
    """:func:`engine.losses.compute`'s bce with 0/1 targets and ∂L/∂y, for K runs at
    once (``z``, ``y``, ``sp`` (K, B, C)): the same element-wise operations, the
    means per run; None if a run's loss is large enough for the capped
    exponential (each run then computes its own)."""
    T = np.stack(ts)
    elem = T * z
    np.subtract(sp, elem, out=elem)
    per = elem[:, :, 0] if elem.shape[2] == 1 else elem.sum(axis=2)
    delta = y - T
    delta /= losses.batch_divisor(B)
    res = [losses.LossResult(p, d, None) for p, d in zip(per, delta, strict=True)]
    if any(not r.mean * B <= losses._NO_CAP_BELOW for r in res):  # (as compute decides)
        return None
    dy = np.exp(elem)
    dy *= np.stack(scales)  # type: ignore[arg-type]
    for r, d in zip(res, dy, strict=True):
        r.dy = d
    return res
