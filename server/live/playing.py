"""How a playing run moves on the shared clock's ticks, and what each move queues.

:class:`Playing` holds :class:`~server.live.session.Session`'s side of play: the
clock (:mod:`server.live.clock`) calls :meth:`Playing.tick` for every playing
session with the real time elapsed. At ≤ :data:`PHASE_BY_PHASE_MAX` iterations a
second a tick runs the phases due, one full frame each, spread in time; faster,
whole iterations run on the engine's fast path (or come ready from the runs of the
same shape computed together, :mod:`engine.stacked`) and the latest one's compact
frames go out as one bundle within the run's stream budget. Each played iteration
also feeds the charts: a metrics point when due (spaced in a crowd so that all
sessions' points share about :data:`~server.live.views.CROWD_SHARE` of a core), the
trace points between them, and the counters' ``state`` now and then.

It is a mixin with no state of its own: what it reads and sets lives on the session
(declared below for the type checker), so a session's tick stays one object's
attribute lookups (the hot path: about 200 sessions × 30 ticks a second a core).
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

from engine import metrics
from engine.stacked import Fast
from engine.stepper import NonFiniteError, PhaseRecord, Stepper, TrainStats
from server.live.outbox import Entry, Outbox
from server.live.sharing import Audience
from server.live.traces import TraceSampler
from server.live.traces import due as _due
from server.live.views import CROWD_SHARE, SessionViews
from server.run.compact import compact_iteration, pack_fast, pack_parts
from server.run.cost import JSON_BYTES_PER_VALUE
from server.run.history import History
from server.run.series import metrics_point
from server.settings import Settings

if TYPE_CHECKING:
    from server.live.coach import Coach
    from server.live.lessons import LessonDesk

#: at most this many iterations a second play phase by phase (four full frames an
#: iteration); faster play runs whole iterations and sends compact frames
PHASE_BY_PHASE_MAX = 4.0
#: in a lesson step that plays to a goal, fast play gives each played iteration up to
#: this one a metrics point (the train and test sets evaluated), the spacing of
#: ``metrics_hz`` only after: a run's first iterations are where its losses move most,
#: and a best test loss there (overfitting's, at about iteration 10) is then charted
#: where it was, not where the spacing fell (step 1 at 100 it/s marked iteration 22
#: where step 4 at 10 it/s finds 9). A crowd's spacing still applies
DENSE_START = 50


class Playing:
    """A session's play on the clock (mixed into :class:`~server.live.session.Session`,
    which holds the state named here)."""

    settings: Settings
    stepper: Stepper
    history: History
    views: SessionViews
    coach: Coach
    lessons: LessonDesk
    outbox: Outbox | None
    audience: Audience
    playing: bool
    speed: float
    busy: bool
    crowd: int
    _stop_after: int | None
    _credit: float
    _iter_cost: float
    _stream_tokens: float
    _stream_at: float
    _frames_held: bool
    _state_due: int
    _state_epoch: int
    _metrics_due: int
    _metrics_cost: float
    _loss_peak: float
    _tracer: TraceSampler
    _trace: list[dict[str, Any]]

    if TYPE_CHECKING:  # (the session's own)
        def put(self, msg: Entry, **kw: Any) -> None: ...

        def error(self, code: str, message: str, **extra: Any) -> None: ...

        def flush_views(self, now: float | None = None) -> None: ...

        def _frame(self, rec: PhaseRecord, compact: bool = False) -> dict[str, Any]: ...

        def _send_state(self) -> None: ...

        def _put_state(self) -> None: ...

        def _put_points(self, points: list[dict[str, Any]]) -> None: ...

        def _show(self, records: list[PhaseRecord]) -> None: ...

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
            self._frames_held = False
        else:
            self._frames_held = True
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
                self._frames_held = not self._stream_allows(parts.numbers)  # (before any copy)
                if not self._frames_held:
                    self.put(parts.frames(recs[0].iteration, recs[0].values.get("batch", ())),
                             droppable=True, key="frames")
                return
        values = compact_iteration([(r.phase, r.values) for r in recs])
        self._frames_held = not self._stream_allows(sum(v.numbers for v in values))
        if self._frames_held:
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

    def _show_held(self) -> None:
        """Stopped between two iterations of fast play whose last frames the stream budget
        held back (a large network at speed): the frames of the iteration the run stopped
        at, so the page shows that one. The counters come from the ``state``, the banner
        and the network from the frames: the banner said "Iteration 1499" over Numbers
        and a lesson saying the run stopped at 1500. Computed again where the run is (as a
        seek there would)."""
        if not self._frames_held or self.playing or self.stepper.phase_index != 0:
            return
        self._frames_held = False
        self._show(self.history.seek(self.history.pos))

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
        ``speed / metrics_hz`` iterations, as evaluating the train and test sets is most
        of a small iteration's cost (in a lesson's play, every played iteration up to
        :data:`DENSE_START` first). Counting iterations, not seconds, keeps the
        share the same when an overloaded server plays runs slower than asked. A crowded
        server spaces them further, so all sessions' points share about
        ``views.CROWD_SHARE`` of a core: every ``crowd × cost × speed / share`` iterations."""
        if not self.playing or self.speed <= PHASE_BY_PHASE_MAX:
            return True
        if self.lessons.watch is not None and self.lessons.goal_due():
            return True  # (the point where a lesson's play goal stops the run)
        it = self.stepper.iteration
        pace = (1 if it <= DENSE_START and self.lessons.watch is not None
                else round(self.speed / self.settings.metrics_hz))
        every = max(1, pace,
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
        if self.lessons.watch is not None:  # (a lesson's play stops exactly at its goal)
            k = self.lessons.stop_within(k)
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

    def _queue_metrics(self, update_values: dict[str, Any]) -> None:
        # engine.metrics: losses and accuracies, the batch's loss plus, per layer (lists,
        # layer 1 first), gnorm ‖∂L/∂W‖, wnorm ‖W‖, update_ratio ‖ΔW‖/‖W‖, dead and
        # saturated fractions; with the trace points waiting to go
        # (the engine thread's CPU time: the crowd's share is a share of a core, and a
        # moment the machine gave to another process is not this point's cost; timed on
        # the wall, one preemption spaced a lesson's dense first points 40 apart)
        t0 = time.thread_time()
        m = metrics.collect(self.stepper)
        point = metrics_point(m, update_values.get("lr", m["lr"]))
        self.history.record_metrics(point)
        self._put_points([point])
        self.coach.after_metrics(point, loss_peak=self._loss_peak)
        self._loss_peak = -math.inf
        self._metrics_cost = time.thread_time() - t0  # (the point and the coach's rules)
        if self.lessons.after_metrics(m):  # the open lesson step's goal: stop there
            self.playing = False
            self._show_held()
            self._put_state()
