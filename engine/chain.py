"""The chain rule of one parameter or unit, as data a page can typeset.

Backpropagation is the chain rule applied layer by layer; a learner sees it
best on one number. For a weight ``Ll.W[i, j]`` of layer l::

    ∂ℓ/∂W[i,j] = a_prev[i] · δ_l[j]
    δ_l[j]     = f'(z_l[j]) · Σ_k W_{l+1}[j,k] · δ_{l+1}[k]     (hidden layer)
    δ_n[k]     = (y_k − t_k) · f'(z_n[k])                       (mse output)
    δ_n[k]     = y_k − t_k                                      (sigmoid+bce, softmax+ce)

and for a bias ``Ll.b[j]`` the first line is ``∂ℓ/∂b[j] = 1 · δ_l[j]``. A unit
``Ll.z[j]`` / ``Ll.a[j]`` starts the chain at ``δ_l[j]`` (∂ℓ/∂a[j] is the sum).
Dropout adds a factor (the scaled mask), a residual connection adds the next
layer's ∂ℓ/∂a to the sum, and a norm layer passes the sum through its own
backward rule (given as a value, not a product).

Everything comes from the last captured iteration (:attr:`Stepper.last_iteration`:
the same batch, the weights forward used) and is returned as JSON-friendly
dicts (floats, ints, strings, lists):

``explain(stepper, id, index, sample)`` →

* ``id``, ``index``, ``kind`` (``weight``, ``bias``, ``gamma``, ``beta``, ``unit``),
  ``layer``, ``iteration``, ``row`` (the focused sample's row in the batch),
  ``batch_size``,
  ``loss`` (mse / bce / cross_entropy), ``formula`` (plain text).
* ``sample``: the focused sample's share, *per sample* (ℓ_s, not divided by B):
  ``{"value": ∂ℓ_s/∂θ, "factors": [{"name", "id", "index", "value"}, …]}``.
  For a unit, ``value`` is δ = ∂ℓ_s/∂z and ``da`` is ∂ℓ_s/∂a.
* ``deltas``: the δ's of that sample from the target's layer up to the
  output, layer by layer (the target's unit, then every unit of each later
  layer): ``{"layer", "unit", "id", "index", "value", "kind": hidden|output,
  "factors": [...], "sum": {"value", "terms": [{"w_id", "w_index", "w",
  "delta_id", "delta_index", "delta", "product"}], "residual": float|None}
  (hidden), "norm": kind|None, "dzn": ∂ℓ/∂zn (hidden)}``; an output entry
  carries ``y``, ``t`` and, for mse, ``f'(z)`` among its factors.
* ``batch`` (parameters): ``{"per_sample": [∂ℓ_s/∂θ for every s], "mean":
  (1/B) Σ_s, "data": the engine's data gradient, "reg": the L1/L2 term,
  "total": the gradient the optimizer received before clipping}``.
* ``check`` (parameters): a central finite difference of the total loss on
  the same batch, dropout masks and batch statistics:
  ``{"numeric", "analytic", "abs_error", "rel_error", "h"}``. It runs on a
  copy: the run's parameters, buffers and random generators are untouched.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine import losses
from engine.fpstate import quiet
from engine.model import LayerCache, Network
from engine.stepper import Stepper

Array = np.ndarray


def _parse(st: Stepper, id: str, index: tuple[int, ...]) -> tuple[str, int, str]:
    """(kind, layer, attribute) of a target id, or ValueError."""
    layer, _, attr = id.partition(".")
    if layer[:1] != "L" or not layer[1:].isdigit():
        raise ValueError(f"unknown id {id!r}")
    l = int(layer[1:])
    if not 1 <= l <= st.net.depth:
        raise ValueError(f"{id!r}: layer {l} does not exist (1…{st.net.depth})")
    kinds = {"W": "weight", "b": "bias", "gamma": "gamma", "beta": "beta",
             "a": "unit", "z": "unit"}
    if attr not in kinds:
        raise ValueError(f"{id!r}: explain W, b, gamma, beta, a or z")
    if kinds[attr] != "unit" and id not in st.net.params:
        raise ValueError(f"{id!r} is not a parameter of this network")
    shape = st.net.params[id].shape if kinds[attr] != "unit" else (st.net.spec.sizes[l],)
    if len(index) != len(shape) or not all(0 <= k < n for k, n in zip(index, shape,
                                                                      strict=True)):
        raise ValueError(f"{id!r} index {list(index)} is outside its shape {list(shape)}")
    return kinds[attr], l, attr


def _f(x: Any) -> float:
    return float(x)


def _delta_entry(st: Stepper, caches: list[LayerCache], params: dict[str, Array],
                 loss: str, l: int, j: int, s: int, B: int, t: Array) -> dict[str, Any]:
    """One δ_l[j] of sample ``s`` with its factors (per sample, i.e. × B)."""
    n = st.net.depth
    c = caches[l - 1]
    assert c.delta is not None
    entry: dict[str, Any] = {
        "layer": l, "unit": j, "id": f"L{l}.delta", "index": [s, j],
        "value": _f(c.delta[s, j] * B),
    }
    if l == n:
        y, tt = _f(c.a[s, j]), _f(t[s, j])
        out_factors = [{"name": "y - t", "id": "y", "index": [s, j], "value": y - tt,
                        "y": y, "t": tt}]
        if loss == "mse" and c.dfz is not None:
            out_factors.append({"name": "f'(z)", "id": f"L{l}.z", "index": [s, j],
                            "value": _f(c.dfz[s, j]), "z": _f(c.z[s, j])})
        entry.update(kind="output", factors=out_factors)
        return entry
    nxt = caches[l]
    assert nxt.delta is not None and c.da is not None and c.dfz is not None
    W = params[f"L{l + 1}.W"]
    terms = [
        {"w_id": f"L{l + 1}.W", "w_index": [j, k], "w": _f(W[j, k]),
         "delta_id": f"L{l + 1}.delta", "delta_index": [s, k],
         "delta": _f(nxt.delta[s, k] * B), "product": _f(W[j, k] * nxt.delta[s, k] * B)}
        for k in range(W.shape[1])
    ]
    residual = None
    if st.net.spec.layers[l].residual and nxt.da is not None:
        residual = _f(nxt.da[s, j] * B)
    factors: list[dict[str, Any]] = [
        {"name": "f'(z)", "id": f"L{l}.z" if c.zn is c.z else f"L{l}.zn", "index": [s, j],
         "value": _f(c.dfz[s, j]), "z": _f(c.zn[s, j])},
    ]
    if c.mask is not None:
        factors.append({"name": "mask/(1-p)", "id": f"L{l}.mask", "index": [s, j],
                        "value": _f(c.mask[s, j])})
    ls = st.net.spec.layers[l - 1]
    entry.update(
        kind="hidden", factors=factors,
        sum={"value": _f(c.da[s, j] * B), "terms": terms, "residual": residual},
        norm=None if ls.norm == "none" else ls.norm,
        dzn=_f(c.dzn[s, j] * B) if c.dzn is not None else None,
    )
    return entry


def _total_loss(net: Network, x: Array, t: Array, masks: list[Array | None],
                l1: float, l2: float) -> float:
    """Data loss plus L1/L2 on ``net`` in training mode with fixed dropout masks."""
    caches = net.forward(x, train=True, masks=masks)
    out = caches[-1]
    dfz = None
    spec = net.spec
    res = losses.compute(spec.loss, out.z, out.a, t, dfz, out.sp)
    return res.mean + net.penalty(l1, l2)


@quiet
def finite_difference(st: Stepper, id: str, index: tuple[int, ...],
                      h: float | None = None) -> dict[str, float]:
    """Central difference (L(θ+h) − L(θ−h))/2h of the total loss on the last
    captured batch, against the engine's gradient. Works on a copy."""
    p = st.last_iteration
    if p is None or p.x is None or p.t is None or p.caches is None or p.grads is None:
        raise ValueError("no captured iteration yet: step one first")
    params = {k: v.copy() for k, v in p.params.items()}
    net = Network(st.net.spec, params, {k: v.copy() for k, v in st.net.buffers.items()})
    masks = [c.mask for c in p.caches]
    w0 = float(params[id][index])
    h = h if h is not None else 1e-6 * max(1.0, abs(w0))
    cfg = st.config
    params[id][index] = w0 + h
    up = _total_loss(net, p.x, p.t, masks, cfg.l1, cfg.l2)
    params[id][index] = w0 - h
    down = _total_loss(net, p.x, p.t, masks, cfg.l1, cfg.l2)
    numeric = (up - down) / (2 * h)
    analytic = float(p.grads[id][index])
    err = abs(numeric - analytic)
    return {"numeric": numeric, "analytic": analytic, "abs_error": err,
            "rel_error": err / max(abs(numeric), abs(analytic), 1e-12), "h": h}


@quiet
def explain(st: Stepper, id: str, index: tuple[int, ...] | list[int],
            sample: int = 0, check: bool = True) -> dict[str, Any]:
    """The chain rule of ``id[index]`` for batch row ``sample`` of the last
    captured iteration (structure in the module docstring)."""
    index = tuple(int(i) for i in index)
    kind, l, _attr = _parse(st, id, index)
    p = st.last_iteration
    if p is None or p.caches is None or p.loss is None or p.t is None or p.grads is None:
        raise ValueError("no captured iteration yet: step one first")
    caches = p.caches
    B = caches[0].a_prev.shape[0]
    if not 0 <= sample < B:
        raise ValueError(f"sample {sample} is outside the batch (0…{B - 1})")
    s = sample
    loss = st.net.spec.loss
    c = caches[l - 1]
    assert c.delta is not None
    j = index[-1]
    out: dict[str, Any] = {
        "id": id, "index": list(index), "kind": kind, "layer": l,
        "iteration": p.iteration, "row": s, "batch_size": B, "loss": loss,
    }
    if kind == "weight":
        i = index[0]
        out["formula"] = f"∂ℓ/∂W{l}[{i},{j}] = a{l - 1}[{i}] · δ{l}[{j}]"
        per = c.a_prev[:, i] * c.delta[:, j] * B
        factors = [
            {"name": "a_prev", "id": f"L{l - 1}.a", "index": [s, i], "value": _f(c.a_prev[s, i])},
            {"name": "delta", "id": f"L{l}.delta", "index": [s, j],
             "value": _f(c.delta[s, j] * B)},
        ]
    elif kind == "bias":
        out["formula"] = f"∂ℓ/∂b{l}[{j}] = δ{l}[{j}]"
        per = c.delta[:, j] * B
        factors = [{"name": "delta", "id": f"L{l}.delta", "index": [s, j],
                    "value": _f(c.delta[s, j] * B)}]
    elif kind in ("gamma", "beta"):
        assert c.dzn is not None and c.u is not None
        if kind == "gamma":
            out["formula"] = f"∂ℓ/∂γ{l}[{j}] = u{l}[{j}] · ∂ℓ/∂zn{l}[{j}]"
            per = c.u[:, j] * c.dzn[:, j] * B
            factors = [{"name": "u", "id": f"L{l}.u", "index": [s, j], "value": _f(c.u[s, j])}]
        else:
            out["formula"] = f"∂ℓ/∂β{l}[{j}] = ∂ℓ/∂zn{l}[{j}]"
            per = c.dzn[:, j] * B
            factors = []
        factors.append({"name": "dzn", "id": f"L{l}.zn", "index": [s, j],
                        "value": _f(c.dzn[s, j] * B)})
    else:
        out["formula"] = (f"δ{l}[{j}] = ∂ℓ/∂z{l}[{j}] = f'(z) · Σ_k W{l + 1}[{j},k] δ{l + 1}[k]"
                          if l < st.net.depth else f"δ{l}[{j}] = ∂ℓ/∂z{l}[{j}]")
        per = None
        factors = []
    value = _f(per[s]) if per is not None else _f(c.delta[s, j] * B)
    sample_part: dict[str, Any] = {"value": value, "factors": factors}
    if kind == "unit":
        da = c.da[s, j] * B if c.da is not None else None
        if da is None and l == st.net.depth:
            dy = p.loss.dy
            da = dy[s, j] * B if dy is not None else None
        sample_part["da"] = None if da is None else _f(da)
    out["sample"] = sample_part
    deltas = [_delta_entry(st, caches, p.params, loss, l, j, s, B, p.t)]
    for m in range(l + 1, st.net.depth + 1):
        deltas += [_delta_entry(st, caches, p.params, loss, m, k, s, B, p.t)
                   for k in range(st.net.spec.sizes[m])]
    out["deltas"] = deltas
    if kind != "unit":
        assert per is not None
        total = _f(p.grads[id][index])
        data = _f(per.sum() / B)
        reg = 0.0
        if kind == "weight":
            W = p.params[id]
            cfg = st.config
            reg = cfg.l1 * float(np.sign(W[index])) + cfg.l2 * float(W[index])
        out["batch"] = {"per_sample": [float(v) for v in per], "mean": data,
                        "data": total - reg, "reg": reg, "total": total}
        out["check"] = finite_difference(st, id, index) if check else None
    return out

