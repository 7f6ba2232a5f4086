"""The loss over a 2-D slice of weight space through the current point.

A learner sees gradient descent as a walk on a surface: the loss over a plane
of weight space, with the run's own path on it and the next step as an arrow.
All parameters are one flat vector θ (P,), the arrays of ``net.params`` one
after another in their order (``L1.W`` row-major, ``L1.b``, …). The slice is

    θ(α, β) = θ_c + α·d₁ + β·d₂                              (P,)

through the current point θ_c, spanned by two directions d₁, d₂ (P,):

* **weights** (:func:`weight_plane`): d₁ = e_a, d₂ = e_b, the unit vectors of
  two parameter entries (``L1.W`` [i, j], ``L2.b`` [j] …): α and β are those
  two numbers' changes, in their own units.
* **random** (:func:`random_plane`): two Gaussian directions, filter-normalized
  as in Li et al. 2018, "Visualizing the Loss Landscape of Neural Nets": for
  every weight matrix W (n_in, n_out) the incoming weights of each unit j (a
  column, the dense layer's "filter") are scaled to the norm of θ's:
  d[:, j] ← d[:, j]·‖W[:, j]‖/(‖d[:, j]‖ + 10⁻¹⁰); biases and a norm's γ, β get
  0 (their default). So α = 1 moves every unit's weights by as much as they
  are long, whatever the layer's scale. The raw directions come from
  :func:`direction_rng` (the run's seed): the same seed gives the same slice
  on every machine, and the run's own generators are not touched.
* **step** (:func:`step_plane`): d₁ along the last step Δθ = θ_c − θ_{c−1},
  scaled to ‖θ_c‖ (α = 1 moves the whole network by its own length); d₂ the
  first random direction with its part along d₁ removed (Gram–Schmidt), scaled
  to the same length. The last step lies on the α axis.

The loss (:class:`Evaluator`) is the **training set's**, in evaluation mode
(no dropout; batch norm with its running statistics, which are fixed, so L is
a function of θ alone), plus the L1/L2 term the optimizer descends on:

    L(θ) = (1/N) Σ_n ℓ_n(θ) + λ₁ Σ|W| + (λ₂/2) Σ W²

At θ_c it is the train loss the charts show (plus that term, 0 unless set).
The whole training set, not the current batch: the surface then stays put
from one iteration to the next, and a mini-batch's noise shows as steps that
do not point straight downhill instead of as a flickering surface.

A grid of ``n`` × ``n`` points (``n`` odd, so θ_c is its centre) over
[−s, s]²: α_j = −s + 2s·j/(n − 1), β_i = s − 2s·i/(n − 1); ``loss[i, j]`` =
L(θ(α_j, β_i)), row-major from the top-left like the decision maps (β
descending, α ascending).

A point θ elsewhere (a past iteration's weights) is shown where it projects:
the least-squares coordinates (α, β) = G⁻¹ Dᵀ(θ − θ_c), D = [d₁ d₂] (P, 2),
G = DᵀD (2, 2), the nearest point of the plane (for two weights simply their
differences). :func:`next_step` is the update the optimizer would apply now.

Nothing here changes a run: evaluations use a scratch network, the next step
a scratch stepper.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from engine import activations, losses
from engine.fpstate import quiet
from engine.model import NORM_EPS, Network
from engine.records import NonFiniteError
from engine.stepper import Stepper

Array = np.ndarray

#: the spawn key of the directions' generator: apart from the run's own streams
#: (data, init, shuffle, dropout: the seed's first four children)
DIRECTION_STREAM = 0x4C53  # "LS"
#: Li et al.'s guard against a zero filter
FILTER_EPS = 1e-10


@dataclass(frozen=True)
class Layout:
    """Where each parameter lives in the flat vector θ (P,): ``keys`` in the
    network's order, their ``shapes`` and ``offsets`` (one more than keys: the end)."""

    keys: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    offsets: tuple[int, ...]

    @classmethod
    def of(cls, params: dict[str, Array]) -> Layout:
        """The layout of ``params`` (``net.params``)."""
        keys = tuple(params)
        shapes = tuple(tuple(params[k].shape) for k in keys)
        offsets = [0]
        for s in shapes:
            offsets.append(offsets[-1] + math.prod(s))
        return cls(keys, shapes, tuple(offsets))

    @property
    def size(self) -> int:
        """P, the number of parameters."""
        return self.offsets[-1]

    def flat(self, params: dict[str, Array]) -> Array:
        """θ (P,): every array of ``params`` raveled, in the layout's order (a copy)."""
        return np.concatenate([np.asarray(params[k], dtype=np.float64).ravel()
                               for k in self.keys]) if self.keys else np.zeros(0)

    def arrays(self, theta: Array) -> dict[str, Array]:
        """The parameter dict of θ (P,): views into ``theta``, shaped as the network's."""
        o = self.offsets
        return {k: theta[o[i]:o[i + 1]].reshape(s)
                for i, (k, s) in enumerate(zip(self.keys, self.shapes, strict=True))}

    def position(self, id: str, index: tuple[int, ...]) -> int:
        """The flat index of entry ``index`` of parameter ``id``."""
        i = self.keys.index(id)
        return self.offsets[i] + int(np.ravel_multi_index(index, self.shapes[i]))


@dataclass(frozen=True)
class Plane:
    """A slice θ(α, β) = ``center`` + α·``d1`` + β·``d2`` (each (P,)) of weight space;
    ``axes`` name the two directions (``("L1.W[0,1]", "L2.W[1,0]")``, ``("random1",
    "random2")``, ``("step", "across")``)."""

    layout: Layout
    center: Array
    d1: Array
    d2: Array
    axes: tuple[str, str]

    def at(self, alpha: float, beta: float) -> Array:
        """θ(α, β) (P,)."""
        return self.center + alpha * self.d1 + beta * self.d2

    def project(self, thetas: Array) -> Array:
        """(α, β) of each row of ``thetas`` (N, P) → (N, 2): the least-squares
        coordinates G⁻¹ Dᵀ(θ − θ_c) of its nearest point on the plane. Directions
        that are parallel (or zero) give NaN rather than a made-up position."""
        D = np.stack([self.d1, self.d2], axis=1)  # (P, 2)
        G = D.T @ D
        rhs = (np.atleast_2d(thetas) - self.center) @ D  # (N, 2)
        det = G[0, 0] * G[1, 1] - G[0, 1] * G[1, 0]
        if not (G[0, 0] > 0 and G[1, 1] > 0 and det > 1e-12 * G[0, 0] * G[1, 1]):
            return np.full(rhs.shape, np.nan)
        return np.linalg.solve(G, rhs.T).T

    def in_plane(self, v: Array) -> float:
        """The fraction of a vector v (P,) (a step) that lies in the plane:
        ‖P v‖/‖v‖, P the orthogonal projection onto span(d₁, d₂); 1 for a step
        along the plane, 0 for one across it, NaN for v = 0."""
        n = float(np.linalg.norm(v))
        if n == 0.0:
            return math.nan
        a, b = self.project(self.center + v)[0]
        if not (math.isfinite(a) and math.isfinite(b)):
            return math.nan
        return min(1.0, float(np.linalg.norm(a * self.d1 + b * self.d2)) / n)


def grid_axis(size: int, span: float) -> Array:
    """The α (or β, reversed) coordinates of a grid: ``size`` points over
    [−span, span] (size odd: the middle one is exactly 0)."""
    if size < 3 or size % 2 == 0:
        raise ValueError(f"grid size must be odd and at least 3, got {size}")
    h = size // 2
    return span * np.arange(-h, h + 1) / h


# ---- the directions ---------------------------------------------------------------

def direction_rng(seed: int) -> np.random.Generator:
    """The generator of a run's random directions: its seed's stream
    :data:`DIRECTION_STREAM`, apart from the streams the run itself draws from."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(DIRECTION_STREAM,)))


def raw_directions(layout: Layout, seed: int) -> tuple[Array, Array]:
    """Two standard-normal directions (P,) each, drawn parameter by parameter in the
    layout's order (d₁ whole, then d₂) from :func:`direction_rng`: they depend on the
    seed and the network's shape only."""
    rng = direction_rng(seed)
    d1 = rng.standard_normal(layout.size)
    d2 = rng.standard_normal(layout.size)
    return d1, d2


def filter_normalize(layout: Layout, d: Array, theta: Array) -> Array:
    """Li et al.'s filter normalization of a direction d (P,) at θ (P,): every
    weight matrix's columns (a unit's incoming weights) scaled to the norm of θ's,
    d[:, j]·‖W[:, j]‖/(‖d[:, j]‖ + 10⁻¹⁰); biases, γ and β set to 0. A new array."""
    out = np.zeros_like(d)
    dd, tt, oo = layout.arrays(d), layout.arrays(theta), layout.arrays(out)
    for k in layout.keys:
        if not k.endswith(".W"):
            continue
        dk, wk = dd[k], tt[k]
        scale = np.linalg.norm(wk, axis=0) / (np.linalg.norm(dk, axis=0) + FILTER_EPS)
        oo[k][...] = dk * scale
    return out


def weight_plane(params: dict[str, Array], a: tuple[str, tuple[int, ...]],
                 b: tuple[str, tuple[int, ...]]) -> Plane:
    """The plane of two parameter entries ``a`` and ``b`` (id, index) through
    ``params``: d₁ = e_a, d₂ = e_b. Raises ValueError for an unknown or repeated entry."""
    layout = Layout.of(params)
    center = layout.flat(params)
    dirs = []
    for id, index in (a, b):
        if id not in params:
            raise ValueError(f"unknown parameter {id!r}; choose one of {', '.join(params)}")
        shape = params[id].shape
        if len(index) != len(shape) or any(not 0 <= k < n for k, n in zip(index, shape,
                                                                          strict=True)):
            raise ValueError(f"{id} has shape {tuple(shape)}; {list(index)} is not an entry")
        d = np.zeros(layout.size)
        d[layout.position(id, index)] = 1.0
        dirs.append(d)
    if a[0] == b[0] and tuple(a[1]) == tuple(b[1]):
        raise ValueError("the two axes must be two different entries")
    return Plane(layout, center, dirs[0], dirs[1], (entry_name(*a), entry_name(*b)))


def entry_name(id: str, index: tuple[int, ...]) -> str:
    """``L1.W[0,1]``: a parameter entry as axes are labelled."""
    return f"{id}[{','.join(str(int(i)) for i in index)}]"


def random_plane(params: dict[str, Array], seed: int) -> Plane:
    """The plane of the run's two random directions through ``params``,
    filter-normalized at that point (see the module docstring)."""
    layout = Layout.of(params)
    center = layout.flat(params)
    r1, r2 = raw_directions(layout, seed)
    return Plane(layout, center, filter_normalize(layout, r1, center),
                 filter_normalize(layout, r2, center), ("random1", "random2"))


def step_plane(params: dict[str, Array], step: Array, seed: int,
               name: str = "step") -> Plane:
    """The plane through ``params`` along a step (P,) (the last one, Δθ = θ_c −
    θ_{c−1}, or the next one) and across it: d₁ = Δθ·‖θ_c‖/‖Δθ‖, d₂ = the first
    random direction, filter-normalized, minus its part along d₁, scaled to ‖d₁‖.
    A zero step (or a zero network) gives the random plane instead."""
    layout = Layout.of(params)
    center = layout.flat(params)
    scale = float(np.linalg.norm(center)) or 1.0
    n = float(np.linalg.norm(step))
    if not (n > 0.0 and math.isfinite(n)):
        return random_plane(params, seed)
    d1 = step * (scale / n)
    r = filter_normalize(layout, raw_directions(layout, seed)[0], center)
    r = r - (float(r @ d1) / float(d1 @ d1)) * d1
    rn = float(np.linalg.norm(r))
    if not rn > 1e-12 * scale:  # (a one-parameter network: no second direction)
        return Plane(layout, center, d1, np.zeros_like(d1), (name, "across"))
    return Plane(layout, center, d1, r * (scale / rn), (name, "across"))


# ---- evaluating the loss ----------------------------------------------------------

#: values in one array of a batched evaluation (points × samples × units): the grid is
#: evaluated in chunks of points that keep each array within a core's cache (256 KB);
#: measured on XOR, 5.5 µs a point against 40 µs with 8 MB arrays
CHUNK_VALUES = 1 << 15


class Evaluator:
    """The loss L(θ) of a network's shape on data ``x`` (N, n_in), ``t`` (N, K), in
    evaluation mode with the L1/L2 term (see the module docstring). The run's own
    network is never touched; batch norm's running statistics are copied.

    :meth:`loss` evaluates one point with :meth:`Network.forward` itself.
    :meth:`losses` evaluates many at once: the same evaluation forward with a
    leading axis of points, G points of parameters ``Θ`` (G, P) and the shared
    ``x``: per layer ``z = a @ W + b`` as a stacked product ((G, N, n_out), ``a``
    (N, n_in) for layer 1, (G, N, n_in) after), then everything per row on
    (G·N, n) arrays exactly as ``Network.forward(train=False)`` does it (norm with
    the running statistics or the row's own, the layer's activation, σ through
    softplus under bce, softmax, the residual sum) and the per-sample loss of
    :func:`engine.losses.compute` on the (G·N, K) output; L_g = (1/N) Σ_n ℓ_gn.
    The results equal :meth:`loss`'s up to the rounding of the stacked product
    (a relative 10⁻¹⁵ or so; tests/engine/test_landscape.py holds it).
    """

    def __init__(self, net: Network, x: Array, t: Array, l1: float = 0.0,
                 l2: float = 0.0) -> None:
        self.spec = net.spec
        self.layout = Layout.of(net.params)
        self.scratch = Network(net.spec, {}, {k: v.copy() for k, v in net.buffers.items()})
        self.x = x
        self.t = t
        self.l1 = float(l1)
        self.l2 = float(l2)
        #: points evaluated so far (one forward pass of x each)
        self.count = 0
        widest = max(net.spec.sizes)
        self.chunk = max(1, CHUNK_VALUES // max(1, len(x) * widest, self.layout.size))

    @quiet
    def loss(self, theta: Array) -> float:
        """L(θ) for one θ (P,): ``Network.forward`` on ``x`` and the mean loss, plus
        the L1/L2 term."""
        net = self.scratch
        net.params = self.layout.arrays(theta)
        out = net.forward(self.x, train=False)[-1]
        self.count += 1
        value = losses.compute(self.spec.loss, out.z, out.a, self.t, None).mean
        if self.l1 or self.l2:
            value += net.penalty(self.l1, self.l2)
        return float(value)

    def losses(self, thetas: Array) -> Array:
        """L of each row of ``thetas`` (G, P) → (G,), :data:`CHUNK_VALUES` at a time."""
        thetas = np.atleast_2d(thetas)
        out = np.empty(len(thetas))
        for s in range(0, len(thetas), self.chunk):
            out[s:s + self.chunk] = self._batch(thetas[s:s + self.chunk])
        return out

    @quiet
    def _batch(self, thetas: Array) -> Array:
        G, N = len(thetas), len(self.x)
        o = self.layout.offsets
        prm = {k: thetas[:, o[i]:o[i + 1]].reshape(G, *s)
               for i, (k, s) in enumerate(zip(self.layout.keys, self.layout.shapes,
                                              strict=True))}
        buf = self.scratch.buffers
        a: Array = self.x  # (N, n_in), then (G·N, n)
        for p in self.scratch.plans:
            n_out = prm[p.kW].shape[2]
            a3 = a if a.ndim == 2 and len(a) == N else a.reshape(G, N, -1)
            z3 = np.matmul(a3, prm[p.kW])  # (G, N, n_out)
            z3 += prm[p.kb][:, None, :]
            z = z3.reshape(G * N, n_out)
            zn = z
            if p.norm == "batch":
                inv_std = 1.0 / np.sqrt(buf[p.krv] + NORM_EPS)
                u3 = (z3 - buf[p.krm]) * inv_std
                zn = (prm[p.kg][:, None, :] * u3 + prm[p.kbeta][:, None, :]).reshape(G * N, -1)
            elif p.norm == "layer":
                mean = z.mean(axis=1, keepdims=True)
                var = z.var(axis=1, keepdims=True)
                u3 = ((z - mean) * (1.0 / np.sqrt(var + NORM_EPS))).reshape(G, N, -1)
                zn = (prm[p.kg][:, None, :] * u3 + prm[p.kbeta][:, None, :]).reshape(G * N, -1)
            sp = None
            if p.bce:
                sp = activations.softplus(z)
                h = z - sp
                np.exp(h, out=h)
            elif p.softmax:
                h = losses.softmax(zn)
            else:
                h = p.f(zn, p.alpha)
            if p.residual:
                prev = a if len(a) == G * N else np.broadcast_to(a, (G, N, a.shape[1])).reshape(
                    G * N, -1)
                h = h + prev
            a = h
            last = z
        t = np.broadcast_to(self.t, (G, N, self.t.shape[1])).reshape(G * N, -1)
        per = losses.compute(self.spec.loss, last, a, t, None, sp).per_sample.reshape(G, N)
        value = per @ losses.ones(N) / N
        if self.l1 or self.l2:
            for p in self.scratch.plans:
                W = prm[p.kW]
                if self.l1:
                    value += self.l1 * np.abs(W).sum(axis=(1, 2))
                if self.l2:
                    value += 0.5 * self.l2 * np.einsum("gij,gij->g", W, W)
        self.count += G
        return value

    def grid(self, plane: Plane, size: int, span: float) -> Array:
        """``loss[i, j]`` = L(θ(α_j, β_i)) over the ``size`` × ``size`` grid of
        :func:`grid_axis` (β descending down the rows, α ascending along them):
        (size, size). The centre ``[size//2, size//2]`` is evaluated at θ_c itself."""
        ax = grid_axis(size, span)
        alphas = np.tile(ax, size)
        betas = np.repeat(ax[::-1], size)
        thetas = plane.center + alphas[:, None] * plane.d1 + betas[:, None] * plane.d2
        return self.losses(thetas).reshape(size, size)


# ---- the next step ----------------------------------------------------------------

def next_step(st: Stepper, scratch: Stepper | None = None) -> dict[str, Array] | None:
    """The step the next iteration of ``st`` would add to each parameter (p_next − p,
    keys as ``net.params``): its next batch, learning rate, clipping and optimizer
    state, exactly. Computed on ``scratch`` (a stepper of the same network, built
    when None) restored from ``st``'s snapshot, so ``st`` is left as it was. ``st``
    must be between iterations; None when the step would be non-finite (the run is
    about to diverge) or the run is halted."""
    if st.halted is not None:
        return None
    snap = st.snapshot()
    if scratch is None:
        scratch = Stepper(st.config, spec=st.net.spec, data=st.data)
    scratch.restore(snap)
    try:
        scratch.train(1)
    except NonFiniteError:
        return None
    return {k: scratch.net.params[k] - v for k, v in snap["params"].items()}
