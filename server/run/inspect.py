"""The inspector's numbers: one parameter's or unit's chain rule, from the engine's records.

The page's inspector shows, for a weight w⁽ˡ⁾ᵢⱼ of a plain dense layer,

    ∂L/∂w⁽ˡ⁾ᵢⱼ = Σ_b ∂L/∂a⁽ˡ⁾_bj · ∂a⁽ˡ⁾_bj/∂z⁽ˡ⁾_bj · ∂z⁽ˡ⁾_bj/∂w⁽ˡ⁾ᵢⱼ   (+ λ terms)
               = Σ_b ∂L/∂a_bj · f'(z_bj) · a⁽ˡ⁻¹⁾_bi

and ∂L/∂a⁽ˡ⁾ expanded back to the loss through δ⁽ᵐ⁾ = ∂L/∂z⁽ᵐ⁾ of every later
layer m. Where the factors do not split so simply (the output under bce or
cross-entropy, whose δ = (y − t)/B comes straight from the logits; a layer
with a norm, dropout or a residual) the middle factors are replaced by δ
itself, ∂L/∂z, as the engine computed it.

Two modes:

* **batch** (default): the numbers of the iteration being stepped, taken from
  its phase records (forward, loss, backward, update) as the engine produced
  them — nothing is recomputed, so they equal the frames. Factors not computed
  yet in this iteration are ``None`` (the page shows "…").
* **sample**: one data point (the focused one, see server/live/views.py), in
  evaluation mode with the current weights; ℓ is that sample's own loss.

Every mode carries a finite-difference check, (L(θ+h) − L(θ−h))/2h beside the
backpropagated gradient: for a completed iteration the engine's own
(:func:`engine.chain.finite_difference`: training mode, the same batch and
dropout masks, the total loss with L1/L2, so it checks the frame's ∂L/∂θ
itself); before the iteration's update, and for a focused sample, the same
samples in evaluation mode with the weights the backward pass used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine import activations, chain, losses
from engine.fpstate import quiet
from engine.model import LayerCache, Network
from engine.stepper import Stepper

Array = np.ndarray

#: rows of the batch table sent to the page
MAX_ROWS = 8
#: entries of each downstream δ vector sent
MAX_PATH = 16


@dataclass
class Capture:
    """The phase records of the iteration in progress (or the last one completed)."""

    iteration: int = -1
    phases: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, phase: str, iteration: int, values: dict[str, Any]) -> None:
        """Keep one record; a forward record (or a new iteration) starts afresh."""
        if phase == "forward" or iteration != self.iteration:
            self.phases = {}
            self.iteration = iteration
        self.phases[phase] = values

    def get(self, phase: str, key: str) -> Any:
        """A value of ``phase``'s record, or None if that phase has not run."""
        rec = self.phases.get(phase)
        return None if rec is None else rec.get(key)


def _f(x: Any) -> float | None:
    return None if x is None else float(x)


def _loss_of(net: Network, caches: list[LayerCache], t: Array) -> losses.LossResult:
    out = caches[-1]
    spec = net.spec
    df = spec.output_df()
    dfz = None if df is None else df(out.z, out.a, spec.layers[-1].alpha)
    return losses.compute(spec.loss, out.z, out.a, t, dfz, want_dy=True)


@quiet
def eval_grads(net: Network, x: Array, t: Array) -> tuple[list[LayerCache], losses.LossResult,
                                                           dict[str, Array]]:
    """Evaluation-mode forward and backward of ``x`` (B, n_in): caches, loss, gradients."""
    caches = net.forward(x, train=False)
    res = _loss_of(net, caches, t)
    grads = net.backward(caches, res.delta, train=False)
    return caches, res, grads


@quiet
def finite_difference(net: Network, x: Array, t: Array, pid: str, idx: tuple[int, ...],
                      reg: float = 0.0, reg_kind: str = "") -> tuple[float, float, float]:
    """Central difference of the mean data loss on ``x`` w.r.t. ``params[pid][idx]``.

    Returns ``(backprop, numeric, h)``; ``net`` is left exactly as it was.
    """
    W = net.params[pid]
    w0 = float(W[idx])
    h = 1e-6 * max(1.0, abs(w0))
    _, _, grads = eval_grads(net, x, t)
    bp = float(grads[pid][idx])
    try:
        W[idx] = w0 + h
        up = _loss_of(net, net.forward(x, train=False), t).mean
        W[idx] = w0 - h
        down = _loss_of(net, net.forward(x, train=False), t).mean
    finally:
        W[idx] = w0
    numeric = (up - down) / (2 * h)
    return bp, numeric, h


def _layer_info(st: Stepper, l: int) -> tuple[str, bool, bool]:
    """(activation name, plain layer, δ straight from the logits) for layer ``l``."""
    spec = st.net.spec
    ls = spec.layers[l - 1]
    n = st.net.depth
    act = spec.output_activation() if l == n else ls.activation
    plain = ls.norm == "none" and ls.dropout == 0.0 and not ls.residual
    from_logits = l == n and spec.loss in ("bce", "cross_entropy")
    return act, plain, from_logits


@quiet
def inspect_body(st: Stepper, cap: Capture, target_id: str, index: tuple[int, ...],
                 sample: tuple[str, int] | None) -> dict[str, Any]:
    """The ``inspect`` message body (without ``type``); see the module docstring.

    Fields: ``id``, ``index``, ``kind`` (weight, bias, gamma, beta, unit),
    ``layer``, ``activation``, ``loss``, ``mode`` (batch | sample), ``sample``,
    ``batch_size``, ``iteration`` (of the numbers), ``value`` (θ now; a unit's
    activation), ``factors`` [{key, value, phase}], ``grad`` (∂L/∂θ; for a unit
    δ = ∂L/∂z, summed over the batch in batch mode), ``reg``, ``rows``
    (batch: first samples' factors and product), ``path`` (δ of later layers),
    ``forward`` (unit: z, a), ``sum`` (sample mode, hidden layer: ∂ℓ/∂a as
    Σₖ w δₖ with its ``terms`` [{k, w, delta, product}] and ``residual``),
    ``check`` {backprop, numeric, h, rel_error},
    ``update`` {optimizer, lr, prev, step, new, state, iteration} or None.
    """
    layer_s, _, kind_s = target_id.partition(".")
    l = int(layer_s[1:])
    kind = {"W": "weight", "b": "bias", "gamma": "gamma", "beta": "beta"}.get(kind_s, "unit")
    j = index[1] if kind == "weight" else index[0]
    i = index[0] if kind == "weight" else None
    act, plain, from_logits = _layer_info(st, l)
    n = st.net.depth
    body: dict[str, Any] = {
        "id": target_id, "index": list(index), "kind": kind, "layer": l,
        "activation": act, "loss": st.net.spec.loss, "depth": n,
        "split_factors": plain and not from_logits,
    }
    if sample is not None:
        body.update(_sample_part(st, l, i, j, kind, target_id, index, sample, plain, from_logits))
    else:
        body.update(_batch_part(st, cap, l, i, j, kind, target_id, index, plain, from_logits))
    if kind == "unit":
        body["value"] = body.get("forward", {}).get("a")
    else:
        body["value"] = float(st.net.params[target_id][index])
        body["update"] = _update_part(st, cap, target_id, index)
    return body


def _factor_keys(kind: str, split: bool, l: int, n: int) -> list[tuple[str, str]]:
    """(key, phase that computes it) of the factors of ∂L/∂θ, in order.

    γ and β of a norm layer get none: their gradient passes through the norm's own
    backward rule, so the message carries only the gradient and its check."""
    keys: list[tuple[str, str]] = []
    if kind in ("gamma", "beta"):
        return keys
    if split:
        keys.append(("dL_dy" if l == n else "dL_da", "loss" if l == n else "backward"))
        keys.append(("da_dz", "backward"))
    else:
        keys.append(("dL_dz", "backward"))
    if kind == "weight":
        keys.append(("dz_dw", "forward"))
    elif kind == "bias":
        keys.append(("dz_db", "forward"))
    return keys


def _factors_from(kind: str, split: bool, l: int, n: int, a_prev: Any, da: Any, dfz: Any,
                  delta: Any) -> list[dict[str, Any]]:
    vals = {"dL_da": da, "dL_dy": da, "da_dz": dfz, "dL_dz": delta, "dz_dw": a_prev,
            "dz_db": None if delta is None and da is None else 1.0}
    return [{"key": k, "value": _f(vals[k]), "phase": ph}
            for k, ph in _factor_keys(kind, split, l, n)]


def _path(deltas: list[Array | None], l: int) -> list[dict[str, Any]]:
    out = []
    for m, d in enumerate(deltas, start=1):
        if m > l and d is not None:
            out.append({"layer": m, "kind": "delta", "phase": "backward",
                        "values": [float(v) for v in np.ravel(d)[:MAX_PATH]]})
    return out


def _check(st: Stepper, net: Network, x: Array, t: Array, kind: str, pid: str,
           index: tuple[int, ...]) -> dict[str, Any] | None:
    if kind == "unit" or len(x) == 0:
        return None
    bp, numeric, h = finite_difference(net, x, t, pid, index)
    scale = max(abs(bp), abs(numeric), 1e-12)
    return {"backprop": bp, "numeric": numeric, "h": h, "rel_error": abs(bp - numeric) / scale,
            "mode": "eval"}


def _sample_part(st: Stepper, l: int, i: int | None, j: int, kind: str, pid: str,
                 index: tuple[int, ...], sample: tuple[str, int], plain: bool,
                 from_logits: bool) -> dict[str, Any]:
    split, k = sample
    d = st.data
    x = (d.x_train if split == "train" else d.x_test)[k:k + 1]
    t = (d.t_train if split == "train" else d.t_test)[k:k + 1]
    net = st.net
    caches, res, grads = eval_grads(net, x, t)
    n = net.depth
    c = caches[l - 1]
    da = res.dy[0, j] if l == n and res.dy is not None else (
        c.da[0, j] if c.da is not None else None)
    dfz = c.dfz[0, j] if c.dfz is not None else (
        activations.get(_layer_info(st, l)[0]).df(c.z, c.a, net.spec.layers[l - 1].alpha)[0, j]
        if l == n and not from_logits else None)
    assert c.delta is not None
    split_f = plain and not from_logits
    a_prev = c.a_prev[0, i] if i is not None else None
    out: dict[str, Any] = {
        "mode": "sample", "sample": {"split": split, "index": k}, "batch_size": 1,
        "iteration": st.iteration,
        "factors": _factors_from(kind, split_f, l, n, a_prev, da, dfz, c.delta[0, j]),
        "path": _path([cc.delta[0] if cc.delta is not None else None for cc in caches], l),
        "reg": 0.0,
        "loss_value": float(res.per_sample[0]),
        "sum": None,
    }
    if l < n and kind in ("weight", "bias", "unit"):
        # ∂ℓ/∂a⁽ˡ⁾ⱼ = Σₖ W⁽ˡ⁺¹⁾ⱼₖ δ⁽ˡ⁺¹⁾ₖ (+ the next layer's ∂ℓ/∂a through a residual)
        W = net.params[f"L{l + 1}.W"]
        nxt = caches[l].delta
        assert nxt is not None
        terms = [{"k": kk, "w": float(W[j, kk]), "delta": float(nxt[0, kk]),
                  "product": float(W[j, kk] * nxt[0, kk])} for kk in range(W.shape[1])]
        residual = None
        if net.spec.layers[l].residual and caches[l].da is not None:
            residual = float(caches[l].da[0, j])  # type: ignore[index]
        out["sum"] = {"layer": l + 1, "terms": terms[:MAX_PATH], "count": len(terms),
                      "residual": residual, "value": _f(da)}
    if kind == "unit":
        out["forward"] = {"z": float(c.z[0, j]), "a": float(c.a[0, j])}
        out["grad"] = float(c.delta[0, j])  # a unit's chain ends in δ = ∂ℓ/∂z
    else:
        out["grad"] = float(grads[pid][index])
    out["check"] = _check(st, net, x, t, kind, pid, index)
    return out


def col(arr: Any, c: int) -> Array | None:
    """Column ``c`` of a (B, n) record value, or None if not computed yet."""
    return None if arr is None else np.asarray(arr)[:, c]


def _batch_part(st: Stepper, cap: Capture, l: int, i: int | None, j: int, kind: str, pid: str,
                index: tuple[int, ...], plain: bool, from_logits: bool) -> dict[str, Any]:
    n = st.net.depth
    split_f = plain and not from_logits
    batch = cap.get("forward", "batch")
    a_prev_all = cap.get("forward", f"L{l - 1}.a")
    z_all = cap.get("forward", f"L{l}.z")
    a_all = cap.get("forward", f"L{l}.a")
    da_all = cap.get("loss", f"L{n}.da") if l == n else cap.get("backward", f"L{l}.da")
    delta_all = cap.get("backward", f"L{l}.delta")
    dfz_all = None
    if split_f and z_all is not None:
        zn = cap.get("forward", f"L{l}.zn")
        ls = st.net.spec.layers[l - 1]
        dfz_all = activations.get(_layer_info(st, l)[0]).df(
            zn if zn is not None else z_all, a_all, ls.alpha)
    B = 0 if z_all is None else len(z_all)
    a_prev = col(a_prev_all, i) if i is not None else None
    da = col(da_all, j)
    dfz = col(dfz_all, j)
    delta = col(delta_all, j)
    rows = []
    for r in range(min(B, MAX_ROWS) if kind not in ("gamma", "beta") else 0):
        vals = _factors_from(kind, split_f, l, n,
                             None if a_prev is None else a_prev[r],
                             None if da is None else da[r],
                             None if dfz is None else dfz[r],
                             None if delta is None else delta[r])
        fs = [v["value"] for v in vals]
        prod = None if not fs or any(v is None for v in fs) else float(np.prod(fs))
        row: dict[str, Any] = {"sample": int(batch[r]) if batch is not None else r,
                               "factors": fs, "product": prod}
        if kind == "unit":  # the sample's own z and a = f(z): the means are not f(mean z)
            row["z"] = None if z_all is None else float(np.asarray(z_all)[r, j])
            row["a"] = None if a_all is None else float(np.asarray(a_all)[r, j])
        rows.append(row)
    grad_key = {"weight": f"L{l}.dW", "bias": f"L{l}.db", "gamma": f"L{l}.dgamma",
                "beta": f"L{l}.dbeta"}.get(kind)
    grad = cap.get("backward", grad_key) if grad_key else None
    reg = 0.0
    if kind == "weight" and grad is not None and delta is not None and a_prev is not None:
        reg = float(np.asarray(grad)[index]) - float(a_prev @ delta)
    out: dict[str, Any] = {
        "mode": "batch", "sample": None, "batch_size": B, "iteration": cap.iteration,
        "sum": None,  # per sample in ``rows``: ∂L/∂a is a column there
        # per-sample factors live in ``rows``: their batch product is a sum, not a product
        "factors": _factors_from(kind, split_f, l, n, None, None, None, None),
        "rows": rows,
        "reg": reg if abs(reg) > 1e-15 else 0.0,
        "path": _path([None if cap.get("backward", f"L{m}.delta") is None else
                       np.asarray(cap.get("backward", f"L{m}.delta")).sum(axis=0)
                       for m in range(1, n + 1)], l),
    }
    if kind == "unit":
        out["forward"] = {"z": None if z_all is None else float(np.mean(np.asarray(z_all)[:, j])),
                          "a": None if a_all is None else float(np.mean(np.asarray(a_all)[:, j]))}
        out["grad"] = None if delta is None else float(delta.sum())
    else:
        out["grad"] = None if grad is None else float(np.asarray(grad)[index])
    x = cap.get("forward", "x")
    t = cap.get("forward", "t")
    last = st.last_iteration
    if kind != "unit" and "update" in cap.phases and last is not None \
            and last.iteration == cap.iteration:
        # a complete iteration: the engine's own check, in training mode on the same
        # batch, dropout masks and batch statistics, of the total loss (with L1/L2)
        fd = chain.finite_difference(st, pid, index)
        out["check"] = {"backprop": fd["analytic"], "numeric": fd["numeric"], "h": fd["h"],
                        "rel_error": fd["rel_error"], "mode": "train"}
    elif kind != "unit" and x is not None:
        net = st.net
        prev = cap.phases.get("update")
        if prev is not None:  # the backward pass used the weights before this update
            net = net.copy()
            for k in net.params:
                if f"{k}.prev" in prev:
                    net.params[k][...] = prev[f"{k}.prev"]
        out["check"] = _check(st, net, np.asarray(x), np.asarray(t), kind, pid, index)
    else:
        out["check"] = None
    return out


def _update_part(
    st: Stepper, cap: Capture, pid: str, index: tuple[int, ...]
) -> dict[str, Any] | None:
    rec = cap.phases.get("update")
    if rec is None:
        return None
    state = {}
    prefix = f"{pid}."
    for k, v in rec.items():
        if k.startswith(prefix) and k[len(prefix):] not in ("prev", "step"):
            state[k[len(prefix):]] = float(np.asarray(v)[index])
    return {
        "optimizer": st.optimizer.name, "lr": float(rec["lr"]), "iteration": cap.iteration,
        "prev": float(np.asarray(rec[f"{pid}.prev"])[index]),
        "step": float(np.asarray(rec[f"{pid}.step"])[index]),
        "new": float(np.asarray(rec[pid])[index]),
        "state": state,
    }
