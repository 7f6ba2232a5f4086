"""The chain rule of one parameter or unit, and its finite-difference check: the
only ones in the project (the server shapes what this module returns, the page
lays it out). About 580 lines, on purpose: the trace, the factors, the norm's
rule, the check and the update's account must agree term by term, and are
easiest to check against each other in one place.

Backpropagation is the chain rule applied layer by layer; a learner sees it
best on one number. The loss of a batch of B samples is the mean of each
sample's loss ℓ_b (plus the L1/L2 term R), so for a weight ``Ll.W[i, j]``::

    L = (1/B) Σ_b ℓ_b + R
    ∂L/∂W[i,j] = (1/B) Σ_b ∂ℓ_b/∂a_bj · ∂a_bj/∂z_bj · ∂z_bj/∂W[i,j] + ∂R/∂W[i,j]
               = (1/B) Σ_b ∂ℓ_b/∂a_bj ·    f'(z_bj)   ·   a_prev[b,i]   + λ₁ sign(W) + λ₂ W

with ℓ_b = ½ Σ_k (y_k − t_k)² under mse (so ∂ℓ_b/∂y = y − t, the textbook
factor), and ∂ℓ_b/∂z = y − t at a sigmoid + bce or softmax + cross-entropy
output. Each factor is one column of a table with one row per sample
(``rows``); their product is the sample's share ∂ℓ_b/∂θ. Where the layer
differs from plain ``a = f(z)`` the columns say how:

* dropout: ∂a/∂h = m/(1 − p), the sample's scaled mask (``mask``);
* a residual connection: a = h + a_prev changes ∂ℓ/∂a of the layer below, not
  ∂a/∂z (the ``sum`` of a sample says so);
* a norm: z̃ = γ·û + β with û = (z − μ)/√(σ² + ε) (``norm``: μ, σ², ε, γ, β). With
  fixed (running) statistics z̃ is affine in z, so ∂z̃/∂z = γ/√(σ² + ε) is one more
  factor. With the batch's own statistics every sample's z moves μ and σ², so no
  sample's share stands alone: the columns are then ∂L/∂… (1/B inside, no 1/B
  in front) and δ_b = ∂L/∂z_b follows the norm's backward rule
  ``δ_b = (γ ∂L/∂z̃_b − mean(γ ∂L/∂z̃) − û_b · mean(γ ∂L/∂z̃ ⊙ û)) / √(σ² + ε)``,
  whose two means the ``norm`` part carries. Layer norm normalizes each sample
  over its units: per sample again, through the same rule over units.

Values come from a :class:`Trace`: the iteration's own numbers, built from its
phase records (:func:`trace_records`: the iteration in progress, as the
frames showed it; factors of phases not run yet are ``None``), from the
stepper's last completed iteration (:func:`trace_last`) or from one sample in
evaluation mode (:func:`trace_sample`: no dropout, batch norm with its running
statistics, ℓ of that sample alone). :func:`explain_trace` turns a trace into
JSON-friendly data (floats, ints, strings, lists, dicts, ``None``):

* ``id``, ``index``, ``kind`` (weight, bias, gamma, beta, unit), ``layer``,
  ``depth``, ``activation`` (of the layer), ``loss``, ``mode`` (``train`` or
  ``eval``), ``iteration``, ``batch_size`` B, ``phases`` (those run).
* ``per_sample``: True when each row is one sample's share ∂ℓ_b/∂θ and
  ``data`` = (1/B) Σ_b of them; False (batch-norm statistics at or after the
  target) when rows are ∂L/∂… terms and ``data`` = Σ_b of them.
* ``factors`` [{``key``, ``phase``}]: the columns, in order; keys ``dL_dy``
  (y − t, mse output), ``y_minus_t`` (∂ℓ/∂z of a sigmoid/softmax output),
  ``da_dz`` (f′(z)), ``dL_da`` (∂ℓ/∂a), ``mask`` (m/(1 − p)), ``da_dzn`` (f′(z̃)),
  ``dzn_dz`` (γ/√(σ² + ε)), ``dL_dz`` (∂ℓ/∂z = δ, through a norm's backward rule),
  ``dz_dw`` (a_prev[i]), ``dz_db`` (1), ``dzn_dgamma`` (û), ``dzn_dbeta`` (1);
  ``phase`` is the phase that computes it.
* ``rows`` [{``row``, ``sample``, ``factors`` [float|None], ``product``, and
  what the unit's forward pass was: ``z``, ``a`` (units), ``u``, ``zn``,
  ``mu``, ``var`` (norm), ``h`` (f(z̃) before the mask), ``mask``, ``skip``
  (a_prev[j] of a residual), ``dzn`` (∂·/∂z̃, norm on batch statistics), ``y``,
  ``t``, ``target`` (the sample's whole target row, several outputs)}].
* ``row_sum`` (Σ_b product), ``data``, ``reg`` (∂R/∂θ; ``regularized`` whether L
  has an L1/L2 term R at all), ``grad`` (the gradient
  the engine computed: for a parameter the backward phase's ∂L/∂θ, L1/L2
  included, before clipping; for a unit Σ_b δ_b = ∂L/∂b).
* ``norm`` (a norm layer): {``kind``, ``stats`` (batch | running | sample),
  ``eps``, ``gamma``, ``beta``, and for batch norm ``mean``, ``var``,
  ``inv_std``, ``du_mean``, ``duu_mean``}, or None.
* ``path`` [{``layer``, ``values``}]: Σ_b δ of every later layer.
* ``forward`` (units): the batch means of z and a (one sample's own in eval).
* ``sum`` (eval, hidden layer): ∂ℓ/∂a_j = Σ_k W_{l+1}[j,k] δ_{l+1}[k] (+ the next
  layer's ∂ℓ/∂a through a residual): {``layer``, ``terms`` [{k, w, delta,
  product}], ``residual``, ``value``}; ``loss_value`` ℓ of the sample.
* ``check`` (parameters, once the gradient exists): the central difference
  (L(θ+h) − L(θ−h))/2h of the very loss the gradient is of — training mode with
  the same batch, dropout masks and batch statistics and the L1/L2 term, or the
  sample's ℓ in evaluation mode — beside ``grad``: {``numeric``, ``analytic``,
  ``abs_error``, ``rel_error``, ``h``, ``mode``}. It runs on copies: the run's
  parameters, buffers and random generators are untouched.

:func:`explain_update` explains the update phase of one entry: the gradient
(and, when gradients accumulate, the sum ``p.grad`` holds, which the update uses),
its clipping (factor, or the clamp), the gradient the optimizer received, the
optimizer's state under the names its record carries (symbols from
:mod:`engine.catalog`), and the rule in effect (:func:`update_rule`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine import catalog, losses
from engine.fpstate import quiet
from engine.model import NORM_EPS, LayerCache, Network
from engine.optim import clip_coef, clip_grad_value
from engine.stepper import PHASES, Stepper

Array = np.ndarray
#: phase name → that phase's record values (as :class:`engine.records.PhaseRecord` has them)
Phases = Mapping[str, Mapping[str, Any]]

_KINDS = {"W": "weight", "b": "bias", "gamma": "gamma", "beta": "beta", "a": "unit", "z": "unit"}
#: the gradient's id in the backward record, by parameter attribute
_GRAD_IDS = {"W": "dW", "b": "db", "gamma": "dgamma", "beta": "dbeta"}


@dataclass
class Trace:
    """One iteration's (or one sample's) values, as the chain rule reads them.

    ``net`` holds the parameters the forward pass used; ``x`` (B, n_in), ``t``
    (B, K); ``caches`` complete (forward and backward values, the output's
    f′(z) under mse); ``per_sample`` ℓ_b (B,); ``grads`` ∂L/∂θ as the engine
    computed them (L1/L2 included in training); ``masks`` the dropout masks;
    ``train`` batch statistics and dropout (else evaluation mode); ``done`` the
    phases whose values may be shown; ``samples`` the data index of each row (None
    for a row of a batch given to the stepper: a learner's drawing).
    """

    net: Network
    x: Array
    t: Array
    caches: list[LayerCache]
    per_sample: Array
    grads: dict[str, Array]
    masks: list[Array | None]
    train: bool
    done: frozenset[str]
    iteration: int
    samples: list[int | None]
    l1: float = 0.0
    l2: float = 0.0

    @property
    def B(self) -> int:
        """Rows in the batch."""
        return int(self.x.shape[0])


def _run(net: Network, x: Array, t: Array, train: bool, masks: list[Array | None] | None,
         l1: float, l2: float) -> tuple[list[LayerCache], losses.LossResult, dict[str, Array]]:
    """Forward, loss and backward of ``x`` on ``net`` (whose buffers a training pass
    with batch norm updates: give it copies): caches, loss, ∂L/∂θ with L1/L2."""
    caches = net.forward(x, train=train, masks=masks)
    out = caches[-1]
    res = losses.compute(net.spec.loss, out.z, out.a, t, net.output_dfz(out), out.sp)
    if train:
        grads, _ = net.gradients(caches, res.delta, l1, l2)
    else:
        grads = net.backward(caches, res.delta, train=False)
    return caches, res, grads


def _loss(net: Network, x: Array, t: Array, train: bool, masks: list[Array | None] | None,
          l1: float, l2: float) -> float:
    """L = (1/B) Σ_b ℓ_b (+ the L1/L2 term) of ``x`` on ``net``."""
    out = net.forward(x, train=train, masks=masks)[-1]
    res = losses.compute(net.spec.loss, out.z, out.a, t, None, out.sp)
    return res.mean + net.penalty(l1, l2)


def grad_id(param_id: str) -> str:
    """The id of a parameter's gradient in the backward record: ``L1.W`` → ``L1.dW``."""
    layer, _, attr = param_id.partition(".")
    return f"{layer}.{_GRAD_IDS[attr]}"


@quiet
def trace_records(net: Network, phases: Phases, iteration: int, l1: float = 0.0,
                  l2: float = 0.0) -> Trace | None:
    """The trace of the iteration whose phase records are ``phases`` (None before its
    forward phase). ``net`` is the run's network now: the parameters forward used are
    its own until the update phase, then the update record's ``<id>.prev``.

    The records carry z, a, δ and ∂L/∂θ; what they do not (û, the statistics, f′,
    ∂L/∂z̃) comes from running the same batch again through the same code, in
    training mode with the forward record's dropout masks, on copies: the same
    numbers, bit for bit. The backward record's gradients are kept as they were.
    """
    fwd = phases.get("forward")
    if fwd is None or fwd.get("x") is None:
        return None
    x = np.asarray(fwd["x"], dtype=np.float64)
    t = np.asarray(fwd["t"], dtype=np.float64)
    upd = phases.get("update")
    params = dict(net.params) if upd is None else {
        k: np.asarray(upd.get(f"{k}.prev", v)) for k, v in net.params.items()}
    used = Network(net.spec, params, {k: v.copy() for k, v in net.buffers.items()})
    masks: list[Array | None] = []
    for l in range(1, net.depth + 1):
        mk = fwd.get(f"L{l}.mask")
        masks.append(None if mk is None else np.asarray(mk))
    run = Network(net.spec, params, {k: v.copy() for k, v in net.buffers.items()})
    caches, res, grads = _run(run, x, t, True, masks, l1, l2)
    bwd = phases.get("backward")
    if bwd is not None:
        for k in grads:
            g = bwd.get(grad_id(k))
            if g is not None:
                grads[k] = np.asarray(g)
    batch = fwd.get("batch")
    samples: list[int | None] = [None] * len(x) if batch is None else [int(i) for i in batch]
    return Trace(used, x, t, caches, res.per_sample, grads, masks, True,
                 frozenset(p for p in PHASES if p in phases), iteration, samples, l1, l2)


def trace_last(st: Stepper) -> Trace | None:
    """The trace of ``st``'s last completed captured iteration (None before one)."""
    p = st.full_last_iteration()
    if p is None or p.caches is None or p.x is None or p.t is None or p.grads is None \
            or p.loss is None:
        return None
    used = Network(st.net.spec, dict(p.params), {k: v.copy() for k, v in st.net.buffers.items()})
    caches = p.caches
    if caches[-1].dfz is None:
        used.output_dfz(caches[-1])
    samples: list[int | None] = [None] * len(p.x) if p.idx is None else [int(i) for i in p.idx]
    return Trace(used, p.x, p.t, caches, p.loss.per_sample, dict(p.grads),
                 [c.mask for c in caches], True, frozenset(PHASES), p.iteration, samples,
                 st.config.l1, st.config.l2)


@quiet
def trace_sample(net: Network, x: Array, t: Array, iteration: int = 0,
                 sample: int = 0) -> Trace:
    """The trace of one data point ``x`` (n_in,) with target ``t`` (K,) in evaluation
    mode with ``net``'s current parameters: ℓ of that sample alone, no L1/L2."""
    x2 = np.asarray(x, dtype=np.float64).reshape(1, -1)
    t2 = np.asarray(t, dtype=np.float64).reshape(1, -1)
    caches, res, grads = _run(net, x2, t2, False, None, 0.0, 0.0)
    return Trace(net, x2, t2, caches, res.per_sample, grads, [None] * net.depth, False,
                 frozenset(PHASES[:3]), iteration, [sample])


@quiet
def finite_difference(tr: Trace, id: str, index: Sequence[int],
                      h: float | None = None) -> dict[str, Any]:
    """(L(θ+h) − L(θ−h))/2h of the trace's loss w.r.t. ``id[index]``, against the
    trace's gradient: training mode with the same batch, masks and batch statistics
    (L1/L2 included), or evaluation mode. Works on copies.

    {``numeric``, ``analytic``, ``abs_error``, ``rel_error`` = |n − a|/max(|n|, |a|),
    ``h`` = 10⁻⁶·max(1, |θ|), ``mode`` (train | eval)}."""
    idx = tuple(int(i) for i in index)
    params = dict(tr.net.params)
    W = params[id] = params[id].copy()
    w0 = float(W[idx])
    h = h if h is not None else 1e-6 * max(1.0, abs(w0))
    l1, l2 = (tr.l1, tr.l2) if tr.train else (0.0, 0.0)

    def at(w: float) -> float:
        W[idx] = w
        net = Network(tr.net.spec, params, {k: v.copy() for k, v in tr.net.buffers.items()})
        return _loss(net, tr.x, tr.t, tr.train, tr.masks if tr.train else None, l1, l2)

    numeric = (at(w0 + h) - at(w0 - h)) / (2 * h)
    analytic = float(tr.grads[id][idx])
    err = abs(numeric - analytic)
    return {"numeric": numeric, "analytic": analytic, "abs_error": err,
            "rel_error": err / max(abs(numeric), abs(analytic), 1e-12), "h": h,
            "mode": "train" if tr.train else "eval"}


def describe(net: Network, id: str, index: Sequence[int]) -> dict[str, Any]:
    """What ``id[index]`` is, before any number: ``id``, ``index``, ``kind``, ``layer``,
    ``depth``, ``activation`` (of its layer), ``loss``; ValueError naming what is wrong."""
    idx = tuple(int(i) for i in index)
    layer, _, attr = id.partition(".")
    if layer[:1] != "L" or not layer[1:].isdigit():
        raise ValueError(f"unknown id {id!r}")
    l = int(layer[1:])
    if not 1 <= l <= net.depth:
        raise ValueError(f"{id!r}: layer {l} does not exist (1…{net.depth})")
    if attr not in _KINDS:
        raise ValueError(f"{id!r}: explain W, b, gamma, beta, a or z")
    kind = _KINDS[attr]
    if kind != "unit" and id not in net.params:
        raise ValueError(f"{id!r} is not a parameter of this network")
    shape = net.params[id].shape if kind != "unit" else (net.spec.sizes[l],)
    if len(idx) != len(shape) or not all(0 <= k < n for k, n in zip(idx, shape, strict=True)):
        raise ValueError(f"{id!r} index {list(idx)} is outside its shape {list(shape)}")
    spec = net.spec
    n = net.depth
    return {"id": id, "index": list(idx), "kind": kind, "layer": l, "depth": n,
            "activation": spec.output_activation() if l == n else spec.layers[l - 1].activation,
            "loss": spec.loss}


def _floats(v: Array | None) -> list[float | None]:
    return [] if v is None else [float(e) for e in v]


@quiet
def explain_trace(tr: Trace, id: str, index: Sequence[int], rows: int | None = None,
                  check: bool = True) -> dict[str, Any]:
    """The chain rule of ``id[index]`` in ``tr`` (structure in the module docstring);
    ``rows`` limits the rows listed (sums are over the whole batch)."""
    idx = tuple(int(i) for i in index)
    net = tr.net
    head = describe(net, id, idx)
    kind, l = head["kind"], head["layer"]
    spec = net.spec
    n = net.depth
    B = tr.B
    ls = spec.layers[l - 1]
    c = tr.caches[l - 1]
    j = idx[-1]
    done = tr.done
    fwd, lossd, bwd = "forward" in done, "loss" in done, "backward" in done
    # batch statistics tie every sample's z together from the first batch-norm layer
    # the derivative passes through on: γ, β enter after their own layer's statistics
    first = l if kind in ("gamma", "beta") else l - 1
    coupled = tr.train and B > 1 and any(s.norm == "batch" for s in spec.layers[first:])
    scale = 1.0 if coupled else float(B)  # rows in ℓ_b = B·(∂L/∂…) terms, or ∂L/∂… ones
    out_layer = l == n
    through_norm = ls.norm == "layer" or (ls.norm == "batch" and tr.train and B > 1)
    ones = np.ones(B)

    cols: dict[str, tuple[str, Array | None]] = {}
    if out_layer:
        y_t = c.a[:, j] - tr.t[:, j]
        if spec.loss == "mse":
            cols["dL_dy"] = ("loss", y_t)
            cols["da_dz"] = ("loss", ones if c.dfz is None else c.dfz[:, j])
        else:
            cols["y_minus_t"] = ("loss", y_t)
    else:
        assert c.da is not None and c.dfz is not None and c.delta is not None
        if kind in ("gamma", "beta") or not (ls.norm != "none" and through_norm):
            cols["dL_da"] = ("backward", c.da[:, j] * scale)
            if c.mask is not None:
                cols["mask"] = ("forward", c.mask[:, j])
            cols["da_dzn" if ls.norm != "none" else "da_dz"] = ("backward", c.dfz[:, j])
            if ls.norm == "batch" and kind not in ("gamma", "beta"):  # running statistics
                assert c.inv_std is not None
                g = net.params[f"L{l}.gamma"][j]
                cols["dzn_dz"] = ("forward", np.full(B, g * c.inv_std[j]))
        else:
            cols["dL_dz"] = ("backward", c.delta[:, j] * scale)
    if kind == "weight":
        cols["dz_dw"] = ("forward", c.a_prev[:, idx[0]])
    elif kind == "bias":
        cols["dz_db"] = ("forward", ones)
    elif kind == "gamma":
        assert c.u is not None
        cols["dzn_dgamma"] = ("forward", c.u[:, j])
    elif kind == "beta":
        cols["dzn_dbeta"] = ("forward", ones)

    def shown(phase: str) -> bool:
        return phase in done

    factors = [{"key": k, "phase": ph} for k, (ph, _) in cols.items()]
    ready = all(shown(ph) for ph, _ in cols.values())
    product = None
    if ready:
        product = ones.copy()
        for _, v in cols.values():
            assert v is not None
            product = product * v
    row_sum = None if product is None else float(product.sum())
    data = None if row_sum is None else (row_sum if coupled else row_sum / B)

    norm = _norm_part(tr, l, j, through_norm, bwd) if ls.norm != "none" else None
    table = []
    for r in range(B if rows is None else min(rows, B)):
        row: dict[str, Any] = {
            "row": r, "sample": tr.samples[r],
            "factors": [float(v[r]) if shown(ph) and v is not None else None
                        for ph, v in cols.values()],
            "product": None if product is None else float(product[r]),
        }
        if fwd:
            _row_forward(row, tr, c, l, j, r, kind, through_norm, scale if bwd else None)
        table.append(row)

    grad: float | None = None
    reg = 0.0
    if kind == "unit":
        grad = float(c.delta[:, j].sum()) if bwd and c.delta is not None else None
    else:
        grad = float(tr.grads[id][idx]) if bwd else None
        if kind == "weight" and tr.train and (tr.l1 or tr.l2):
            reg = float(losses.penalty_grad(np.zeros(()), net.params[id][idx], tr.l1, tr.l2))
    path = []
    if bwd:
        for m in range(l + 1, n + 1):
            d = tr.caches[m - 1].delta
            if d is not None:
                path.append({"layer": m, "values": _floats(d.sum(axis=0))})
    out: dict[str, Any] = {
        **head, "mode": "train" if tr.train else "eval",
        "iteration": tr.iteration, "batch_size": B,
        "phases": [p for p in PHASES if p in done], "per_sample": not coupled,
        "factors": factors, "rows": table, "row_sum": row_sum, "data": data,
        "reg": reg, "regularized": bool(tr.train and (tr.l1 or tr.l2)), "grad": grad,
        "norm": norm, "path": path,
        "forward": None, "sum": None, "check": None,
        "loss_value": float(tr.per_sample[0]) if not tr.train and lossd else None,
    }
    if kind == "unit" and fwd:
        out["forward"] = {"z": float(c.z[:, j].mean()), "a": float(c.a[:, j].mean())}
    if not tr.train and not out_layer and kind != "gamma" and kind != "beta":
        out["sum"] = _expand(tr, l, j)
    if check and kind != "unit" and bwd and grad is not None:
        out["check"] = finite_difference(tr, id, idx)
    return out


def _row_forward(row: dict[str, Any], tr: Trace, c: LayerCache, l: int, j: int, r: int,
                 kind: str, through_norm: bool, scale: float | None) -> None:
    """Add to ``row`` the forward values of unit j for row r (and ∂·/∂z̃ when δ
    comes through a norm's backward rule)."""
    spec = tr.net.spec
    ls = spec.layers[l - 1]
    if kind == "unit":
        row["z"] = float(c.z[r, j])
    if ls.norm != "none" and c.u is not None:
        row["u"] = float(c.u[r, j])
        row["zn"] = float(c.zn[r, j])
        if ls.norm == "layer" and c.mean is not None and c.var is not None:
            row["mu"] = float(c.mean[r, 0])
            row["var"] = float(c.var[r, 0])
        if through_norm and scale is not None and c.dzn is not None \
                and kind not in ("gamma", "beta"):
            row["dzn"] = float(c.dzn[r, j] * scale)
    if kind == "unit":
        if c.mask is not None:
            row["h"] = float(c.h[r, j])
            row["mask"] = float(c.mask[r, j])
        if ls.residual:
            row["h"] = float(c.h[r, j])
            row["skip"] = float(c.a_prev[r, j])
        row["a"] = float(c.a[r, j])
    if l == tr.net.depth:
        if kind != "unit":  # (a unit's a is its y)
            row["y"] = float(c.a[r, j])
        row["t"] = float(tr.t[r, j])
        if tr.t.shape[1] > 1:
            row["target"] = [float(v) for v in tr.t[r]]


def _norm_part(tr: Trace, l: int, j: int, through_norm: bool, bwd: bool) -> dict[str, Any]:
    """The norm step of unit j of layer l: z̃ = γ·(z − μ)/√(σ² + ε) + β."""
    c = tr.caches[l - 1]
    ls = tr.net.spec.layers[l - 1]
    p = tr.net.params
    part: dict[str, Any] = {
        "kind": ls.norm, "eps": NORM_EPS,
        "stats": "sample" if ls.norm == "layer" else ("batch" if through_norm else "running"),
        "gamma": float(p[f"L{l}.gamma"][j]), "beta": float(p[f"L{l}.beta"][j]),
    }
    if ls.norm == "batch" and c.mean is not None and c.var is not None \
            and c.inv_std is not None:
        part.update(mean=float(c.mean[j]), var=float(c.var[j]), inv_std=float(c.inv_std[j]))
        if through_norm:
            # the means of its backward rule (over the batch, du = γ ∂L/∂z̃), ×B per sample
            part["du_mean"] = float(c.du_mean[0, j]) if bwd and c.du_mean is not None else None
            part["duu_mean"] = float(c.duu_mean[0, j]) \
                if bwd and c.duu_mean is not None else None
    return part


def _expand(tr: Trace, l: int, j: int) -> dict[str, Any] | None:
    """∂ℓ/∂a_j of layer l for one sample as Σ_k W_{l+1}[j,k] δ_{l+1}[k] (+ residual)."""
    nxt = tr.caches[l]
    c = tr.caches[l - 1]
    if nxt.delta is None or c.da is None:
        return None
    W = tr.net.params[f"L{l + 1}.W"]
    terms = [{"k": k, "w": float(W[j, k]), "delta": float(nxt.delta[0, k]),
              "product": float(W[j, k] * nxt.delta[0, k])} for k in range(W.shape[1])]
    residual = None
    if tr.net.spec.layers[l].residual and nxt.da is not None:
        residual = float(nxt.da[0, j])
    return {"layer": l + 1, "terms": terms, "residual": residual, "value": float(c.da[0, j])}


def explain(st: Stepper, id: str, index: Sequence[int], check: bool = True) -> dict[str, Any]:
    """The chain rule of ``id[index]`` in ``st``'s last completed captured iteration
    (see :func:`explain_trace`); ValueError before one."""
    tr = trace_last(st)
    if tr is None:
        raise ValueError("no captured iteration yet: step one first")
    return explain_trace(tr, id, index, check=check)


# ---- the update ------------------------------------------------------------------------

def update_rule(optimizer: str, hyper: Mapping[str, float | bool]) -> list[str]:
    """The update rule of ``optimizer`` as :mod:`engine.optim` applies it under
    ``hyper`` — only the variant in effect (momentum, Nesterov, centred, weight
    decay) — as lines of plain-text maths in any language, with the state
    symbols of :mod:`engine.catalog` (g the gradient received, θ the parameter,
    η the rate, t the step count)."""
    sym = {b.name: b.symbol for b in catalog.optimizer(optimizer).state}

    def on(k: str) -> bool:
        return bool(float(hyper.get(k, 0.0)))
    wd = "g ← g + λ·θ" if on("weight_decay") else None
    lines: list[str | None]
    if optimizer == "sgd":
        b = sym["momentum_buffer"]
        lines = [wd, "θ ← θ − η·g"] if not on("momentum") else [
            wd, f"{b} ← μ·{b} + (1 − τ)·g   ({b}₁ = g)",
            f"θ ← θ − η·(g + μ·{b})" if on("nesterov") else f"θ ← θ − η·{b}"]
    elif optimizer == "rmsprop":
        v, ga, b = sym["square_avg"], sym["grad_avg"], sym["momentum_buffer"]
        lines = [wd, f"{v} ← α·{v} + (1 − α)·g²",
                 *([f"{ga} ← α·{ga} + (1 − α)·g", f"d = √({v} − {ga}²) + ε"] if on("centered")
                   else [f"d = √{v} + ε"]),
                 *([f"{b} ← μ·{b} + g/d", f"θ ← θ − η·{b}"] if on("momentum")
                   else ["θ ← θ − η·g/d"])]
    elif optimizer == "adagrad":
        s_ = sym["sum"]
        # ρ: lr_decay
        lines = [wd, f"{s_} ← {s_} + g²", f"θ ← θ − η/(1 + (t − 1)·ρ) · g/(√{s_} + ε)"]
    elif optimizer in ("adam", "adamw"):
        m, v = sym["exp_avg"], sym["exp_avg_sq"]
        lines = ["θ ← θ·(1 − η·λ)" if optimizer == "adamw" and on("weight_decay") else
                 wd if optimizer == "adam" else None,
                 f"{m} ← β₁·{m} + (1 − β₁)·g", f"{v} ← β₂·{v} + (1 − β₂)·g²",
                 f"θ ← θ − η/(1 − β₁ᵗ) · {m}/(√{v}/√(1 − β₂ᵗ) + ε)"]
    else:  # an optimizer added to the catalog before its rule here: the step as recorded
        lines = ["θ ← θ + Δθ"]
    return [line for line in lines if line]


def explain_update(phases: Phases, id: str, index: Sequence[int], optimizer: str,
                   hyper: Mapping[str, float | bool], clip_norm: float = 0.0,
                   ) -> dict[str, Any] | None:
    """The update of ``id[index]`` in the update record of ``phases`` (None before it):

    ``prev`` + ``step`` = ``new``; ``lr``; ``grad`` the backward gradient (L1/L2
    included: this iteration's); ``grad_sum`` None, or under ``accumulate_grads``
    the accumulated gradient G_{t−1} + g_t (``p.grad`` after backward, the
    record's ``<id>.grad_sum``: :func:`engine.optim.received`), which clipping and
    the optimizer then act on instead of ``grad``; ``clip`` None or {``value``
    (the clamp ±c, or None), ``max_norm``, ``total_norm`` ‖g‖ over every gradient
    (every accumulated one under ``accumulate_grads``), ``factor`` =
    max_norm/(‖g‖ + 10⁻⁶) when below 1 (else 1), ``after_value`` the gradient
    once clamped (value clipping comes first), ``clipped`` whether this entry
    changed}; ``grad_used`` the gradient the optimizer received; ``state``
    {name: value} under the record's names (after this step); ``symbols`` {name:
    its symbol in :mod:`engine.catalog`, ``grad_sum``'s too}; ``rule``
    (:func:`update_rule`); ``hyper`` the optimizer's settings.
    """
    rec = phases.get("update")
    if rec is None or f"{id}.step" not in rec:
        return None
    entry = catalog.optimizer(optimizer)
    idx = tuple(int(i) for i in index)
    bwd = phases.get("backward") or {}
    g_arr = bwd.get(grad_id(id))
    grad = None if g_arr is None else float(np.asarray(g_arr)[idx])
    acc = catalog.ACCUMULATED.name
    s_arr = rec.get(f"{id}.{acc}")
    grad_sum = None if s_arr is None else float(np.asarray(s_arr)[idx])
    before = used = grad if grad_sum is None else grad_sum
    clip = None
    value = rec.get("clip.value")
    total = rec.get("clip.total_norm")
    if value is not None or total is not None:
        clip = {"value": None if value is None else float(value),
                "max_norm": float(clip_norm) if total is not None else None,
                "total_norm": None if total is None else float(total),
                "factor": None, "after_value": None, "clipped": False}
        if used is not None:
            if value is not None:
                used = float(clip_grad_value({id: np.asarray(used)}, float(value))[id])
                clip["after_value"] = used
            if total is not None:
                # torch's clip_grad_norm_ (engine.optim.clip_grad_norm): scale all
                # gradients by max_norm/(‖g‖ + 1e-6) when that is below 1
                coef = clip_coef(float(total), float(clip_norm))
                clip["factor"] = coef if coef < 1.0 else 1.0
                if coef < 1.0:
                    used = used * coef
            clip["clipped"] = used != before
    prefix = f"{id}."
    state = {k[len(prefix):]: float(np.asarray(v)[idx]) for k, v in rec.items()
             if k.startswith(prefix) and k[len(prefix):] not in ("prev", "step", acc)}
    symbols = {b.name: b.symbol for b in entry.state if b.name in state}
    if grad_sum is not None:
        symbols[acc] = catalog.ACCUMULATED.symbol
    return {
        "optimizer": optimizer, "lr": float(rec["lr"]),
        "prev": float(np.asarray(rec[f"{id}.prev"])[idx]),
        "step": float(np.asarray(rec[f"{id}.step"])[idx]),
        "new": float(np.asarray(rec[id])[idx]),
        "grad": grad, "grad_sum": grad_sum, "clip": clip, "grad_used": used, "state": state,
        "symbols": symbols,
        "rule": update_rule(optimizer, hyper),
        "hyper": {k: (v if isinstance(v, bool) else float(v)) for k, v in hyper.items()},
    }
