"""One learner's session: a run of the engine, its play state and its outgoing messages.

The session turns client commands into engine calls and engine records into
messages on its :class:`~server.live.outbox.Outbox`. It never touches the socket
and never sleeps: the shared :class:`~server.live.clock.Clock` calls :meth:`tick`
for every playing session.

Playing at ``speed`` iterations per second shows every phase when slow
(≤ :data:`PHASE_BY_PHASE_MAX` it/s: four phase frames per iteration, spread in
time); faster, whole iterations run on the engine's fast path and the frames
of the latest iteration are sent, at most once per tick, compact (batch means
instead of per-sample arrays: :mod:`server.run.compact`).

About 650 lines, because the session is where commands, pacing and messages
meet; what can live apart does: class sharing (:mod:`server.live.sharing`),
playback (:mod:`server.live.playback`), the derived views
(:mod:`server.live.views`), the charts' trace and series
(:mod:`server.live.traces`) and the run's data (:mod:`server.run`).
"""

from __future__ import annotations

import itertools
import logging
import math
import secrets
import time
import weakref
from collections.abc import Generator
from typing import Any, TypeVar

from engine import metrics
from engine.stacked import Fast
from engine.stepper import NonFiniteError, PhaseRecord, Stepper, TrainStats
from server.live import memory, playback
from server.live.coach import Coach
from server.live.lessons import LessonDesk
from server.live.outbox import Entry, Outbox, Shared
from server.live.playback import Changed, Halted, NewRun, Outcome, Shown, Switched, Timeline
from server.live.sharing import Audience, Follower
from server.live.traces import NEVER, CompareCache, TraceSampler, series_message
from server.live.traces import due as _due
from server.live.views import CROWD_SHARE, Pacing, SessionViews
from server.protocol import (
    Checkout,
    Configure,
    Csv,
    Draw,
    Edit,
    Focus,
    Hello,
    Inspect,
    Landscape,
    Learn,
    LessonCommand,
    Load,
    MapAxes,
    Pause,
    Play,
    Reset,
    RunSettings,
    Seek,
    Series,
    Set,
    Step,
    SwitchRun,
    server_message,
)
from server.run.compact import compact_iteration, compact_values, pack_fast, pack_parts
from server.run.cost import JSON_BYTES_PER_VALUE
from server.run.drawing import DrawingError, check_learn
from server.run.history import History, HistoryError, drain
from server.run.runconfig import (
    LimitError,
    checked_stepper,
    csv_settings,
    own_table_kept,
    run_config,
)
from server.run.series import metrics_point
from server.settings import Settings

log = logging.getLogger("backprop_lab.session")
T = TypeVar("T")

PHASE_BY_PHASE_MAX = 4.0
#: a learned drawing's iteration plays at this many iterations a second (half a second
#: a phase), then the run pauses
LEARN_SPEED = 0.5
PAST_RUNS = 5  # earlier runs a session keeps (memory: the histories' budgets)
_STAGGER = itertools.count()  # hands each started play its tick slot in turn
STAGGER_TICKS = 4  # a started play's first iteration is at most this many ticks late
METRICS_MAX_POINTS = 2_000


def merge_metrics(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Concatenate two pending ``metrics`` messages' series (points and trace)."""
    out = dict(new)
    out["points"] = (old["points"] + new["points"])[-METRICS_MAX_POINTS:]
    trace = old.get("trace", []) + new.get("trace", [])
    if trace:
        out["trace"] = trace[-METRICS_MAX_POINTS:]
    if old.get("replace"):  # a branch switch's full series, still pending
        out["replace"] = True
    return out


_merge_metrics = merge_metrics  # (its former name)


class Session:
    """A run plus its play state; commands in, messages out.

    It is the port its collaborators talk to: :mod:`server.live.playback` and
    :class:`~server.live.views.SessionViews` get it typed as their small
    ``Port`` (``put``, ``error``, ``record_edit``) and return what to redraw.
    """

    def __init__(self, settings: Settings, config: RunSettings | None = None) -> None:
        self.id = secrets.token_urlsafe(12)
        self.settings = settings
        self.config = config or RunSettings()
        self.stepper = Stepper(run_config(self.config))
        self.history: History = playback.new_history(settings, self.config, self.stepper)
        self.playing = False
        self.speed = 2.0
        #: play stops after this iteration's update (a learned drawing's), or None
        self._stop_after: int | None = None
        self._credit = 0.0
        self._iter_cost = 1e-4  # seconds per played iteration (moving average)
        #: fast play's frame budget in bytes (max_stream_mb_per_s), and when it was filled
        self._stream_tokens = settings.max_stream_mb_per_s * 2**20  # (full: a second's worth)
        self._stream_at = time.monotonic()
        self._state_due = NEVER  # iteration of the last state message in fast play
        self._state_epoch = 0  # the epoch the last state message said
        self.outbox: Outbox | None = None
        self.created = time.monotonic()
        self.last_active = self.created
        self.detached_at: float | None = None
        self._metrics_due = NEVER  # iteration of the last metrics point in fast play
        self._tracer = TraceSampler()  # fast play's trace points (server.live.traces)
        self._trace: list[dict[str, Any]] = []  # trace points not sent yet (go with a state)
        self._metrics_cost = 0.0  # seconds per metrics point (last measured)
        #: the highest batch loss of the iterations played since the last metrics point
        #: (fast play spaces points out; the coach sees a spike between two of them)
        self._loss_peak = -math.inf
        self.crowd = 1  # sessions the shared clock serves (set by the clock each tick)
        self._pacing: Pacing | None = None  # (pacing(): kept while it holds)
        self._series: tuple[tuple[int, int, int], Shared] | None = None
        self._compares = CompareCache()
        self.audience = Audience()  # a class following this run
        self.busy = False  # a command's replay is under way, a piece at a time
        #: this tab's earlier runs, newest first: (id, history); a reset keeps them
        self.past: list[tuple[int, History]] = []
        self._past_ids = 0
        #: the hello named a session the server did not know: the next run says so
        self.unknown_session = False
        #: where background work runs (the engine thread; set by the store), or None
        self.scheduler: playback.Scheduler | None = None
        # a weak reference: the views must not keep a freed session alive until the
        # cyclic garbage collector runs (its memory is the run's: megabytes)
        self.views = SessionViews(weakref.proxy(self), settings, self.stepper)
        #: the lesson open in this session, if any (server.live.lessons)
        self.lessons = LessonDesk(weakref.proxy(self))
        #: what the run's numbers say, in words (server.live.coach)
        self.coach = Coach(weakref.proxy(self))

    # ---- connection ----------------------------------------------------------------

    def attach(self, outbox: Outbox) -> None:
        """Send to ``outbox`` from now on and greet it with the full state."""
        self.outbox = outbox
        self.detached_at = None
        self.last_active = time.monotonic()
        budget = playback.history_budget(self.settings)
        for h in self.histories():  # back from a detach: the full budget again
            h.regrow(budget)
        self._send_run()

    def detach(self) -> None:
        """The connection went away: stop playing, keep the run for a grace period."""
        self.outbox = None
        self.playing = False
        self.detached_at = time.monotonic()
        if self.audience:
            self._put_state()  # the class sees the run stop
        else:
            self._keep_small()

    def _keep_small(self) -> None:
        """Kept for a reload, in little memory (no page and no class): nothing is lost
        (the live stepper stays where it was; a seek replays from a sparser checkpoint,
        and the page's return recomputes the values shown, as after any move)."""
        small = int(self.settings.detached_history_mb * 2**20)
        for h in self.histories():
            h.shrink(small)
            h.let_go()
        self.views.let_go()
        memory.release()  # (at most every few seconds)

    @property
    def listening(self) -> bool:
        """Whether anyone receives this run's messages (its page or a follower)."""
        return self.outbox is not None or bool(self.audience)

    @property
    def wants_tick(self) -> bool:
        """Whether the clock has something to do here: play, a view send is due, or a
        class's answers are owed to the teacher (not while a replay is under way: the
        run is between two positions)."""
        return not self.busy and (self.playing or (bool(self.views.dirty) and self.listening)
                                  or self.lessons.answers_pending)

    @property
    def max_speed(self) -> float:
        """The fastest play allowed (the timeline's "as fast as it goes")."""
        return self.settings.max_speed

    def pacing(self) -> Pacing:
        """How busy things are, for the views' send rate (the same object while it
        holds: the clock asks for it every tick)."""
        p = self._pacing
        listening = self.outbox is not None or bool(self.audience)
        if (p is None or p.crowd != self.crowd or p.listening != listening
                or p.followers != len(self.audience)):
            p = self._pacing = Pacing(listening, self.crowd, len(self.audience))
        return p

    def flush_views(self, now: float | None = None) -> None:
        """Send the derived views that are due."""
        self.views.flush(self.pacing(), now)

    def put(self, msg: Entry, **kw: Any) -> None:
        """Queue ``msg`` for the page and for a class following the run."""
        if self.outbox is not None:
            self.outbox.put(msg, **kw)
        if self.audience:
            self.audience.fan_out(msg, kw)

    # ---- sharing with a class (server.live.store.SessionStore.share) -----------------

    def add_follower(self, f: Follower) -> None:
        """Start sending this run to ``f``: first what a page needs to draw it as it
        is now (``follow``, then :meth:`welcome`), then the stream as the owner's page
        gets it."""
        self.audience.add(f, self, self.welcome())
        self.send_share()

    def welcome(self) -> list[tuple[Entry, dict[str, Any]]]:
        """What a follower's page needs to draw the run as it is now, each message with
        its outbox options: ``run``, ``state``, ``timeline``, the current frames, the
        metrics series, the views open and the lesson step open (a follower here, or
        on another worker)."""
        welcome: list[tuple[Entry, dict[str, Any]]] = [
            (self.run_message(), {"key": "run"}),
            (self.state(), {"key": "state"}),
            # (not Timeline.send: that would count as the class's, and hold theirs back)
            (playback.timeline_message(self.history, self.max_speed, params=True),
             {"key": "timeline"}),
        ]
        cap = self.views.capture
        for phase in ("forward", "loss", "backward", "update"):
            if phase in cap.phases:
                welcome.append((self._frame(PhaseRecord(phase, cap.iteration,
                                                        cap.phases[phase])),
                                {"droppable": True}))
        if len(self.history.active.metrics):
            welcome.append((self.series_message(), {"key": "metrics"}))
        for kind, msg in self.views.last.items():
            if kind not in self.views.dirty:  # (a dirty one goes to everyone soon)
                welcome.append((msg, {"key": kind}))
        step = self.lessons.step_message()  # a lesson open: the class's pages show its step
        if step is not None:
            welcome.append((step, {}))
        if self.coach.shown():
            welcome.append((self.coach.message(), {"key": "coach"}))
        return welcome

    def indexed(self) -> None:
        """A loaded run's indexing is done: its charts, recomputed on the way, go to the
        page (and the class) whole."""
        if len(self.history.active.metrics):
            self.put(self.series_message(), key="metrics")

    def series_message(self) -> Shared:
        """The active branch's metrics series as one ``metrics`` message that replaces
        what the page has (after a ``run``, which clears it). Built and encoded once
        per branch and length: a class joining at once shares it."""
        b = self.history.active
        key = (id(self.history), b.id, len(b.metrics) + len(b.metrics.trace))
        if self._series is None or self._series[0] != key:
            msg = series_message(b.metrics)
            self._series = (key, Shared(msg))
        return self._series[1]

    def remove_follower(self, f: Follower) -> None:
        """``f`` left (its connection closed, or it made its own copy)."""
        if self.audience.remove(f):
            self.lessons.left(f)  # its answer to a lesson step no longer counts
            self.send_share()
            if self.outbox is None and not self.audience:  # the teacher had left too
                self._keep_small()

    def end_sharing(self, reason: str) -> None:
        """Sharing stopped (``stopped``) or the run was freed (``ended``): tell the
        followers, let them go, and tell the owner."""
        self.audience.end(reason)
        self.send_share()

    def send_share(self) -> None:
        """The owner's sharing status: the code (None when not sharing) and the count."""
        if self.outbox is not None:
            self.outbox.put(self.audience.status(), key="share")

    def error(self, code: str, message: str, **extra: Any) -> None:
        """Queue an ``error`` message; the session carries on."""
        self.put(server_message("error", code=code, message=message, **extra))

    # ---- commands ------------------------------------------------------------------

    def handle(self, msg: Any) -> None:
        """Apply one validated client message at once."""
        drain(self.handle_pieces(msg))

    def handle_pieces(self, msg: Any) -> Generator[None, None, None]:
        """Apply one validated client message; a replay (seek, step back, checkout) is
        done a piece at a time, a yield between pieces, while the clock leaves the
        session alone (:attr:`busy`)."""
        self.last_active = time.monotonic()
        if isinstance(msg, Step) and msg.direction == "back":
            self.playing = False
            self._apply((yield from self._busy(playback.step_back_pieces(self.history,
                                                                          msg.unit))))
        elif isinstance(msg, LessonCommand):
            yield from self.lessons.handle_pieces(msg)
        elif isinstance(msg, Seek | Set | Checkout | Load):
            self._apply((yield from self._busy(playback.handle_pieces(
                self.history, msg, self.settings, self))))
        else:
            self._handle_now(msg)
        self.flush_views()

    def _busy(self, pieces: Generator[None, None, T]) -> Generator[None, None, T]:
        self.busy = True
        try:
            return (yield from pieces)
        finally:
            self.busy = False

    def _handle_now(self, msg: Any) -> None:
        if isinstance(msg, Hello):
            self._send_run()
        elif isinstance(msg, Configure):
            self._configure(own_table_kept(msg.config, self.config))
        elif isinstance(msg, Csv):
            self._configure_csv(msg)
        elif isinstance(msg, Step):
            self.playing = False
            if msg.unit == "phase":
                self._advance_phase()
            else:
                self._advance_phase()
                while self.stepper.phase_index != 0 and self.stepper.halted is None:
                    self._advance_phase()
            self._send_state()
        elif isinstance(msg, Learn):
            self._learn(msg)
        elif isinstance(msg, Play):
            self._stop_after = None
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
            self._measure_here()
            self._send_state()
        elif isinstance(msg, Reset):
            self._configure(self.history.base)
        elif isinstance(msg, Inspect | Focus | Edit | Landscape | MapAxes | Draw):
            self.views.handle(msg)
        elif isinstance(msg, SwitchRun):
            self.switch_run(msg.run)
        elif isinstance(msg, Series):
            self._send_compare(msg)

    def _learn(self, msg: Learn) -> None:
        """``learn``: the next iteration runs on the drawing with the class asked for
        (:meth:`History.learn`, logged like a ``set``: a rewind, a run file and a class's
        copy replay it), played phase by phase at :data:`LEARN_SPEED` until its update;
        the drawing's prediction follows (``drawn``). An iteration under way is finished
        first. A drawing the run cannot take gets a ``learn`` error; nothing changes."""
        st = self.stepper
        try:
            data = check_learn(st, msg.pixels, msg.label)
        except DrawingError as e:
            self.error("learn", str(e), reason=e.reason, field=e.field, **e.counts)
            return
        if st.halted is not None:
            self.error("learn", f"the run is halted ({st.halted}); change a setting or "
                       "rewind first", reason="halted")
            return
        self.playing = False
        while st.phase_index != 0:  # (the iteration under way: its frames go out)
            if self._advance_phase() is None:
                self._send_state()
                return
        try:
            branch = self.history.learn(data)
        except HistoryError as e:
            self.error("limit", str(e), limit="history_commands")
            return
        log.info("learn", extra={"label": data["label"], "iteration": st.iteration})
        self.views.drawing = data["pixels"]  # (its prediction shows what the step did)
        self._apply(Changed() if branch is None else Switched())
        self.speed = LEARN_SPEED
        self.playing = True
        self._stop_after = st.iteration
        self._credit = 1.0  # its forward on the next tick
        self._send_state()

    def _configure(self, cfg: RunSettings) -> None:
        try:
            stepper = checked_stepper(cfg, self.settings)
        except LimitError as e:
            self.error("limit", str(e), limit=e.limit)
            return
        except ValueError as e:
            self.error("invalid", str(e))
            return
        self.replace_run(playback.new_history(self.settings, cfg, stepper))

    def _configure_csv(self, msg: Csv) -> None:
        """A new run on the learner's CSV, or a ``csv`` error naming the row and column
        (:mod:`engine.owndata`); the current run is left as it is either way until then."""
        cfg, problem = csv_settings(msg.text, self.config, self.settings)
        if problem is not None:
            self.error("csv", str(problem), reason=problem.code, row=problem.row,
                       column=problem.column, value=problem.value, **problem.counts)
            return
        assert cfg is not None
        before = self.history
        self._configure(cfg)
        if self.history is not before:
            self.lessons.adopt()  # a lesson's csv step goes on with this table

    def replace_run(self, history: History) -> None:
        """Start another run (configure, reset, a loaded file) and send it to the page;
        the run it replaces joins this tab's earlier runs (:attr:`past`)."""
        self._keep_past()
        self._install(history)

    def _install(self, history: History) -> None:
        self.config = history.settings_now()
        self.stepper = history.stepper
        self.history = history
        self.playing = False
        self._stop_after = None
        if history.needs_indexing() and history.indexing is None:
            history.start_indexing(Stepper(run_config(history.base)))
        self.coach.reset()
        if self.outbox is None and not self.audience:  # (a copy not attached yet: the
            self.views.on_new_run(self.stepper)  # page that attaches gets it all then)
        else:
            self._send_run()
        playback.spawn_indexer(self, history, self.scheduler, ("index", self.id))

    def _keep_past(self) -> None:
        """The current run joins the earlier ones (newest first, at most
        :data:`PAST_RUNS`), unless nothing was done in it."""
        h = self.history
        if h.head == (0, 0) and len(h.branches) == 1 and not h.active.commands:
            return
        self._past_ids += 1
        self.past.insert(0, (self._past_ids, h))
        del self.past[PAST_RUNS:]

    def switch_run(self, run_id: int) -> None:
        """Go back to an earlier run; the current one takes its place in the list."""
        for i, (rid, h) in enumerate(self.past):
            if rid == run_id:
                del self.past[i]
                self._keep_past()
                self._install(h)
                return
        self.error("invalid", f"no earlier run {run_id}; runs: {[r for r, _ in self.past]}",
                   field="run")

    def histories(self) -> list[History]:
        """Every history this session holds (the current run's and earlier ones)."""
        return [self.history, *(h for _, h in self.past)]

    def copy_from(self, source: Session) -> None:
        """:meth:`copy_pieces` at once."""
        drain(self.copy_pieces(source))

    def copy_pieces(self, source: Session) -> Generator[None, None, None]:
        """Make this run a copy of ``source``'s as it is now (a follower's own copy),
        with the inspected element and focused point; the copy's replay to the
        source's position is done a piece at a time."""
        history = yield from self._busy(playback.copy_history(source.history,
                                                                   self.settings))
        self.replace_run(history)
        self.views.copy_targets(source.views)
        log.info("run copied", extra={"session": self.id, "source": source.id,
                                      "iteration": history.pos[0]})

    def record_edit(self, data: dict[str, Any]) -> None:
        """A weight was set by hand (by the views): log it in the history; the timeline
        (its marker) and the page's copy of the run (``save``) follow at once."""
        self._apply(playback.record_edit(self.history, data, self))
        Timeline.maybe_send(self)

    def _measure_here(self) -> None:
        """Paused between two iterations of fast play, the iteration shown gets its own
        metrics point if pacing skipped it: the numbers a learner reads then are this
        iteration's, the same for every viewer and after a restore."""
        st = self.stepper
        if st.phase_index == 0 and st.iteration > self.history.active.metrics.last_iteration:
            self._queue_metrics({})

    def _apply(self, outcome: Outcome) -> None:
        """Redraw what a playback command changed."""
        self.config = self.history.settings_now()
        if isinstance(outcome, Shown):
            Timeline.send(self, params=True)  # first: the weights the frames were computed with
            self._show(outcome.records)
            self._put_state()
            if self.coach.moved(self.history.pos[0]):  # the notes after it go, or come back
                self.put(self.coach.message(), key="coach")
        elif isinstance(outcome, Switched):
            self.coach.switched()
            self._send_run()  # with the branch's metrics series and coach notes
        elif isinstance(outcome, NewRun):
            self.replace_run(outcome.history)
        elif isinstance(outcome, Changed | Halted):
            if isinstance(outcome, Halted):
                self.playing = False
            self._put_state()
            Timeline.send(self)

    def _show(self, records: list[PhaseRecord]) -> None:
        """Send the frames of the iteration now shown (after a seek or a switch)."""
        for rec in records:
            self.put(self._frame(rec), droppable=True)
        self.views.show(records)

    # ---- stepping ------------------------------------------------------------------

    def _advance_phase(self) -> PhaseRecord | None:
        """Run one phase and queue its (full) frame."""
        try:
            rec = self.history.step_phase()
        except NonFiniteError as e:
            self.playing = False
            self._report_halt(e)
            return None
        self.put(self._frame(rec), droppable=True)
        self.views.after_phase(rec)
        if rec.phase == "update" and self._metrics_wanted():
            self._queue_metrics(rec.values)
        return rec

    def _play_iteration(self, stats: list[TrainStats] | None = None) -> bool:
        """Fast play: run the four phases of one iteration and queue their compact frames
        as one bundle (:mod:`server.run.compact`, one NumPy reduction for the iteration's
        batch means) under one key, so a client that is behind gets the latest
        iteration next instead of a backlog of superseded ones. True if all four ran
        (a non-finite value halts the run: the phases before it are still sent).
        ``stats``: the iterations trained unseen before it, for the trace.

        Computed with other runs of its shape on this tick (:mod:`engine.stacked`, the
        clock's :meth:`~server.live.clock.Clock.tick`), the iteration's frames come
        straight from those numbers, the same bytes, with no records built."""
        fast = self.history.step_fast()
        if fast is not None:
            self._play_fast(fast)
            return self._after_iteration(stats, [])
        recs, halt = self.history.step_iteration()
        if recs:
            self._put_compact(recs, whole=halt is None)
            for rec in recs:  # after the frames: an edit applied at the update follows them
                self.views.after_phase(rec)
        if halt is not None:
            self.playing = False
            self._report_halt(halt)
            return False
        return self._after_iteration(stats, recs)

    def _play_fast(self, fast: Fast) -> None:
        """Queue the frames of an iteration stepped with others, as the lone path queues
        its compact frames (made of its records if they cannot be made so)."""
        packed = pack_fast(fast)
        if packed is None:
            self._put_compact(self.stepper.fast_records() or [])
        elif self._stream_allows(packed.numbers):
            self.put(packed, droppable=True, key="frames")
        self.views.after_fast(fast.iteration, fast.batch[0])

    def _put_compact(self, recs: list[PhaseRecord], whole: bool = True) -> None:
        """Queue the compact frames of ``recs`` (an iteration's phases, in order) as one
        bundle under one key, if the stream budget allows. A ``whole`` iteration goes
        packed (:func:`server.run.compact.pack_parts`, a third of the bytes for about
        the CPU of its JSON) when the learner's page takes packed frames or a class
        follows the run (packed once for every follower); as JSON otherwise."""
        ob = self.outbox
        if whole and len(recs) == 4 and (self.audience or (ob is not None and ob.takes_packed)):
            parts = pack_parts([(r.phase, r.values) for r in recs])
            if parts is not None:
                if self._stream_allows(parts.numbers):  # (before any copy is made)
                    self.put(parts.frames(recs[0].iteration, recs[0].values.get("batch", ())),
                             droppable=True, key="frames")
                return
        values = compact_iteration([(r.phase, r.values) for r in recs])
        if not self._stream_allows(sum(v.numbers for v in values)):
            return
        self.put([{"type": "frame", "phase": r.phase, "iteration": r.iteration,
                   "compact": True, "values": v} for r, v in zip(recs, values, strict=True)],
                 droppable=True, key="frames")

    def _after_iteration(self, stats: list[TrainStats] | None, recs: list[PhaseRecord]
                         ) -> bool:
        """What follows a played iteration (``recs``: its records, none when it was
        stepped with others): the loss peak, the trace, a metrics point when due."""
        for st_ in stats or []:
            if len(st_.loss):
                self._loss_peak = max(self._loss_peak, float(st_.loss.max()))
        played = self.stepper.last_iteration
        if played is not None and played.loss is not None:
            self._loss_peak = max(self._loss_peak, float(played.loss.mean))
        full = self._metrics_wanted()
        # the iterations between metrics points, as computed (server.live.traces); a
        # replay after a rewind computes the same numbers again: only new ones go out
        last = None if full else self.stepper.last_iteration
        known = self.history.active.metrics.trace.last_iteration
        for p in self._tracer.points(stats or [], last, self.speed, self.crowd):
            if p["iteration"] > known:
                self.history.record_trace(p)
                self._trace.append(p)
        if full:
            self._queue_metrics(recs[-1].values if recs else {})
        return True

    def _stream_allows(self, numbers: int) -> bool:
        """Whether fast play's frames of this iteration, holding ``numbers`` numbers, fit
        the run's stream budget (``max_stream_mb_per_s``, a token bucket holding at most
        one second's worth): their size is estimated from the numbers they hold (JSON
        bytes a value, as the cost model counts, packed or not), so encoding never has
        to happen to decide. A small
        network's frames always fit; the largest network's (~2.6 MB, mostly its
        weight-sized arrays) go out a few times a second and its counters, charts
        and the rest every tick, so a heavy run slows its own picture, not the
        event loop that serves everyone's."""
        rate = self.settings.max_stream_mb_per_s * 2**20
        now = time.monotonic()
        self._stream_tokens = min(rate, self._stream_tokens + (now - self._stream_at) * rate)
        self._stream_at = now
        size = JSON_BYTES_PER_VALUE * numbers
        if size > self._stream_tokens and size <= rate:  # (one bigger than a second: always)
            return False
        self._stream_tokens = max(0.0, self._stream_tokens - size)
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
        self.coach.after_halt(e.iteration, e.layer)

    def _iterations_due(self, dt: float) -> int:
        """Fast play: the iterations a tick of ``dt`` plays (the credit, ``speed`` a
        second, rounded down), within the session's fair share.

        Fairness: one session's iterations per tick stay within ``tick_budget_ms`` of
        engine time, so a large network at top speed slows itself, not the class; and
        a late tick (an overloaded server) is not caught up in a burst, which would
        only make the next tick later still: runs play slower instead. A session the
        clock skipped (``dt`` over 1.5 periods: the server is behind) gets no catch-up
        iteration either: it would run unseen, and cost the CPU the class is short of."""
        k = int(self._credit + self.speed * dt)
        if k == 0:
            return 0
        period = 1.0 / self.settings.tick_hz
        k_max = max(1, int(self.settings.tick_budget_ms / 1000 / self._iter_cost))
        return min(k, k_max, math.ceil(self.speed * period) + (dt <= 1.5 * period))

    def rests(self, dt: float) -> bool:
        """Whether a tick of ``dt`` would play nothing here: fast play whose next
        iteration is not due yet (the clock then lets the time accrue to its next tick,
        the same credit in one step as in two)."""
        return (self.playing and self.speed > PHASE_BY_PHASE_MAX
                and self._credit + self.speed * dt < 1.0)

    def plays_one_fast_iteration(self, dt: float) -> bool:
        """Whether a tick of ``dt`` will play exactly one whole fast iteration, from an
        iteration's start (the clock then computes it with other runs of this shape
        beforehand: :mod:`engine.stacked`)."""
        return (self.playing and not self.busy and self.speed > PHASE_BY_PHASE_MAX
                and self.stepper.phase_index == 0 and self._iterations_due(dt) == 1)

    def tick(self, dt: float) -> None:
        """Advance a playing run by ``dt`` seconds of play time (called by the clock)."""
        self.flush_views()
        self.lessons.flush_answers()  # (a class's answers, a few a second at most)
        if not self.playing:
            return
        st = self.stepper
        if self.speed <= PHASE_BY_PHASE_MAX:
            self._credit += 4 * self.speed * dt
            while self._credit >= 1.0 and self.playing:
                self._credit -= 1.0
                rec = self._advance_phase()
                if rec is not None and rec.phase == "update":
                    stop = self._stop_after
                    if stop is not None and rec.iteration >= stop:  # a learned drawing's
                        self._stop_after = None
                        self.playing = False
                    self._send_state()  # the counters move with each iteration shown
                elif rec is not None and st.epoch != self._state_epoch:
                    self._put_state()  # (a new epoch's first batch: the page counts phases)
            return
        k = self._iterations_due(dt)
        self._credit += self.speed * dt
        self._credit -= int(self._credit)
        if k == 0:
            return
        t0 = time.perf_counter()
        stats: list[TrainStats] = []
        try:
            if k > 1 or st.phase_index != 0:
                stats = self.history.train(k - 1)
                self.views.after_train()
        except NonFiniteError as e:
            self.playing = False
            self._report_halt(e)
            self._send_state()
            return
        if not self._play_iteration(stats):
            self._send_state()
            return
        self._iter_cost = 0.8 * self._iter_cost + 0.2 * (time.perf_counter() - t0) / k
        # frames carry the iteration (the page counts it from them): the counters need a
        # state only now and then, and when the epoch changes, which frames do not say
        every = max(1, round(self.speed / self.settings.metrics_hz))
        due, self._state_due = _due(st.iteration, self._state_due, every)
        if due:
            self._send_state()
        elif st.epoch != self._state_epoch:
            self._put_state()

    # ---- messages -------------------------------------------------------------------

    def _frame(self, rec: PhaseRecord, compact: bool = False) -> dict[str, Any]:
        """A ``frame`` of ``rec``: all its values, or (``compact``, fast play) what
        the page shows of them (:func:`server.run.compact.compact_values`)."""
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
        if self._trace:  # the trace goes out with the counters (metrics_hz), not every tick
            self._put_points([])
        self._put_state()
        Timeline.maybe_send(self)

    def _put_state(self) -> None:
        self._state_epoch = self.stepper.epoch
        self.put(self.state(), key="state")

    def _queue_metrics(self, update_values: dict[str, Any]) -> None:
        # engine.metrics: losses and accuracies, the batch's loss plus, per layer (lists,
        # layer 1 first), gnorm ‖∂L/∂W‖, wnorm ‖W‖, update_ratio ‖ΔW‖/‖W‖, dead and
        # saturated fractions; with the trace points waiting to go
        t0 = time.perf_counter()
        m = metrics.collect(self.stepper)
        self._metrics_cost = time.perf_counter() - t0
        point = metrics_point(m, update_values.get("lr", m["lr"]))
        self.history.record_metrics(point)
        self._put_points([point])
        self.coach.after_metrics(point, loss_peak=self._loss_peak)
        self._loss_peak = -math.inf
        self._metrics_cost = time.perf_counter() - t0  # (the coach's rules with it)
        if self.lessons.after_metrics(m):  # the open lesson step's goal: stop there
            self.playing = False
            self._put_state()

    def _put_points(self, points: list[dict[str, Any]]) -> None:
        """A ``metrics`` message of ``points`` and the trace points waiting to go."""
        msg = server_message("metrics", points=points)
        if self._trace:
            msg["trace"], self._trace = self._trace, []
        self.put(msg, key="metrics", merge=merge_metrics)

    def _send_compare(self, msg: Series) -> None:
        """Another branch's or an earlier run's whole series, for the charts to draw
        beside this one's: a ``metrics`` message with ``compare`` naming it, under its
        own key (it never merges into the run's own series)."""
        if msg.run is not None:
            h = next((h for rid, h in self.past if rid == msg.run), None)
            if h is None:
                self.error("invalid", f"no earlier run {msg.run}; runs: "
                           f"{[r for r, _ in self.past]}", field="run")
                return
            b, of = h.active, {"run": msg.run}
        else:
            assert msg.branch is not None
            found = self.history.branches.get(msg.branch)
            if found is None:
                self.error("invalid", f"no branch {msg.branch}; branches: "
                           f"{sorted(self.history.branches)}", field="branch")
                return
            b, of = found, {"branch": msg.branch}
        self.put(self._compares.get(b.metrics, of), key="compare")

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
                # the mechanisms each layer has, layer 1 first (the network view draws them)
                "norm": [ls.norm for ls in spec.layers],
                "dropout": [ls.dropout for ls in spec.layers],
                "residual": [ls.residual for ls in spec.layers],
            },
            data={
                "p_train": d.p_train, "t_train": d.t_train,
                "p_test": d.p_test, "t_test": d.t_test,
            },
            params={k: v for k, v in st.net.params.items()},
            state=self.state(),
            runs=[{"id": rid, "iterations": h.head[0],  # (the settings where it was left)
                   "settings": h.settings_now().model_dump(mode="json")}
                  for rid, h in self.past],
            unknown_session=self.unknown_session,
        )

    def _send_run(self) -> None:
        """Everything a page needs to draw the run as it is: ``run``, ``state``, the
        timeline and the frames of the point it is at, the views, the metrics."""
        self._trace = []  # (the whole series follows, those points included)
        self.put(self.run_message(), key="run")
        self._send_state()
        self.views.on_new_run(self.stepper)
        h = self.history
        records: list[PhaseRecord] = []
        if h.pos > (0, 0):
            try:
                records = h.seek(h.pos)
            except NonFiniteError:
                records = []
        Timeline.send(self, params=True)  # first: the weights the frames were computed with
        self._show(records)
        self._put_state()
        self.flush_views()
        if len(self.history.active.metrics):  # the run cleared the page's charts
            self.put(self.series_message(), key="metrics")
        if self.coach.shown():  # (and the coach's notes)
            self.put(self.coach.message(), key="coach")
        if self.audience.code is not None:
            self.send_share()
