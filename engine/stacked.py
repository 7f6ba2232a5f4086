"""Fast play of runs of one shape, stepped together: a stacked record.

A classroom's runs are mostly the same small network (the default 2-4-4-1), and at
these sizes each NumPy call costs far more than its arithmetic: a run's captured
iteration is ~40 calls on arrays of a few dozen numbers, and turning its four
records into the compact frames fast play sends is as many again. Here the next
iteration of S runs whose lean plans agree (:func:`_kind`) is computed with each
call made once on arrays stacked along a first axis of S:

    Z_l = A_{l−1} @ W_l + b_l           (S, B, n_l), ``np.matmul`` over the stack
    ℓ, δ_n = ∂L/∂z_n                   bce with 0/1 targets stacked; else per run
    dW_l = A_{l−1}ᵀ @ δ_l, db_l = 1ᵀ @ δ_l, δ_{l−1} = (δ_l @ W_lᵀ) ⊙ f′(Z_{l−1})
    W_l ← W_l + (−lr) · dW_l            plain SGD, as :func:`engine.lean.update`

and what each run's compact frames hold (:mod:`server.run.compact`: the batch means
of every z, a, y, t and δ by one reduction over the stack, the units' marks, dW, db,
‖dW‖, the rate, W and b after the update and their steps) straight from the stacked
arrays, as one (S, K) array of float64 whose row i is run i's numbers in the order of
a :data:`Layout` (``L{l}.X.mean``: the batch mean Σ_rows X / B of the record's
``L{l}.X``): the runs' full records are never built. ``np.matmul`` over a stack makes
the same BLAS call per run that ``dot`` makes alone, the element-wise functions do
not depend on the shape, and a mean over the batch axis adds the rows in the same
order, so every number is the lone lean loop's bit for bit and every frame the one
:func:`server.run.compact.compact_iteration` makes of the lone records, byte for
byte once encoded (``tests/server/test_stacked_play.py``).

Nothing is changed here: :func:`ahead` leaves each run a :class:`Fast` for the batch
its next iteration will draw, and :meth:`engine.stepper.Stepper.step_fast` uses it
only if that is still so (the same iteration, batch, parameter arrays, plan and
rate), else the run steps alone. What a run keeps of it is its own: the new
parameters and its row of numbers are copies, never views of the group's stacks, so a
paused run holds its own iteration and no one else's. Its full records (the
inspector's, the chain rule's) are computed again from the iteration's inputs when
asked (:meth:`Fast.records`). Runs that do not fit (optimizer state, L1/L2,
clipping, accumulated gradients, softmax, norm or dropout layers, an epoch's end, a
value that is not finite) step alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from operator import is_
from typing import Any, Protocol

import numpy as np

from engine import lean, losses, units
from engine.batches import Batches
from engine.config import RunConfig
from engine.fpstate import quiet_off, quiet_on
from engine.lean import LeanPlan
from engine.model import Network
from engine.optim import Optimizer
from engine.records import IterationState, PhaseRecord

Array = np.ndarray
PHASES = ("forward", "loss", "backward", "update")
#: per phase (in :data:`PHASES`' order), the phase and its frame's ids with a run's shape
#: of each (() a number): the order of a run's numbers in :attr:`Fast.packed`
Layout = tuple[tuple[str, tuple[tuple[str, tuple[int, ...]], ...]], ...]


class Run(Protocol):
    """What :func:`ahead` reads of a run (:class:`engine.stepper.Stepper`)."""

    phase_index: int
    iteration: int
    halted: Any
    config: RunConfig
    batches: Batches
    net: Network
    optimizer: Optimizer
    _plain: bool
    _given: Any
    _fast: Fast | None

    def _lean_plan(self) -> LeanPlan: ...

    def lr_at(self, t: int) -> float: ...


class Fast:
    """A run's next lean iteration computed with others (see :func:`ahead`): valid
    for iteration ``iteration`` on the batch starting at ``start`` of the epoch order
    ``order``, from the parameter arrays ``params_in`` with ``plan`` and rate ``lr``.

    ``packed`` and ``layout``: what the compact frames hold (see
    :mod:`server.run.compact`: ``L{l}.X.mean`` is the batch mean of the record's
    ``L{l}.X``, Σ_rows X / B); ``new``: the parameters after the update (the run's own
    arrays); ``loss`` and ``gnorms``: what :class:`~engine.records.IterationState` keeps of them."""

    __slots__ = ("batch", "gnorms", "hard", "iteration", "keys", "layout", "loss", "lr", "new",
                 "order", "packed", "params_in", "plan", "start")

    def __init__(self, iteration: int, start: int, order: Array, plan: LeanPlan, lr: float,
                 params_in: dict[str, Array], batch: tuple[Array, Array, Array], hard: bool
                 ) -> None:
        self.iteration = iteration
        self.start = start
        self.order = order
        self.plan = plan
        self.lr = lr
        self.params_in = params_in
        self.batch = batch
        self.hard = hard
        #: every number of the iteration's compact frames (float64, native byte order),
        #: in ``layout``'s order: the run's own bytes
        self.packed = b""
        #: per phase, the frame's ids and each one's shape (one object per kind of run)
        self.layout: Layout = ()
        #: per phase, the record's ids in the lone path's order
        self.keys: list[tuple[str, ...]] = []
        self.new: dict[str, Array] = {}
        self.loss: losses.LossResult | None = None
        self.gnorms: list[float] = []

    def fits(self, iteration: int, start: int, order: Array, plan: LeanPlan, lr: float,
             params: dict[str, Array]) -> bool:
        """Whether this is still the iteration a lone lean step would compute now."""
        if (iteration != self.iteration or start != self.start or order is not self.order
                or plan is not self.plan or lr != self.lr):
            return False
        p_in = self.params_in  # (the same arrays, in the same order: else alone)
        return p_in.keys() == params.keys() and all(map(is_, p_in.values(), params.values()))

    def light(self) -> IterationState:
        """The iteration's values without its caches and gradients: enough for
        :mod:`engine.metrics` and the traces (the loss, ‖dW‖, the rate, the
        parameters before); :meth:`records` gives the rest."""
        p = IterationState(self.iteration)
        p.idx, p.x, p.t = self.batch
        p.loss = self.loss
        p.gnorms = self.gnorms
        p.params = p.prev = self.params_in
        p.lr = self.lr
        p.done = True
        return p

    def records(self, optimizer: Optimizer) -> tuple[list[PhaseRecord], IterationState]:
        """The iteration's four full records and its state, computed again alone from
        its inputs (the same numbers: :func:`engine.lean.captured` on the same batch
        from the same parameters). ``optimizer`` is the run's; its step count is
        left as it is."""
        idx, x, t = self.batch
        scale = _dy_scale(self.plan, self.hard, t)
        t0 = optimizer.t
        tok = quiet_on()
        try:
            done = lean.captured(self.plan, dict(self.params_in), optimizer, idx, x, t,
                                 self.lr, self.iteration, self.hard, scale)
        finally:
            optimizer.t = t0
            quiet_off(tok)
        assert done is not None  # (it was finite together: it is alone)
        return done


# ---- which runs go together -------------------------------------------------------------

#: a kind (:func:`_kind`): what runs stepped together must share, itself (a tuple)
Kind = tuple[Any, ...]
_MAX_KINDS = 4096
_UNSET = lean._UNSET_KIND


def _kind(plan: LeanPlan, params: dict[str, Array]) -> Kind | None:
    """What the runs stepped together must share: the same layers, activations, loss
    and parameter shapes, plain SGD without L1/L2, clipping, softmax, norm or dropout;
    None if this plan's runs step alone. Kept on the plan (it lasts as long as the
    run's config; nothing here keeps a plan, or what it holds, alive)."""
    kind = plan.stack_kind
    if kind is not _UNSET:
        return kind  # type: ignore[return-value]
    kind = None
    if not (not plan.plain_sgd or plan.has_reg or plan.clip_value > 0 or plan.clip_norm > 0
            or plan.last.softmax
            or any(m.batch_norm or m.dropout for m in plan.marks)):
        kind = (tuple((p.f, p.df, p.alpha) for p in plan.plans), plan.last.bce, plan.loss,
                plan.mse_df, plan.screen_out, tuple(params[k[0]].shape for k in plan.keys))
    plan.stack_kind = kind
    return kind


#: a run stepped with others holds at most this many numbers in each per-sample array
#: (B × the units of every layer, inputs included): the classroom's small networks,
#: where a NumPy call costs more than its arithmetic. A larger run gains nothing from
#: company and steps alone.
MAX_RUN_NUMBERS = 16_384
#: a group's per-sample values of one kind (its z's, a's or δ's), all layers together,
#: at most this many bytes (a larger group is computed in parts; the batch means'
#: concatenation is about twice that): what stepping together adds to a tick's memory
MAX_GROUP_BYTES = 4 * 2**20

#: (run, where its batch starts, the epoch order it is from, indices, x, t, plan, rate)
Member = tuple[Run, int, Array, Array, Array, Array, LeanPlan, float]


def ahead(steppers: Sequence[Run], min_group: int = 2) -> int:
    """Compute the next fast-play iteration of ``steppers`` together where their plans
    agree, and leave each of them its :class:`Fast` (``_fast``); returns how many got
    one. Runs that are not at an iteration's start on the lean loop, or in a group
    smaller than ``min_group``, are left as they are."""
    groups: dict[tuple[Kind, int, bool], list[Member]] = {}
    for st in steppers:
        st._fast = None
        # (optimizer state left from momentum now set to 0 adds ids to the run's update
        # record that its group's would not have: such a run steps alone)
        if (st.phase_index != 0 or not st._plain or st._given is not None
                or st.halted is not None or st.config.accumulate_grads
                or st.optimizer.state):
            continue
        start, order, idx, x, t = st.batches.peek(st.config.batch_size)
        plan = st._lean_plan()
        hard = st.batches.hard
        kind = _kind(plan, st.net.params)
        if kind is None or x.shape[0] * plan.width > MAX_RUN_NUMBERS:
            continue
        lr = plan.lr if plan.lr is not None else st.lr_at(st.iteration)
        groups.setdefault((kind, x.shape[0], hard), []).append(
            (st, start, order, idx, x, t, plan, lr))
    n = 0
    tok = quiet_on()  # (a diverging run warns nothing here, as alone: it steps alone)
    try:
        for (kind, B, hard), members in groups.items():
            # at most MAX_GROUP_BYTES of each per-sample array a group holds at once
            size = max(min_group, MAX_GROUP_BYTES // (8 * B * members[0][6].width))
            for k in range(0, len(members), size):
                chunk = members[k:k + size]
                if len(chunk) >= min_group:
                    n += _step_group(kind, chunk, hard)
    finally:
        quiet_off(tok)
    return n


# ---- one group ---------------------------------------------------------------------------

#: per kind and batch size, each phase's record ids in the order the lone path makes
#: them (one object per pair: the frames' layout is cached by it, sizes included)
_KEYS: dict[tuple[Kind, int], list[tuple[str, ...]]] = {}


def _record_keys(kind: Kind, B: int, fast: Fast, optimizer: Optimizer
                 ) -> list[tuple[str, ...]]:
    """The ids of the four records of this kind of run, in the lone path's order (read
    once per kind and batch size from one lone captured iteration, on copies)."""
    got = _KEYS.get((kind, B))
    if got is None:
        if len(_KEYS) >= _MAX_KINDS:
            _KEYS.clear()
        recs, _ = fast.records(optimizer)
        got = _KEYS[(kind, B)] = [tuple(r.values) for r in recs]
    return got


def _stack(arrays: list[Array]) -> Array:
    """``np.stack(arrays)`` (S, …) of arrays of one shape, in one C call (``np.stack``
    expands each array in Python first: a microsecond each, S × parameters a tick)."""
    return np.concatenate(arrays).reshape((len(arrays), *arrays[0].shape))


def _step_group(kind: Kind, members: list[Member], hard: bool) -> int:
    """Compute ``members``' next iteration together (one kind, one batch size) and give
    each whose values are all finite its :class:`Fast`; returns how many got one."""
    S = len(members)
    plan = members[0][6]
    last, hidden = plan.last, plan.hidden
    ts = [m[5] for m in members]
    params = [m[0].net.params for m in members]
    X = _stack([m[4] for m in members])
    T = _stack(ts)
    B = X.shape[1]
    names = [k[0] for k in plan.keys]  # the parameters' ids, in their order
    P = {k: _stack([p[k] for p in params]) for k in names}
    # forward: Z_l = A_{l−1} W_l + b_l, A_l = f(Z_l)
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
    y, sp = lean.output(last, z)  # (no softmax here: such runs step alone)
    zs.append(z)
    hs.append(y)
    # loss: ℓ per sample and δ_n = ∂L/∂z_n
    mse_df = plan.mse_df
    dfz_out = None if mse_df is None else mse_df(z, y, last.alpha)
    got = _bce_hard(z, y, sp, T, B) if (
        plan.loss == "bce" and sp is not None and hard and plan.bce) else None
    if got is None:  # each run's loss on its own (losses.compute, as alone)
        sp_ = [None] * S if sp is None else list(sp)
        dfz_ = [None] * S if dfz_out is None else list(dfz_out)
        res_all = [losses.compute(plan.loss, z[i], y[i], ts[i], dfz_[i], sp_[i],
                                  want_dy=True, hard=hard,
                                  dy_scale=_dy_scale(plan, hard, ts[i]))
                   for i in range(S)]
        per = np.stack([r.per_sample for r in res_all])
        delta = np.stack([r.delta for r in res_all])
        loss_means = [r.mean for r in res_all]
    else:
        per, delta, loss_means = got
    delta_out = delta
    # backward: dW = Aᵀ δ, db = 1ᵀ δ, δ_{l−1} = (δ Wᵀ) ⊙ f′(Z_{l−1})
    grads: dict[str, Array] = {}
    deltas: list[Array] = [delta]
    ones = np.ones((S, 1, B))  # (a real array: BLAS takes it as it takes 1ᵀ alone)
    grads[last.kW] = np.matmul(ins[-1].transpose(0, 2, 1), delta)
    grads[last.kb] = np.matmul(ones, delta)[:, 0, :]
    da = np.matmul(delta, P[last.kW].transpose(0, 2, 1))
    for p in plan.rev_hidden:
        k = p.l - 1
        delta = da * p.df(zs[k], hs[k], p.alpha)
        grads[p.kW] = np.matmul(ins[k].transpose(0, 2, 1), delta)
        grads[p.kb] = np.matmul(ones, delta)[:, 0, :]
        deltas.append(delta)
        if k > 0:
            da = np.matmul(delta, P[p.kW].transpose(0, 2, 1))
    deltas.reverse()
    # update: plain SGD, step = dW · (−lr), W ← W + step (engine.lean.update)
    lrs = [m[7] for m in members]
    neg = np.array([-lr for lr in lrs]) if len(set(lrs)) > 1 else np.array(-lrs[0])
    steps: dict[str, Array] = {}
    new: dict[str, Array] = {}
    for key in names:
        w = P[key]
        nk = neg if neg.ndim == 0 else neg.reshape((S,) + (1,) * (w.ndim - 1))
        step = steps[key] = grads[key] * nk
        new[key] = w + step
    # what the frames average, every run at once: Σ_rows X / B per column, phase by
    # phase (the forward's a's and z's, the loss's y and t, the backward's δ's)
    ids = plan.ids
    fwd_ids = ["L0.a"]
    averaged = [X]
    for k, lid in enumerate(ids):
        fwd_ids += [lid.z, lid.a]
        averaged += [zs[k], hs[k]]
    averaged += [y, T]
    averaged += deltas
    sums = np.add.reduce(np.concatenate(averaged, axis=2), 1)
    sums /= B
    widths = [v.shape[2] for v in averaged]
    flags = [(m.kdead if m.dead else m.ksat, units.unit_flags(m.saturated or "relu", hs[k],
                                                              axis=1))
             for k, m in enumerate(plan.marks) if m.dead or m.saturated is not None]
    # ‖dW‖ per run and layer, as alone: √(g·g), each g·g one (1, K) @ (K, 1) product
    # of the stack, which NumPy computes by the same dot as ``vdot`` alone (the same
    # bits: tests/server/test_stacked_play.py); the square root is IEEE's either way
    gn = np.sqrt(np.concatenate(
        [np.matmul(g.reshape(S, 1, -1), g.reshape(S, -1, 1)).reshape(S, 1)
         for g in (grads[p.kW] for p in plan.plans)], axis=1))
    gnorms_all = gn.tolist()
    # every number of every run's four frames, one row a run (S, K), in layout order
    nf = len(fwd_ids)
    cut = [sum(widths[:nf]), sum(widths[:nf + 2])]  # the sums' forward | loss | backward
    lr_col = -neg.reshape(-1) if neg.ndim else np.full(S, -float(neg))
    loss_col = np.array(loss_means)
    blocks: list[tuple[int, str, tuple[int, ...], Array]] = [
        (0, "batch", (B,), _stack([m[3] for m in members]))]
    blocks += [(0, key, (f.shape[1],), f) for key, f in flags if f is not None]
    o = 0
    for mid, w in zip(fwd_ids, widths, strict=False):
        blocks.append((0, mid + ".mean", (w,), sums[:, o:o + w]))
        o += w
    blocks += [(1, "loss.data", (), loss_col), (1, "loss.reg", (), np.zeros(S)),
               (1, "loss.total", (), loss_col + 0.0),
               (1, "y.mean", (widths[nf],), sums[:, cut[0]:cut[0] + widths[nf]]),
               (1, "t.mean", (widths[nf + 1],), sums[:, cut[0] + widths[nf]:cut[1]])]
    o = cut[1]
    for j, (lid, p) in enumerate(zip(ids, plan.plans, strict=True)):
        blocks += [(2, lid.dW, grads[p.kW].shape[1:], grads[p.kW]),
                   (2, lid.db, grads[p.kb].shape[1:], grads[p.kb]),
                   (2, lid.gnorm, (), gn[:, j])]
    for lid, w in zip(ids, widths[nf + 2:], strict=True):
        blocks.append((2, lid.delta + ".mean", (w,), sums[:, o:o + w]))
        o += w
    blocks.append((3, "lr", (), lr_col))
    for key, _, kstep, _, _ in plan.keys:
        blocks += [(3, key, new[key].shape[1:], new[key]),
                   (3, kstep, steps[key].shape[1:], steps[key])]
    packed = np.concatenate([b[3].reshape(S, -1) for b in blocks], axis=1, dtype=np.float64)
    new_ = {k: list(v) for k, v in new.items()}
    # the screen of the z's (engine.lean: Σ z² finite) as one test per run; a run near
    # the overflow of Σ z² (|z| ≥ 1e150) steps alone, which screens it exactly
    screened = zs if plan.screen_out else zs[:-1]
    calm = np.ones(S, dtype=bool)
    for zk in screened:
        calm &= np.abs(zk).max(axis=(1, 2)) < 1e150  # (NaN: False)
    calm_ = calm.tolist()
    isfinite = math.isfinite
    keys: list[tuple[str, ...]] | None = None
    layout: Layout = ()
    n = 0
    for i, (st, start, order, idx, x, t, p_, lr) in enumerate(members):
        gnorms = gnorms_all[i]
        mean = loss_means[i]
        if not (calm_[i] and isfinite(mean) and isfinite(sum(gnorms))):
            continue  # alone, it halts where the value first appears
        f = Fast(st.iteration, start, order, p_, lr, dict(params[i]),
                 (idx, x, t), hard)
        if keys is None:
            keys = _record_keys(kind, B, f, st.optimizer)
            layout = _layout(kind, B, blocks)
        f.keys = keys
        f.layout = layout
        f.loss = loss = losses.LossResult.__new__(losses.LossResult)
        # (copies: a view would keep the group's stacks alive as long as the run)
        loss.per_sample, loss.delta, loss.dy = per[i].copy(), delta_out[i].copy(), None
        loss.mean = mean
        f.gnorms = gnorms
        f.packed = packed[i].tobytes()
        mine = f.new
        for key in names:
            mine[key] = new_[key][i].copy()
        st._fast = f
        n += 1
    return n


#: per kind and batch size, the layout of a run's frame numbers (one object per pair)
_LAYOUTS: dict[tuple[Kind, int], Layout] = {}


def _layout(kind: Kind, B: int, blocks: list[tuple[int, str, tuple[int, ...], Array]]
            ) -> Layout:
    """The :data:`Layout` of ``blocks`` (phase index, frame id, a run's shape, values),
    made once per kind and batch size."""
    got = _LAYOUTS.get((kind, B))
    if got is None:
        if len(_LAYOUTS) >= _MAX_KINDS:
            _LAYOUTS.clear()
        got = _LAYOUTS[(kind, B)] = tuple(
            (phase, tuple((name, tuple(int(d) for d in shape))
                          for ph, name, shape, _ in blocks if ph == j))
            for j, phase in enumerate(PHASES))
    return got


def _dy_scale(plan: LeanPlan, hard: bool, t: Array) -> Array | None:
    """bce's ∂L/∂y scale (1 − 2t)/B of a batch's 0/1 targets ``t`` (B, C), element by
    element as the lone path slices it from its epoch's (the same bits); None unless
    the run's loss is bce on such targets."""
    return (1.0 - 2.0 * t) / len(t) if plan.bce and hard else None


def _bce_hard(z: Array, y: Array, sp: Array, T: Array, B: int
              ) -> tuple[Array, Array, list[float]] | None:
    """:func:`engine.losses.compute`'s bce with 0/1 targets and ∂L/∂y for S runs at
    once (``z``, ``y``, ``sp``, ``T`` (S, B, C)): the same element-wise operations;
    ℓ per sample (S, B), δ (S, B, C) and each run's mean loss (1/B) Σ_i ℓ_i, as
    :func:`engine.losses.batch_mean` takes it (1ᵀ ℓ by the same dot, then / B). None
    if a run's loss is large enough for the capped exponential (each run then
    computes its own)."""
    elem = T * z
    np.subtract(sp, elem, out=elem)
    per = elem[:, :, 0] if elem.shape[2] == 1 else elem.sum(axis=2)
    delta = y - T
    delta /= losses.batch_divisor(B)
    sums = np.matmul(losses.ones(B)[None, :], per[:, :, None]).reshape(-1).tolist()
    means = [v / B for v in sums]
    if any(not m * B <= losses._NO_CAP_BELOW for m in means):  # (as compute decides)
        return None
    return per, delta, means
