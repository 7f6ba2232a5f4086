"""One learner's session: a run of the engine, its play state and its outgoing messages.

The session turns client commands into engine calls and engine records into
messages on its :class:`~server.live.outbox.Outbox`. It never touches the socket
and never sleeps: the shared :class:`~server.live.clock.Clock` calls :meth:`tick`
for every playing session; how a tick moves the run (phase by phase when slow,
whole iterations on the fast path when fast) and what it queues is
:class:`server.live.playing.Playing`'s, mixed in.

About 670 lines, because the session is where commands, a class following the
run and the messages that redraw a page meet; what can live apart does: play on
the clock (:mod:`server.live.playing`), class sharing (:mod:`server.live.sharing`),
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

from engine.stepper import NonFiniteError, PhaseRecord, Stepper
from server.live import memory, playback
from server.live.coach import Coach
from server.live.lessons import LessonDesk
from server.live.outbox import Entry, Outbox, Shared
from server.live.playback import Changed, Halted, NewRun, Outcome, Shown, Switched, Timeline
from server.live.playing import PHASE_BY_PHASE_MAX, Playing
from server.live.sharing import Audience, Follower
from server.live.traces import NEVER, CompareCache, TraceSampler, series_message
from server.live.views import Pacing, SessionViews
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
from server.run.compact import compact_values
from server.run.drawing import DrawingError, check_learn
from server.run.history import History, HistoryError, drain
from server.run.runconfig import (
    LimitError,
    checked_stepper,
    csv_settings,
    own_table_kept,
    run_config,
)
from server.run.series import start_numbers
from server.settings import Settings

log = logging.getLogger("backprop_lab.session")
T = TypeVar("T")

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


class Session(Playing):
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
        #: whether the stream budget held back the frames of the last iteration played
        self._frames_held = False
        self._state_due = NEVER  # iteration of the last state message in fast play
        self._state_epoch = 0  # the epoch the last state message said
        self.outbox: Outbox | None = None
        self.created = time.monotonic()
        self.last_active = self.created
        self.detached_at: float | None = None
        self._metrics_due = NEVER  # iteration of the last metrics point in fast play
        self._tracer = TraceSampler()  # fast play's trace points (server.live.traces)
        self._trace: list[dict[str, Any]] = []  # trace points not sent yet (go with a state)
        #: the start numbers last evaluated: (the history, its branch, commands and phase)
        self._start: tuple[weakref.ref[History], tuple[int, int, int],
                           dict[str, float | None]] | None = None
        self._metrics_cost = 0.0  # CPU seconds per metrics point (last measured)
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
        # a lesson open: the class's pages show its step (and its result, once revealed)
        welcome += [(msg, {}) for msg in self.lessons.welcome()]
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
        self.lessons.class_over()
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
            self._show_held()
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
        return [self.history, *(h for _, h in self.past), *self.lessons.kept()]

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

    # ---- messages -------------------------------------------------------------------

    def _frame(self, rec: PhaseRecord, compact: bool = False) -> dict[str, Any]:
        """A ``frame`` of ``rec``: all its values, or (``compact``, fast play) what
        the page shows of them (:func:`server.run.compact.compact_values`)."""
        values = compact_values(rec.phase, rec.values) if compact else rec.values
        return server_message("frame", phase=rec.phase, iteration=rec.iteration,
                              compact=compact, values=values)

    def state(self) -> dict[str, Any]:
        """The play state as a ``state`` message; at iteration 0, with ``start``: the
        train and test loss and accuracy of the weights in use, before any update (a
        fresh run's numbers, where no metrics point is yet)."""
        st = self.stepper
        msg = server_message(
            "state", playing=self.playing, speed=self.speed, iteration=st.iteration,
            epoch=st.epoch, next_phase=st.next_phase,
            halted=None if st.halted is None else str(st.halted),
        )
        if st.iteration == 0 and st.halted is None:
            msg["start"] = self._start_numbers()
        return msg

    def _start_numbers(self) -> dict[str, float | None]:
        """:func:`~server.run.series.start_numbers` of the weights in use at iteration 0,
        kept while they stay the same (the same run, branch and commands: an edit is
        one): a run's first ``state`` and ``run``, and each student joining at the start,
        evaluate the data once."""
        h = self.history
        key = (h.active.id, len(h.active.commands), self.stepper.phase_index)
        kept = self._start
        if kept is None or kept[0]() is not h or kept[1] != key:
            kept = self._start = (weakref.ref(h), key, start_numbers(self.stepper))
        return kept[2]

    def _send_state(self) -> None:
        if self._trace:  # the trace goes out with the counters (metrics_hz), not every tick
            self._put_points([])
        self._put_state()
        Timeline.maybe_send(self)

    def _put_state(self) -> None:
        self._state_epoch = self.stepper.epoch
        self.put(self.state(), key="state")

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
