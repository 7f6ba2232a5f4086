"""The ``landscape`` message: the loss over a slice of weight space, the run's descent
path on it and the next step, for one run.

The maths is :mod:`engine.landscape`'s (the slice, the loss on the training set in
evaluation mode, the projection, the next step); this module chooses the slice the
page asked for, keeps the path, and bounds the work by the cost model
(:func:`server.run.cost.landscape_point_s`): one ``landscape`` message is one piece
of engine work of at most ``max_piece_ms`` (estimated on the reference core).

* **The grid** gets what the next step leaves of the piece: the largest odd side
  ≤ the side asked for (and ≤ ``max_grid``) whose ``side² × point_s`` fits. The
  message says the side it got and the one asked for; below :data:`MIN_SIZE` the
  request is refused with a ``limit`` error naming ``max_piece_ms``.
* **The path** is the weights θ_k (after k iterations) of the last :data:`PATH_CAP`
  iterations of the active branch, and the loss at each. The history keeps
  checkpoints, not weights, so a :class:`PathKeeper` replays it on a stepper of its
  own (a ``Walker`` of the history: the same commands at the same positions, so
  the same bits) and keeps the flat vectors — not their projections, since the
  slice moves with the current point. Chosen over projecting the weights as the
  run goes because fast play trains iterations unseen (``Stepper.train``) and a
  seek or a branch switch jumps: the replay covers all of them alike. Measured
  (XOR 2-4-4-1, this machine): one replayed iteration with its path point's
  loss ≈ 60 µs, a grid point ≈ 8 µs (31 × 31 in ≈ 8 ms), 37 parameters = 300
  bytes a point. The
  replay is bounded by what the grid leaves of the piece; a path not complete
  comes back complete in the next messages (latest iterations first), and the
  keeper's vectors are bounded by :data:`PATH_BYTES`.
* **The next step** (the arrow): :func:`engine.landscape.next_step` on the live
  stepper between iterations, or on the keeper's stepper brought to the
  iteration's start mid-iteration (a ``set`` logged inside this iteration is
  then not in it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine import landscape as ls
from engine.stepper import NonFiniteError, Stepper
from server.run.branch import Branch, Walker
from server.run.cost import estimate, landscape_point_s
from server.run.history import History

Array = np.ndarray

#: iterations of the path, at most
PATH_CAP = 200
#: bytes of path vectors kept (a network of more than ~1,300 parameters keeps fewer
#: than PATH_CAP iterations: PATH_BYTES / (8 · P))
PATH_BYTES = 2 * 2**20
#: the smallest grid side worth drawing; a request that cannot get it is refused
MIN_SIZE = 7
#: a replayed iteration costs this many of the cost model's iterations: the path needs
#: the weights after each one, so the replay takes them one at a time on the general
#: path (measured on XOR: 50 µs an iteration against the lean loop's 29 µs)
REPLAY_FACTOR = 1.5
#: each mode's default half-width of the grid: weight units for two weights, the
#: directions' own units (α = 1: a filter moved by its own norm) for directions
DEFAULT_SPAN = {"weights": 2.0, "random": 1.0, "step": 1.0}


class LandscapeLimitError(ValueError):
    """The landscape asked for does not fit a piece of work; ``limit`` names the setting."""

    def __init__(self, message: str, limit: str) -> None:
        super().__init__(message)
        self.limit = limit


@dataclass(frozen=True)
class Request:
    """The slice a page asked for: ``mode`` (``random``, ``step`` or ``weights`` with
    the entries ``a`` and ``b``: (id, index)), the grid side ``size`` (odd) and the
    half-width ``span`` (None: the mode's default)."""

    mode: str = "random"
    a: tuple[str, tuple[int, ...]] | None = None
    b: tuple[str, tuple[int, ...]] | None = None
    size: int = 31
    span: float | None = None

    @property
    def half_width(self) -> float:
        """The grid's half-width: ``span`` or the mode's default."""
        return self.span if self.span is not None else DEFAULT_SPAN[self.mode]

    def check(self, params: dict[str, Array]) -> None:
        """Raise ValueError when a weight axis names an entry ``params`` lacks."""
        if self.mode == "weights":
            if self.a is None or self.b is None:
                raise ValueError("mode weights needs the entries 'a' and 'b'")
            ls.weight_plane(params, self.a, self.b)


class PathKeeper:
    """The weights θ_k (P,) of the last iterations of one branch and the loss at each,
    replayed on a stepper of its own (see the module docstring)."""

    def __init__(self) -> None:
        self.branch: Branch | None = None
        self.walker: Walker | None = None
        self.thetas: dict[int, Array] = {}
        self.losses: dict[int, float] = {}
        self.replayed = 0  # iterations replayed so far (for tests and measurements)

    def reset(self) -> None:
        """Forget everything (a new run, another branch)."""
        self.branch = None
        self.walker = None
        self.thetas.clear()
        self.losses.clear()

    def cap(self, layout: ls.Layout) -> int:
        """Iterations kept: :data:`PATH_CAP`, fewer for a large network (PATH_BYTES)."""
        return max(1, min(PATH_CAP, PATH_BYTES // (8 * max(1, layout.size))))

    def window(self, c: int, cap: int) -> range:
        """The iterations whose weights the path shows before the current one ``c``."""
        return range(max(0, c - cap), c)

    def _sync_branch(self, history: History, live: Stepper) -> None:
        if self.branch is not history.active:
            self.reset()
            self.branch = history.active
        if self.walker is None:
            self.walker = Walker(Stepper(live.config, spec=live.net.spec, data=live.data),
                                 history.active)

    def _goto(self, history: History, target: int, window: range, layout: ls.Layout,
              budget: int) -> int:
        """Bring the keeper's stepper to ``(target, 0)``, recording θ_k at every
        ``(k, 0)`` of ``window`` passed; returns the iterations replayed, or −1 (and
        nothing done) when that would take more than ``budget``."""
        w = self.walker
        assert w is not None and self.branch is not None
        it, cp = self.branch.checkpoint_before(target)
        s = w.stepper.iteration
        resume = w.stepper.phase_index == 0 and it <= s <= target and w.stepper.halted is None
        start = s if resume else it
        if target - start > budget:
            return -1
        if not resume:
            w.stepper.restore(cp.snap)
            w.applied = cp.n_commands
        history.sync(w)
        n = 0
        while True:
            k = w.stepper.iteration
            if k in window and k not in self.thetas:
                self.thetas[k] = layout.flat(w.stepper.net.params)
            if k >= target:
                break
            history.advance(1, w)
            n += 1
        self.replayed += n
        return n

    def catch_up(self, history: History, live: Stepper, layout: ls.Layout, cap: int,
                 budget: int, need_start: bool,
                 evaluator: ls.Evaluator) -> tuple[Stepper | None, bool]:
        """Fill the path's window within ``budget`` replayed iterations (latest missing
        first), with the loss at each new point (``evaluator``). ``need_start``: first
        bring the keeper's stepper to the current iteration's start (for the next step
        mid-iteration). Returns that stepper (or None) and whether the window is
        complete."""
        self._sync_branch(history, live)
        c = live.iteration
        window = self.window(c, cap)
        for k in [k for k in self.thetas if k not in window]:
            del self.thetas[k]
            self.losses.pop(k, None)
        at_start: Stepper | None = None
        try:
            if need_start:
                n = self._goto(history, c, window, layout, budget)
                if n >= 0:
                    budget -= n
                    assert self.walker is not None
                    at_start = self.walker.stepper
            while budget > 0:
                missing = [k for k in window if k not in self.thetas]
                if not missing:
                    break
                n = self._goto(history, missing[-1], window, layout, budget)
                if n < 0:
                    break
                budget -= max(n, 1)
        except NonFiniteError:  # (a loaded run longer than it can go: stop there)
            self.walker = None
            at_start = None
        new = [k for k in self.thetas if k not in self.losses]
        if new:
            values = evaluator.losses(np.stack([self.thetas[k] for k in new]))
            self.losses.update(zip(new, (float(v) for v in values), strict=True))
        complete = all(k in self.thetas for k in window)
        return at_start, complete


class LandscapeState:
    """One session's open landscape view: what was asked and its path."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.path = PathKeeper()
        self._scratch: Stepper | None = None  # for the next step from the live stepper
        self.behind = False  # the last message's path was not complete
        self._filled = False  # the last piece replayed the path instead of a message

    def piece(self, st: Stepper, history: History, max_piece_ms: float,
              max_grid: int) -> tuple[dict[str, Any] | None, bool]:
        """One piece of work: the ``landscape`` message's fields, or None when this piece
        went to the path instead (the path fell behind: opening the view late in a run, a
        seek, fast play; a message and a replay then take turns). The second value says
        whether there is more to do (call again). Raises :class:`LandscapeLimitError`
        when even a :data:`MIN_SIZE` grid does not fit ``max_piece_ms``."""
        if self.behind and not self._filled:
            self._filled = True
            cost = estimate(st)
            point_s = landscape_point_s(st)
            layout = ls.Layout.of(st.net.params)
            budget = int(max_piece_ms / 1000.0 / (REPLAY_FACTOR * cost.iteration_s + point_s))
            before = self.path.replayed
            self.path.catch_up(history, st, layout, self.path.cap(layout), budget, False,
                               self._evaluator(st))
            if self.path.replayed == before:
                # out of reach (a checkpoint too far back: a loaded run still indexing, a
                # thinned history): the path stays as it is until the run moves
                self.behind = False
                return None, False
            return None, True
        self._filled = False
        body, complete = self.body(st, history, max_piece_ms, max_grid)
        self.behind = not complete
        return body, self.behind

    def _evaluator(self, st: Stepper) -> ls.Evaluator:
        return ls.Evaluator(st.net, st.data.x_train, st.data.t_train, st.config.l1,
                            st.config.l2)

    def body(self, st: Stepper, history: History, max_piece_ms: float,
             max_grid: int) -> tuple[dict[str, Any], bool]:
        """The ``landscape`` message's fields for ``st`` (the live stepper) and whether
        its path is complete. Raises :class:`LandscapeLimitError` when even a
        :data:`MIN_SIZE` grid does not fit ``max_piece_ms``."""
        req = self.request
        cost = estimate(st)
        point_s = landscape_point_s(st)
        piece_s = max_piece_ms / 1000.0
        # the next step: a scratch stepper restored (about three iterations' worth of
        # copying, measured) and one iteration, and the loss after it
        step_s = 4 * cost.iteration_s + point_s
        size = _fit_size(req.size, max_grid, (piece_s - step_s) / point_s)
        if size < MIN_SIZE:
            need = MIN_SIZE * MIN_SIZE * point_s + step_s
            raise LandscapeLimitError(
                f"a {MIN_SIZE}×{MIN_SIZE} loss landscape of this run takes about "
                f"{need * 1000:.0f} ms (its {len(st.data.x_train)} training samples "
                f"through the network at {MIN_SIZE * MIN_SIZE} points), more than "
                f"max_piece_ms={max_piece_ms:g} allows", "max_piece_ms")
        params = st.net.params
        layout = ls.Layout.of(params)
        cap = self.path.cap(layout)
        spare = piece_s - step_s - size * size * point_s
        budget = max(0, int(spare / (REPLAY_FACTOR * cost.iteration_s + point_s)))
        mid = st.phase_index != 0
        evaluator = self._evaluator(st)
        at_start, complete = self.path.catch_up(history, st, layout, cap, budget, mid,
                                                evaluator)
        step = self._next_step(st, at_start if mid else None)
        plane = self._plane(params, layout, step, st.config.seed, st.iteration)
        span = req.half_width
        grid = evaluator.grid(plane, size, span)
        center = evaluator.loss(plane.center)
        finite = grid[np.isfinite(grid)]
        largest = _odd_floor(min(req.size, max_grid))
        body: dict[str, Any] = {
            "open": True, "iteration": st.iteration, "mode": req.mode,
            "axes": _axes(req, plane, params),
            "size": size, "requested": req.size,
            # what made the grid coarser than asked, if anything
            "limit": "max_piece_ms" if size < largest else "max_grid" if largest < req.size
            else None,
            "span": span, "loss": grid.astype(np.float32), "center": center,
            "min": float(finite.min()) if finite.size else None,
            "max": float(finite.max()) if finite.size else None,
            "data": "train", "regularized": bool(st.config.l1 or st.config.l2),
            "lr": st.lr_at(st.iteration),
            "path": self._path(plane, st.iteration, center),
            "cap": cap,
            "step": None,
        }
        if step is not None:
            v = layout.flat({k: step[k] for k in layout.keys})
            xy = plane.project(plane.center + v)[0]
            body["step"] = {
                "xy": [_num(xy[0]), _num(xy[1])],
                "norm": float(np.linalg.norm(v)),
                "in_plane": _num(plane.in_plane(v)),
                "loss": evaluator.loss(plane.center + v),
            }
        return body, complete

    def _next_step(self, st: Stepper, at_start: Stepper | None) -> dict[str, Array] | None:
        src = st if st.phase_index == 0 else at_start
        if src is None:
            return None
        if self._scratch is None or self._scratch.net.spec is not st.net.spec:
            self._scratch = Stepper(st.config, spec=st.net.spec, data=st.data)
        return ls.next_step(src, self._scratch)

    def _plane(self, params: dict[str, Array], layout: ls.Layout,
               step: dict[str, Array] | None, seed: int, c: int) -> ls.Plane:
        """The slice asked for through ``params`` (step mode: along the last step
        θ_c − θ_{c−1}; at iteration 0, or when that step is 0, along the next one;
        without either, the random plane)."""
        req = self.request
        if req.mode == "weights":
            assert req.a is not None and req.b is not None
            return ls.weight_plane(params, req.a, req.b)
        if req.mode == "step":
            prev = self.path.thetas.get(c - 1)
            if prev is not None:
                last = layout.flat(params) - prev
                if np.linalg.norm(last) > 0:
                    return ls.step_plane(params, last, seed, "step")
            if step is not None:
                return ls.step_plane(params, layout.flat(step), seed, "next_step")
        return ls.random_plane(params, seed)

    def _path(self, plane: ls.Plane, c: int, center: float) -> dict[str, Any]:
        """The path's iterations, their (α, β) and their loss, the current point last."""
        keys = sorted(self.path.thetas)
        iterations = [*keys, c]
        pts = np.stack([*(self.path.thetas[k] for k in keys), plane.center])
        xy = plane.project(pts)
        return {"iterations": iterations,
                "xy": [[_num(a), _num(b)] for a, b in xy],
                "loss": [*(self.path.losses[k] for k in keys), center]}


def _odd_floor(n: int) -> int:
    return n if n % 2 else n - 1


def _fit_size(asked: int, max_grid: int, points: float) -> int:
    """The largest odd side ≤ ``asked`` and ``max_grid`` with side² ≤ ``points``."""
    side = _odd_floor(min(asked, max_grid))
    fit = math.isqrt(max(0, int(points))) if math.isfinite(points) else side
    return min(side, _odd_floor(fit)) if fit >= 1 else 0


def _num(v: float) -> float | None:
    """A coordinate for the wire: None where the projection is undefined."""
    return float(v) if math.isfinite(v) else None


def _axes(req: Request, plane: ls.Plane, params: dict[str, Array]) -> list[dict[str, Any]]:
    if req.mode == "weights":
        assert req.a is not None and req.b is not None
        return [{"kind": "weight", "id": id, "index": list(index),
                 "value": float(params[id][tuple(index)])} for id, index in (req.a, req.b)]
    return [{"kind": "direction", "name": name, "id": None, "index": None, "value": None}
            for name in plane.axes]
