"""One learner's session: a run of the engine, its play state and its outgoing messages.

The session turns client commands into engine calls and engine records into
messages on its :class:`~server.outbox.Outbox`. It never touches the socket
and never sleeps: the shared :class:`~server.clock.Clock` calls :meth:`tick`
for every playing session.

Playing at ``speed`` iterations per second shows every phase when slow
(≤ :data:`PHASE_BY_PHASE_MAX` it/s: four phase frames per iteration, spread in
time); faster, whole iterations run on the engine's fast path and the frames
of the latest iteration are sent, at most once per tick, compact (batch means
instead of per-sample arrays: :mod:`server.compact`).
"""

from __future__ import annotations

import itertools
import logging
import math
import secrets
import time
from typing import Any

from engine import metrics
from engine.schedules import Schedule
from engine.stepper import NonFiniteError, PhaseRecord, RunConfig, Stepper
from server import playback
from server.compact import compact_iteration, compact_values
from server.history import History
from server.outbox import Entry, Outbox, Shared
from server.protocol import (
    Checkout,
    Configure,
    Edit,
    Focus,
    Hello,
    Inspect,
    Load,
    Pause,
    Play,
    Reset,
    RunSettings,
    Seek,
    Set,
    Step,
    server_message,
)
from server.settings import Settings
from server.views import CROWD_SHARE, SessionViews

log = logging.getLogger("backprop_lab.session")

PHASE_BY_PHASE_MAX = 4.0
_STAGGER = itertools.count()  # hands each started play its tick slot in turn
STAGGER_TICKS = 4  # a started play's first iteration is at most this many ticks late
METRICS_MAX_POINTS = 2_000
#: what a shared run's followers are not sent: the owner's command errors (a halt,
#: ``nonfinite``, concerns the run and goes to everyone) and the owner's sharing status
_OWNER_ONLY = frozenset({"error", "share"})


class Follower:
    """A connection that watches a shared run (read-only): the run's stream goes to
    ``outbox`` while ``leader`` is set; the leader unsets it when sharing ends."""

    __slots__ = ("leader", "outbox")

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox
        self.leader: Session | None = None


class LimitError(ValueError):
    """A request exceeded a configured limit; ``limit`` names it."""

    def __init__(self, limit: str, message: str) -> None:
        super().__init__(message)
        self.limit = limit


def check_limits(cfg: RunSettings, s: Settings) -> None:
    """Raise :class:`LimitError` naming the first limit ``cfg`` exceeds.

    Pydantic checks each field's own range; these are the server's capacity
    limits (``Settings``), so the error names the setting an operator can raise.
    """
    layers = len(cfg.hidden) + 1
    checks = [
        ("max_layers", layers, s.max_layers, f"{layers} layers"),
        ("max_units", max(cfg.hidden, default=0), s.max_units,
         f"{max(cfg.hidden, default=0)} neurons in a layer"),
        ("max_inputs", len(cfg.features), s.max_inputs, f"{len(cfg.features)} inputs"),
        ("max_samples", cfg.n_samples, s.max_samples, f"a dataset of {cfg.n_samples} samples"),
        ("max_samples", len(cfg.points), s.max_samples, f"{len(cfg.points)} custom points"),
        ("max_batch", cfg.batch_size, s.max_batch, f"batch size {cfg.batch_size}"),
    ]
    for name, value, limit, what in checks:
        if value > limit:
            raise LimitError(name, f"{what}: more than {name}={limit} allows")


def run_config(cfg: RunSettings) -> RunConfig:
    """The engine's :class:`RunConfig` for validated wire settings."""
    return RunConfig(
        dataset=cfg.dataset, n_samples=cfg.n_samples, noise=cfg.noise,
        test_fraction=cfg.test_fraction, features=tuple(cfg.features),
        points=tuple((float(a), float(b), int(c)) for a, b, c in cfg.points),
        hidden=tuple(cfg.hidden), activation=cfg.activation,
        layer_activations=tuple(cfg.layer_activations), alpha=cfg.alpha,
        output_activation=cfg.output_activation, loss=cfg.loss, init=cfg.init,
        init_scale=cfg.init_scale, norm=cfg.norm, dropout=cfg.dropout, residual=cfg.residual,
        optimizer=cfg.optimizer.name, optimizer_params=cfg.optimizer.params(), lr=cfg.lr,
        schedule=Schedule(**cfg.schedule.model_dump()), clip_norm=cfg.clip_norm,
        clip_value=cfg.clip_value, l1=cfg.l1, l2=cfg.l2, batch_size=cfg.batch_size,
        seed=cfg.seed,
    )


def _due(it: int, next_due: int, every: int) -> tuple[bool, int]:
    """Whether iteration ``it`` is due for a message sent every ``every`` iterations
    when the next was due at ``next_due``, and the new due iteration. An ``it``
    outside the window (the run jumped back, or far ahead) is due at once."""
    if next_due - every < it < next_due:
        return False, next_due
    return True, it + every


def _merge_metrics(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Concatenate two pending ``metrics`` messages' series."""
    out = dict(new)
    out["points"] = (old["points"] + new["points"])[-METRICS_MAX_POINTS:]
    if old.get("replace"):  # a branch switch's full series, still pending
        out["replace"] = True
    return out


class Session:
    """A run plus its play state; commands in, messages out."""

    def __init__(self, settings: Settings, config: RunSettings | None = None) -> None:
        self.id = secrets.token_urlsafe(12)
        self.settings = settings
        self.config = config or RunSettings()
        self.stepper = Stepper(run_config(self.config))
        self.history: History = playback.new_history(self, self.stepper)
        self.playing = False
        self.speed = 2.0
        self._credit = 0.0
        self._iter_cost = 1e-4  # seconds per played iteration (moving average)
        self._state_due = 0  # iteration of the next state message in fast play
        self.outbox: Outbox | None = None
        self.created = time.monotonic()
        self.last_active = self.created
        self.detached_at: float | None = None
        self._metrics_due = 0  # iteration of the next metrics point in fast play
        self._metrics_cost = 0.0  # seconds per metrics point (last measured)
        self.crowd = 1  # sessions the shared clock serves (set by the clock each tick)
        self.share_code: str | None = None  # set by SessionStore.share
        self.last_share_code: str | None = None  # sharing again reuses it if it is free
        self._series: tuple[tuple[int, int, int], Shared] | None = None
        self.followers: dict[Follower, None] = {}  # in joining order
        self.views = SessionViews(self)

    # ---- connection ----------------------------------------------------------------

    def attach(self, outbox: Outbox) -> None:
        """Send to ``outbox`` from now on and greet it with the full state."""
        self.outbox = outbox
        self.detached_at = None
        self.last_active = time.monotonic()
        self._send_run()

    def detach(self) -> None:
        """The connection went away: stop playing, keep the run for a grace period."""
        self.outbox = None
        self.playing = False
        self.detached_at = time.monotonic()
        if self.followers:
            self._put(self.state(), key="state")  # the class sees the run stop

    @property
    def listening(self) -> bool:
        """Whether anyone receives this run's messages (its page or a follower)."""
        return self.outbox is not None or bool(self.followers)

    def _put(self, msg: Entry, **kw: Any) -> None:
        if self.outbox is not None:
            self.outbox.put(msg, **kw)
        if self.followers:
            self._fan_out(msg, kw)

    def _fan_out(self, msg: Entry, kw: dict[str, Any]) -> None:
        """Put ``msg`` on every follower's outbox too (:meth:`_for_followers`)."""
        entry = self._for_followers(msg)
        if entry is not None:
            for f in self.followers:
                f.outbox.put(entry, **kw)

    @staticmethod
    def _for_followers(msg: Entry) -> Shared | None:
        """What followers get of ``msg`` (None: the owner's alone): the same objects,
        encoded once (:class:`Shared`; a message merged into a pending one, for a
        follower that reads slowly, becomes that outbox's own). A ``run`` goes out
        without the session id, which would let its holder drive the session."""
        if isinstance(msg, dict):
            kind = msg["type"]
            if kind in _OWNER_ONLY and msg.get("code") != "nonfinite":
                return None
            if kind == "run":
                msg = {**msg, "session": None}
        return msg if isinstance(msg, Shared) else Shared(msg)

    # ---- sharing with a class (server.sessions.SessionStore.share) -------------------

    def add_follower(self, f: Follower) -> None:
        """Start sending this run to ``f``: first what a page needs to draw it as it
        is now (``follow``, ``run``, ``state``, ``timeline``, the current frames,
        the metrics series), then the stream as the owner's page gets it."""
        f.leader = self

        def put(msg: Entry, **kw: Any) -> None:  # to this follower alone
            entry = self._for_followers(msg)
            if entry is not None:
                f.outbox.put(entry, **kw)

        self.followers.pop(f, None)  # (a hello again: drawn afresh, counted once)
        put(server_message("follow", code=self.share_code, active=True,
                           followers=len(self.followers) + 1))
        put(self.run_message(), key="run")
        put(self.state(), key="state")
        # (not send_timeline: that would count as the class's, and hold theirs back)
        put(playback.timeline_message(self, params=True), key="timeline")
        cap = self.views.capture
        for phase in ("forward", "loss", "backward", "update"):
            if phase in cap.phases:
                put(self._frame(PhaseRecord(phase, cap.iteration, cap.phases[phase])),
                    droppable=True)
        if len(self.history.active.metrics):
            put(self.series_message(), key="metrics")
        for kind, msg in self.views.last.items():
            if kind not in self.views.dirty:  # (a dirty one goes to everyone soon)
                put(msg, key=kind)
        self.followers[f] = None
        self.send_share()

    def series_message(self) -> Shared:
        """The active branch's metrics series as one ``metrics`` message that replaces
        what the page has (after a ``run``, which clears it). Built and encoded once
        per branch and length: a class joining at once shares it."""
        b = self.history.active
        key = (id(self.history), b.id, len(b.metrics))
        if self._series is None or self._series[0] != key:
            msg = server_message("metrics", replace=True,
                                 points=b.metrics.points(playback.METRICS_ON_SWITCH))
            self._series = (key, Shared(msg))
        return self._series[1]

    def remove_follower(self, f: Follower) -> None:
        """``f`` left (its connection closed, or it made its own copy)."""
        if f in self.followers:
            del self.followers[f]
            f.leader = None
            self.send_share()

    def end_sharing(self, reason: str) -> None:
        """Sharing stopped (``stopped``) or the run was freed (``ended``): tell the
        followers, let them go, and tell the owner."""
        code = self.share_code
        self.share_code = None
        self.last_share_code = code
        for f in self.followers:
            f.leader = None
            f.outbox.put(server_message("follow", code=code, active=False, reason=reason))
        self.followers = {}
        self.send_share()

    def send_share(self) -> None:
        """The owner's sharing status: the code (None when not sharing) and the count."""
        if self.outbox is not None:
            self.outbox.put(server_message("share", code=self.share_code,
                                           followers=len(self.followers)), key="share")

    def error(self, code: str, message: str, **extra: Any) -> None:
        """Queue an ``error`` message; the session carries on."""
        self._put(server_message("error", code=code, message=message, **extra))

    # ---- commands ------------------------------------------------------------------

    def handle(self, msg: Any) -> None:
        """Apply one validated client message."""
        self.last_active = time.monotonic()
        if isinstance(msg, Hello):
            self._send_run()
        elif isinstance(msg, Configure):
            self._configure(msg.config)
        elif isinstance(msg, Step) and msg.direction == "back":
            playback.step_back(self, msg.unit)
        elif isinstance(msg, Step):
            self.playing = False
            if msg.unit == "phase":
                self._advance_phase()
            else:
                self._advance_phase()
                while self.stepper.phase_index != 0 and self.stepper.halted is None:
                    self._advance_phase()
            self._send_state()
        elif isinstance(msg, Play):
            if msg.speed > self.settings.max_speed:
                self.error("limit", f"speed {msg.speed:g} exceeds max_speed="
                           f"{self.settings.max_speed:g} iterations per second",
                           limit="max_speed", field="speed")
                return
            self.speed = msg.speed
            self.playing = self.stepper.halted is None
            # start half a clock tick off the iteration boundaries, so clock jitter
            # does not make one frame a tick early and the next a tick late
            # — and on one of the ticks in between, in turn: sessions that start together
            # (a class pressing play at once) then take turns instead of all stepping
            # on the same tick and idling on the next, which made that tick overrun
            per_tick = self.speed / self.settings.tick_hz
            units = per_tick if self.speed > PHASE_BY_PHASE_MAX else 4 * per_tick
            # (fast play only, within STAGGER_TICKS, so play still starts at once)
            fast = self.speed > PHASE_BY_PHASE_MAX and units < 1.0
            slot = next(_STAGGER) % min(STAGGER_TICKS, int(1.0 / units)) if fast else 0
            self._credit = (0.5 + slot) * min(1.0, units)
            if self.stepper.halted is not None:
                self._report_halt(self.stepper.halted)
            self._send_state()
        elif isinstance(msg, Pause):
            self.playing = False
            self._send_state()
        elif isinstance(msg, Reset):
            self._configure(self.history.base)
        elif isinstance(msg, Inspect | Focus | Edit):
            self.views.handle(msg)
        elif isinstance(msg, Seek | Set | Checkout | Load):
            playback.handle(self, msg)
        self.views.flush()

    def _configure(self, cfg: RunSettings) -> None:
        try:
            check_limits(cfg, self.settings)
            stepper = Stepper(run_config(cfg))
        except LimitError as e:
            self.error("limit", str(e), limit=e.limit)
            return
        except ValueError as e:
            self.error("invalid", str(e))
            return
        self.config = cfg  # the new history records these settings
        self.replace_run(cfg, stepper, playback.new_history(self, stepper))

    def replace_run(self, cfg: RunSettings, stepper: Stepper, history: History) -> None:
        """Start another run (configure, reset, a loaded file) and send it to the page."""
        self.config = cfg
        self.stepper = stepper
        self.history = history
        self.playing = False
        self._send_run()

    def record_edit(self, msg: Edit) -> None:
        """A weight was set by hand (by the views): log it in the history."""
        playback.record_edit(self, {"id": msg.id, "index": tuple(msg.index),
                                    "value": msg.value})

    # ---- stepping ------------------------------------------------------------------

    def _advance_phase(self) -> PhaseRecord | None:
        """Run one phase and queue its (full) frame."""
        try:
            rec = self.history.step_phase()
        except NonFiniteError as e:
            self.playing = False
            self._report_halt(e)
            return None
        self._put(self._frame(rec), droppable=True)
        self.views.after_phase(rec)
        if rec.phase == "update" and self._metrics_wanted():
            self._queue_metrics(rec.values)
        return rec

    def _play_iteration(self) -> bool:
        """Fast play: run the four phases of one iteration and queue their compact frames
        as one bundle (:mod:`server.compact`, one NumPy reduction for the iteration's
        batch means) under one key, so a client that is behind gets the latest
        iteration next instead of a backlog of superseded ones. True if all four ran
        (a non-finite value halts the run: the phases before it are still sent)."""
        recs, halt = self.history.step_iteration()
        if recs:
            values = compact_iteration([(r.phase, r.values) for r in recs])
            self._put([{"type": "frame", "phase": r.phase, "iteration": r.iteration,
                        "compact": True, "values": v} for r, v in zip(recs, values, strict=True)],
                      droppable=True, key="frames")
            for rec in recs:  # after the frames: an edit applied at the update follows them
                self.views.after_phase(rec)
        if halt is not None:
            self.playing = False
            self._report_halt(halt)
            return False
        if self._metrics_wanted():
            self._queue_metrics(recs[-1].values)
        return True

    def _metrics_wanted(self) -> bool:
        """Every stepped iteration gets a metrics point; fast play one every
        ``speed / metrics_hz`` iterations (evaluating the train and test sets is most
        of a small iteration's cost). Counting iterations, not seconds, keeps the
        share the same when an overloaded server plays runs slower than asked. A crowded
        server spaces them further, so all sessions' points share about
        ``views.CROWD_SHARE`` of a core: every ``crowd × cost × speed / share`` iterations."""
        if not self.playing or self.speed <= PHASE_BY_PHASE_MAX:
            return True
        it = self.stepper.iteration
        every = max(1, round(self.speed / self.settings.metrics_hz),
                    math.ceil(self.crowd * self._metrics_cost * self.speed / CROWD_SHARE))
        due, self._metrics_due = _due(it, self._metrics_due, every)
        return due

    def _report_halt(self, e: NonFiniteError) -> None:
        self.error("nonfinite", str(e), phase=e.phase, where=e.where, iteration=e.iteration)

    def tick(self, dt: float) -> None:
        """Advance a playing run by ``dt`` seconds of play time (called by the clock)."""
        self.views.flush()
        if not self.playing:
            return
        st = self.stepper
        if self.speed <= PHASE_BY_PHASE_MAX:
            self._credit += 4 * self.speed * dt
            while self._credit >= 1.0 and self.playing:
                self._credit -= 1.0
                rec = self._advance_phase()
                if rec is not None and rec.phase == "update":
                    self._send_state()  # the counters move with each iteration shown
            return
        self._credit += self.speed * dt
        k = int(self._credit)
        if k == 0:
            return
        self._credit -= k
        # fairness: one session's iterations per tick stay within tick_budget_ms of
        # engine time, so a large network at top speed slows itself, not the class;
        # and a late tick (an overloaded server) is not caught up in a burst, which
        # would only make the next tick later still: runs play slower instead
        # A session the clock skipped (dt over 1.5 periods: the server is behind) gets
        # no catch-up iteration either: it would run unseen, and cost the CPU that
        # the class is short of
        period = 1.0 / self.settings.tick_hz
        k_max = max(1, int(self.settings.tick_budget_ms / 1000 / self._iter_cost))
        k_max = min(k_max, math.ceil(self.speed * period) + (dt <= 1.5 * period))
        if k > k_max:
            k = k_max
            self._credit = min(self._credit, 1.0)
        t0 = time.perf_counter()
        try:
            if k > 1 or st.phase_index != 0:
                self.history.train(k - 1)
                self.views.after_train()
        except NonFiniteError as e:
            self.playing = False
            self._report_halt(e)
            self._send_state()
            return
        if not self._play_iteration():
            self._send_state()
            return
        self._iter_cost = 0.8 * self._iter_cost + 0.2 * (time.perf_counter() - t0) / k
        # frames carry the iteration: the counter needs a state only now and then
        every = max(1, round(self.speed / self.settings.metrics_hz))
        due, self._state_due = _due(st.iteration, self._state_due, every)
        if due:
            self._send_state()

    # ---- messages -------------------------------------------------------------------

    def _frame(self, rec: PhaseRecord, compact: bool = False) -> dict[str, Any]:
        """A ``frame`` of ``rec``: all its values, or (``compact``, fast play) what
        the page shows of them (:func:`server.compact.compact_values`)."""
        values = compact_values(rec.phase, rec.values) if compact else rec.values
        return server_message("frame", phase=rec.phase, iteration=rec.iteration,
                              compact=compact, values=values)

    def state(self) -> dict[str, Any]:
        """The play state as a ``state`` message."""
        st = self.stepper
        return server_message(
            "state", playing=self.playing, speed=self.speed, iteration=st.iteration,
            epoch=st.epoch, next_phase=st.next_phase,
            halted=None if st.halted is None else str(st.halted),
        )

    def _send_state(self) -> None:
        self._put(self.state(), key="state")
        playback.maybe_send_timeline(self)

    def _queue_metrics(self, update_values: dict[str, Any]) -> None:
        # engine.metrics: losses and accuracies plus, per layer (lists, layer 1 first),
        # gnorm ‖∂L/∂W‖, wnorm ‖W‖, update_ratio ‖ΔW‖/‖W‖, dead and saturated fractions
        t0 = time.perf_counter()
        m = metrics.collect(self.stepper)
        self._metrics_cost = time.perf_counter() - t0
        point = {
            "iteration": m["iteration"],
            "train_loss": m["train_loss"],
            "test_loss": m["test_loss"],
            "train_acc": m["train_acc"],
            "test_acc": m["test_acc"],
            "lr": update_values.get("lr", m["lr"]),
            **{k: m[k] for k in ("gnorm", "wnorm", "update_ratio", "dead", "saturated")},
        }
        self.history.record_metrics(point)
        self._put(server_message("metrics", points=[point]), key="metrics",
                  merge=_merge_metrics)

    def run_message(self) -> dict[str, Any]:
        """Everything the page needs to draw a fresh run: settings, shapes, data, weights."""
        st = self.stepper
        spec = st.net.spec
        d = st.data
        return server_message(
            "run",
            session=self.id,
            config=self.config.model_dump(mode="json"),
            net={
                "sizes": spec.sizes,
                "activations": [ls.activation for ls in spec.layers[:-1]]
                + [spec.output_activation()],
                "loss": spec.loss,
                "task": d.task,
                "n_classes": d.n_classes,
                "features": list(d.features),
            },
            data={
                "p_train": d.p_train, "t_train": d.t_train,
                "p_test": d.p_test, "t_test": d.t_test,
            },
            params={k: v for k, v in st.net.params.items()},
            state=self.state(),
        )

    def _send_run(self) -> None:
        self._put(self.run_message(), key="run")
        self._send_state()
        self.views.on_new_run()
        playback.on_attach(self)
        self.views.flush()
        if len(self.history.active.metrics):  # the run cleared the page's charts
            self._put(self.series_message(), key="metrics")
        if self.share_code is not None:
            self.send_share()

    # public for server.playback
    put = _put
    frame_message = _frame
    send_run = _send_run
