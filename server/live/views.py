"""The session's derived views: maps, the inspector, the focused sample and hand edits.

A session streams phase frames; this module adds the
views a learner opens on top of them, each computed by the engine and sent at
a bounded rate:

* ``maps`` — the output and every hidden neuron over the input plane
  (:mod:`server.run.maps`), re-sent when the weights change;
* ``inspect`` — the chain rule of one weight, bias or unit
  (:mod:`engine.chain`), re-sent after every phase while the inspector is open;
* ``focus`` — one data point's forward values, so a sample outside the
  current batch can be followed (evaluation mode: no dropout, batch norm with
  its running statistics, so the numbers do not depend on a batch);
* ``edit`` — a weight set by hand, applied between iterations so the run
  stays a sequence of whole iterations and replays exactly; the reply carries
  what the new weights give on the last batch (output, loss, every layer's
  batch-mean ``z`` and ``a``), so the page redraws the affected units at once,
  and the maps (and an open focus and inspector) are re-sent;
* ``landscape`` — the loss over a slice of weight space through the current
  point, the descent path and the next step (:mod:`server.run.landscape`),
  re-sent when the weights change, like the maps;
* ``drawn`` — the network's prediction for the learner's drawing (``draw``,
  data whose inputs are a picture), re-sent when the weights change, so it
  follows training and shows what a learned drawing (``learn``) did.

Each derived message is put on the outbox under its own key, so a slow client
only ever receives the latest one, and at most ``Settings.map_hz`` times per
second per kind (less for a network whose maps take long to compute: at most
once per :data:`COST_FACTOR` × its compute time, and for a crowded server once per
``crowd / CROWD_SHARE`` × it, so all sessions' maps share a twentieth of a core): a
change marks the view
*dirty* and :meth:`SessionViews.flush` (called after each command and on
every clock tick while something is dirty) sends it when its interval has passed.
(Just over 500 lines: the views share that pacing and their targets' checks.)
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from engine import metrics, probe
from engine.stepper import PhaseRecord, Stepper
from server.protocol import Draw, Edit, Focus, Inspect, Landscape, MapAxes, server_message
from server.run.classes import classes_body
from server.run.drawing import DrawingError, check_pixels
from server.run.history import History
from server.run.inspect import Capture, inspect_body
from server.run.landscape import LandscapeLimitError, LandscapeState, Request
from server.run.maps import (
    MapGrid,
    check_axes,
    compute_maps,
    kept_grid,
    many_inputs,
    map_grid,
)
from server.settings import Settings

log = logging.getLogger("backprop_lab.views")

Array = np.ndarray
KINDS = ("maps", "inspect", "focus", "landscape", "drawn")
#: a view is re-sent at most once per this many times its own compute time, so a big
#: network's maps cost a session at most ~10 % of a core (below map_hz if need be)
COST_FACTOR = 10.0
#: all sessions' maps together take at most about this fraction of a core (and their
#: metrics points as much again, see Session._metrics_wanted): with ``crowd`` sessions
#: on the clock, each view waits ``crowd × cost / CROWD_SHARE`` between sends (100
#: sessions × 0.5 ms maps → one maps message a second each), so the rate falls as a
#: class grows instead of the streaming falling behind
CROWD_SHARE = 0.05
#: a run shared with a class computes its maps once, but sends them to every follower:
#: its maps go out at most this many times a second across the class (≈ 2 MB/s at
#: ≈ 10 KB a message; 20 followers get map_hz, 200 get one a second), so the class's
#: Wi-Fi carries the frames, not decision maps
CLASS_MAPS_PER_S = 200.0


class ViewError(ValueError):
    """A view request names something that does not exist; ``field`` says which part."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Target:
    """What the inspector shows: a stable id and an index into its array."""

    id: str
    index: tuple[int, ...]


@dataclass(frozen=True)
class FocusPoint:
    """The focused data point: ``split`` is ``train`` or ``test``."""

    split: str
    index: int


def _check_index(index: tuple[int, ...], shape: tuple[int, ...], what: str) -> None:
    if len(index) != len(shape):
        raise ViewError(f"{what} takes {len(shape)} index(es), got {len(index)}", "index")
    for i, (k, n) in enumerate(zip(index, shape, strict=True)):
        if not 0 <= k < n:
            raise ViewError(f"{what} index {i} is {k}; it must be in 0…{n - 1}", "index")


def check_target(st: Stepper, id: str, index: tuple[int, ...]) -> Target:
    """Validate an inspector target: a parameter (``L2.W`` [i, j], ``L1.b`` [j], γ, β)
    or a unit (``L1.a`` / ``L1.z`` [j], layer ≥ 1)."""
    params = st.net.params
    if id in params:
        _check_index(index, params[id].shape, id)
        return Target(id, index)
    layer, _, kind = id.partition(".")
    if kind in ("a", "z") and layer[:1] == "L" and layer[1:].isdigit():
        l = int(layer[1:])
        if 1 <= l <= st.net.depth:
            _check_index(index, (st.net.spec.sizes[l],), id)
            return Target(id, index)
    raise ViewError(
        f"unknown id {id!r}: inspect a parameter ({', '.join(params)}) or a unit "
        f"L1.a … L{st.net.depth}.a", "id")


def check_focus(st: Stepper, split: str, index: int) -> FocusPoint:
    """Validate a focused data point."""
    n = len(st.data.p_train if split == "train" else st.data.p_test)
    if not 0 <= index < n:
        raise ViewError(f"{split} sample {index} does not exist; there are {n}", "index")
    return FocusPoint(split, index)


class Port(Protocol):
    """What the views may do to their session: send, report an error, log an edit."""

    def put(self, msg: dict[str, Any], **kw: Any) -> None:
        """Queue a message for the page (and a class following the run); ``kw`` are
        the outbox's options (``key``)."""

    def error(self, code: str, message: str, **extra: Any) -> None:
        """Queue an ``error`` message; the session carries on."""

    def record_edit(self, data: dict[str, Any]) -> None:
        """A weight was set by hand at the current position: log it in the history."""

    @property
    def history(self) -> History:
        """The run's history (the landscape replays its path from it)."""


@dataclass(frozen=True)
class Pacing:
    """How busy the server is for one session's views: whether anyone receives them,
    how many sessions the clock serves, and how many followers watch this run."""

    listening: bool = True
    crowd: int = 1
    followers: int = 0


class SessionViews:
    """The derived views of one session and their pacing."""

    def __init__(self, port: Port, settings: Settings, stepper: Stepper) -> None:
        self.port = port
        self.settings = settings
        self.st = stepper  # the session's current stepper (replaced with each run)
        self.target: Target | None = None
        self.focus: FocusPoint | None = None
        self.pending_edits: list[Edit] = []
        self.landscape: LandscapeState | None = None
        #: the map's two inputs for data with more (None: the ones that tell the classes
        #: apart best, server.run.maps)
        self.axes: tuple[int, int] | None = None
        self._grid: MapGrid | None = None  # (the maps' grid, kept: server.run.maps)
        self.last_batch: Array | None = None
        #: the learner's drawing (pixels in the data's units), whose prediction follows
        self.drawing: tuple[float, ...] | None = None
        self.capture = Capture()
        self.dirty: set[str] = set()
        self._sent: dict[str, float] = {k: -math.inf for k in KINDS}
        self._cost: dict[str, float] = dict.fromkeys(KINDS, 0.0)
        self.sent_count: dict[str, int] = dict.fromkeys(KINDS, 0)
        #: until when :meth:`flush` has nothing to send, unless a view not dirty then
        #: becomes dirty or the pacing changes: (time, the dirty views, the pacing)
        self._hold: tuple[float, set[str], Pacing | None] = (-math.inf, set(), None)
        #: the last message of each kind put on the outbox (a follower who joins gets
        #: these, without the whole class getting them again)
        self.last: dict[str, dict[str, Any]] = {}

    # ---- events from the session ---------------------------------------------------

    def on_new_run(self, stepper: Stepper) -> None:
        """A run was (re)built on ``stepper``: keep targets that still exist, redraw
        everything."""
        self.st = stepper
        self.last_batch = None
        self.capture = Capture()
        self._grid = None  # (a new run's data: made again at its first map)
        self.pending_edits.clear()
        if self.target is not None:
            try:
                check_target(self.st, self.target.id, self.target.index)
            except ViewError:
                self.target = None
                self._put(server_message("inspect", id=None, index=None), key="inspect")
        if self.focus is not None:
            try:
                check_focus(self.st, self.focus.split, self.focus.index)
            except ViewError:
                self.focus = None
                self._put(server_message("focus", split=None, index=None), key="focus")
        if self.landscape is not None:
            self.landscape = LandscapeState(_fit_request(self.landscape.request, self.st))
        if self.axes is not None:
            try:
                check_axes(self.st.data, self.axes)
            except ValueError:
                self.axes = None
        if self.drawing is not None:  # kept for a run of the same pictures
            try:
                check_pixels(self.st, self.drawing)
            except DrawingError:
                self.drawing = None
        self.dirty.update(KINDS)

    def after_fast(self, iteration: int, batch: np.ndarray) -> None:
        """A whole iteration ran stepped with other runs (:mod:`engine.stacked`): as
        :meth:`after_phase` for its four phases, its records left to be computed if
        the inspector reads them (:meth:`engine.stepper.Stepper.fast_records`)."""
        self.last_batch = np.asarray(batch)
        self.capture.defer(iteration, self.st.fast_records)
        if self.target is not None:
            self.dirty.add("inspect")
        self._iteration_done()

    def after_phase(self, rec: PhaseRecord) -> None:
        """A phase ran: remember the batch, apply pending edits at the iteration's end."""
        if rec.phase == "forward" and "batch" in rec.values:
            self.last_batch = np.asarray(rec.values["batch"])
        self.capture.add(rec.phase, rec.iteration, rec.values)
        if self.target is not None:
            self.dirty.add("inspect")
        if rec.phase == "update":
            self._iteration_done()

    def _iteration_done(self) -> None:
        """An iteration's update ran: the views of the weights are due, and the edits
        that waited for the iteration's end are applied."""
        self._mark_open("maps", "focus", "landscape", "drawn")
        while self.pending_edits:
            try:
                self._apply_edit(self.pending_edits.pop(0))
            except ViewError as e:
                self.port.error("invalid", str(e), field=e.field)

    def show(self, records: list[PhaseRecord]) -> None:
        """Playback moved to another iteration and re-sent its phases: take them as the
        iteration the views describe (for server.live.playback after a seek or a switch)."""
        self.after_train()
        for rec in records:
            if rec.phase == "forward" and "batch" in rec.values:
                self.last_batch = np.asarray(rec.values["batch"])
            self.capture.add(rec.phase, rec.iteration, rec.values)

    def let_go(self) -> None:
        """Keep none of the shown iteration's values (a session kept for a reload: the
        phases' activations and gradients, a batch's worth per layer, 2.4 MB for the
        largest network), nor the maps' grid; the page's return draws them again
        (:meth:`on_new_run`, then the records of the seek to where the run is)."""
        self.capture = Capture()
        self._grid = None

    def after_train(self) -> None:
        """Iterations ran on the fast path (or playback moved): weights changed and
        the captured phases belong to another iteration."""
        self.capture = Capture()
        self._mark_open(*KINDS)

    def _mark_open(self, *kinds: str) -> None:
        """Mark the views of ``kinds`` that are open as due (the maps always are): a
        closed view would only be discarded at the next flush, which then could not
        rest (a view that opens is sent as it opens)."""
        d = self.dirty
        for kind in kinds:
            if kind == "maps" or (
                    self.target if kind == "inspect" else self.focus if kind == "focus"
                    else self.landscape if kind == "landscape" else self.drawing) is not None:
                d.add(kind)

    # ---- commands ------------------------------------------------------------------

    def handle(self, msg: Inspect | Focus | Edit | Landscape | MapAxes | Draw) -> None:
        """Apply an ``inspect``, ``focus``, ``edit``, ``landscape``, ``map_axes`` or
        ``draw`` message; bad ones get an error."""
        try:
            if isinstance(msg, Draw):
                self._draw(msg)
            elif isinstance(msg, MapAxes):
                self._map_axes(msg)
            elif isinstance(msg, Inspect):
                self._inspect(msg)
            elif isinstance(msg, Focus):
                self._focus(msg)
            elif isinstance(msg, Landscape):
                self._landscape(msg)
            else:
                self._edit(msg)
        except ViewError as e:
            self.port.error("invalid", str(e), field=e.field)

    def _draw(self, msg: Draw) -> None:
        """Keep the learner's drawing and send its prediction (:meth:`drawn_message`);
        no pixels: forget it."""
        if not msg.pixels:
            self.drawing = None
            self.dirty.discard("drawn")
            return
        try:
            self.drawing = check_pixels(self.st, msg.pixels)
        except DrawingError as e:
            raise ViewError(str(e), "pixels") from None
        self._send("drawn")

    def _map_axes(self, msg: MapAxes) -> None:
        if not many_inputs(self.st.data):
            raise ViewError("this run's data has two inputs at most: its map shows them all",
                            "axes")
        try:
            self.axes = check_axes(self.st.data, (msg.axes[0], msg.axes[1]))
        except ValueError as e:
            raise ViewError(str(e), "axes") from None
        self._send("maps")

    def _inspect(self, msg: Inspect) -> None:
        if msg.id is None:
            self.target = None
            self.dirty.discard("inspect")
            self._put(server_message("inspect", id=None, index=None), key="inspect")
            return
        self.target = check_target(self.st, msg.id, tuple(msg.index))
        self._send("inspect")

    def _focus(self, msg: Focus) -> None:
        if msg.index is None:
            self.focus = None
            self.dirty.discard("focus")
            self._put(server_message("focus", split=None, index=None), key="focus")
        else:
            self.focus = check_focus(self.st, msg.split, msg.index)
            self._send("focus")
        if self.target is not None:
            self._send("inspect")

    def _landscape(self, msg: Landscape) -> None:
        if not msg.open:
            self.landscape = None
            self.dirty.discard("landscape")
            self._put(server_message("landscape", open=False), key="landscape")
            return
        a, b = (None if e is None else (e.id, tuple(e.index)) for e in (msg.a, msg.b))
        req = Request(msg.mode, a, b, msg.size, msg.span)
        try:
            req.check(self.st.net.params)
        except ValueError as e:
            raise ViewError(str(e), "a") from None
        old = self.landscape
        self.landscape = LandscapeState(req)
        if old is not None:  # the same run: its path is still good
            self.landscape.path = old.path
        self._send("landscape")

    def _edit(self, msg: Edit) -> None:
        st = self.st
        if msg.id not in st.net.params:
            raise ViewError(f"unknown parameter {msg.id!r}; edit one of "
                            f"{', '.join(st.net.params)}", "id")
        _check_index(tuple(msg.index), st.net.params[msg.id].shape, msg.id)
        if st.phase_index == 0:
            self._apply_edit(msg)
        else:
            # mid-iteration the caches of this iteration were computed with the old
            # weight: apply once the iteration is complete.
            self.pending_edits.append(msg)
            self._put(server_message(
                "edit", id=msg.id, index=list(msg.index), value=msg.value, applied=False,
                iteration=st.iteration))

    def _apply_edit(self, msg: Edit) -> None:
        st = self.st
        idx = tuple(msg.index)
        # (a new array: the last update frame and the inspector's capture keep theirs)
        old = st.set_entry(msg.id, idx, msg.value)
        W = st.net.params[msg.id]
        # the history's command log (server/run/history.py) replays the edit at this
        # position, so playback and saved runs stay exact
        self.port.record_edit({"id": msg.id, "index": idx, "value": msg.value})
        log.info("edit", extra={"param": msg.id, "iteration": st.iteration})
        body: dict[str, Any] = {
            "id": msg.id, "index": list(idx), "old": old, "value": float(W[idx]),
            "applied": True, "iteration": st.iteration,
            "params": {msg.id: W},
        }
        d = st.data
        if self.last_batch is not None and len(self.last_batch):
            v = probe.sample_values(st.net, d.x_train[self.last_batch],
                                    d.t_train[self.last_batch])
            means = probe.batch_means(v, st.net.depth)
            body["batch"] = {"indices": self.last_batch, "y": v["y"],
                             "loss": float(v["loss.data"]), "means": means}
        else:
            body["batch"] = None
        body["train_loss"], body["train_acc"] = st.evaluate(d.x_train, d.t_train)
        body["test_loss"], body["test_acc"] = st.evaluate(d.x_test, d.t_test)
        self._put(server_message("edit", **body))
        self.dirty.update(KINDS)
        self._send("maps")

    # ---- sending ---------------------------------------------------------------------

    def _put(self, msg: dict[str, Any], key: str | None = None) -> None:
        if key in KINDS:
            self.last[key] = msg
        self.port.put(msg, key=key)  # to the page, and to a class following the run

    def copy_targets(self, other: SessionViews) -> None:
        """Inspect and focus what ``other`` does (a copy of its run was made here)."""
        try:
            if other.target is not None:
                self.target = check_target(self.st, other.target.id, other.target.index)
            if other.focus is not None:
                self.focus = check_focus(self.st, other.focus.split, other.focus.index)
        except ViewError:  # pragma: no cover - the copy has the same shapes and data
            return
        if other.landscape is not None:
            self.landscape = LandscapeState(_fit_request(other.landscape.request, self.st))
        self.dirty.update(("inspect", "focus", "landscape"))

    def flush(self, pacing: Pacing, now: float | None = None) -> None:
        """Send every dirty view whose interval has passed: ``1/map_hz``, or longer for a
        view slow to compute, a crowded server (see :data:`CROWD_SHARE`) or, for maps,
        a large class following the run (:data:`CLASS_MAPS_PER_S`)."""
        if not self.dirty or not pacing.listening:
            return
        now = time.monotonic() if now is None else now
        hold_until, held, held_pacing = self._hold
        if now < hold_until and pacing is held_pacing and self.dirty <= held:
            return  # (nothing is due yet, and nothing new to send: the clock asks each tick)
        interval = 1.0 / self.settings.map_hz
        crowd = pacing.crowd  # alone, COST_FACTOR alone bounds a big network's maps
        factor = COST_FACTOR if crowd <= 1 else max(COST_FACTOR, crowd / CROWD_SHARE)
        class_interval = pacing.followers / CLASS_MAPS_PER_S

        def wait(kind: str) -> float:
            w = max(interval, factor * self._cost[kind])
            return max(w, class_interval) if kind in ("maps", "landscape") else w

        for kind in KINDS:
            if kind in self.dirty and now - self._sent[kind] >= wait(kind):
                self._send(kind, now)
        self._hold = (min((self._sent[k] + wait(k) for k in self.dirty), default=math.inf),
                      set(self.dirty), pacing)

    def due_now(self, kind: str) -> None:
        """Let view ``kind`` go out at the next flush, whenever it last went (tests)."""
        self._sent[kind] = -math.inf
        self._hold = (-math.inf, set(), None)

    def _send(self, kind: str, now: float | None = None) -> None:
        """Compute and queue one view now (if it is open), under its outbox key."""
        now = time.monotonic() if now is None else now
        self.dirty.discard(kind)
        # (its cost, and so its interval, is measured again: the next flush recomputes
        # when anything is due, rather than resting until a time this may bring forward)
        self._hold = (-math.inf, set(), None)
        # (its cost in the engine thread's CPU time: the crowd's share is of a core, and
        # a moment the machine gave to another process would space this view out)
        t0 = time.thread_time()
        if kind == "maps":
            msg = self.maps_message()
        elif kind == "inspect":
            if self.target is None:
                return
            msg = self.inspect_message()
        elif kind == "landscape":
            if self.landscape is None:
                return
            try:
                body, more = self.landscape.piece(self.st, self.port.history,
                                                  self.settings.max_piece_ms,
                                                  self.settings.max_grid)
            except LandscapeLimitError as e:
                self.landscape = None
                self.port.error("limit", str(e), limit=e.limit, field="size")
                self._put(server_message("landscape", open=False), key="landscape")
                return
            if more:  # the rest of the path (and then a message) in the next pieces
                self.dirty.add("landscape")
            if body is None:
                self._cost[kind] = time.thread_time() - t0
                self._sent[kind] = now
                return
            msg = server_message("landscape", **body)
        elif kind == "drawn":
            if self.drawing is None:
                return
            msg = self.drawn_message()
        else:
            if self.focus is None:
                return
            msg = self.focus_message()
        self._cost[kind] = time.thread_time() - t0
        self._sent[kind] = now
        self.sent_count[kind] += 1
        self._put(msg, key=kind)

    # ---- message bodies ------------------------------------------------------------

    def maps_message(self) -> dict[str, Any]:
        """A ``maps`` message for the current weights (see :func:`server.run.maps.compute_maps`
        and :func:`server.run.classes.classes_body`)."""
        st = self.st
        # (the grid and its inputs, made once a run and shape: a third of a map's time)
        g = map_grid(st.net, st.data, self.settings.max_grid, self.axes, self._grid)
        self._grid = kept_grid(g)
        body = compute_maps(st.net, st.data, self.settings.max_grid, st.iteration, self.axes, g)
        # classification: what each class was taken for, and a table's mistakes
        body.update(classes_body(st))
        return server_message("maps", **body)

    def drawn_message(self) -> dict[str, Any]:
        """A ``drawn`` message: the network's prediction for the drawing (one forward
        pass of one row, standardised as the training split, in evaluation mode), with
        the drawing's pixels (a class following the run sees what was drawn)."""
        assert self.drawing is not None
        st = self.st
        y = probe.predict(st.net, st.data.inputs_from_raw([self.drawing]))[0]
        k = int(metrics.predicted_classes(st.data.task, y[None, :])[0])
        return server_message("drawn", iteration=st.iteration, outputs=y, predicted=k,
                              pixels=list(self.drawing))

    def landscape_message(self) -> tuple[dict[str, Any], bool]:
        """A ``landscape`` message for the current weights (see
        :mod:`server.run.landscape`) and whether its path is complete."""
        assert self.landscape is not None
        body, complete = self.landscape.body(self.st, self.port.history,
                                             self.settings.max_piece_ms, self.settings.max_grid)
        return server_message("landscape", **body), complete

    def focus_message(self) -> dict[str, Any]:
        """A ``focus`` message: the focused sample's evaluation-mode forward values."""
        assert self.focus is not None
        f = self.focus
        d = self.st.data
        p, x, t = (d.p_train, d.x_train, d.t_train) if f.split == "train" else (
            d.p_test, d.x_test, d.t_test)
        v = probe.sample_values(self.st.net, x[f.index:f.index + 1], t[f.index:f.index + 1])
        return server_message(
            "focus", split=f.split, index=f.index, iteration=self.st.iteration,
            p=p[f.index], t=t[f.index], loss=float(v.pop("loss.per_sample")[0]),
            values={k: a[0] for k, a in v.items() if k != "loss.data"},
        )

    def inspect_message(self) -> dict[str, Any]:
        """An ``inspect`` message: the target's chain rule as the engine computes it."""
        assert self.target is not None
        f = self.focus
        body = inspect_body(self.st, self.capture, self.target.id, self.target.index,
                            None if f is None else (f.split, f.index))
        return server_message("inspect", next_phase=self.st.next_phase, **body)


def _fit_request(req: Request, st: Stepper) -> Request:
    """``req`` for another run (or a copy): two weights that the new network lacks
    become the random directions."""
    try:
        req.check(st.net.params)
    except ValueError:
        return Request("random", size=req.size)
    return req
