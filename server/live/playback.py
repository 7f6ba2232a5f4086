"""The playback commands of a session: seek, step back, set, checkout, load, copy.

:mod:`server.run.history` keeps the run's past; this module turns the client's
playback messages into history calls, and tells the session what to redraw:

* ``seek`` / ``step`` with ``direction: "back"`` — replay to a past point:
  :class:`Shown` (the records of the iteration shown there);
* ``set`` — change settings now: :class:`Changed`, or, before the end of the
  run, a new branch: :class:`Switched` (the page gets the branch's ``run``);
* ``checkout`` — switch branch: :class:`Switched`;
* ``load`` — open a saved run (:mod:`server.run.runfile`), every branch of it:
  :class:`NewRun`, indexed in the background (:func:`spawn_indexer`).

It never holds the session: it gets the history, the settings and a
:class:`Port` to report errors on, and returns an outcome the session acts on.

The ``timeline`` message (length, position, markers, branches) is put on the
outbox under its own key, so a slow reader only ever gets the latest one, and
re-sent at most :data:`TIMELINE_HZ` times a second while a run is playing
(:class:`Timeline`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator, Hashable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from engine.stepper import PHASES, NonFiniteError, PhaseRecord, Stepper
from server.protocol import Changes, Checkout, Load, RunSettings, Seek, Set, server_message
from server.run.cost import estimate
from server.run.history import History, HistoryError, Pos, drain
from server.run.runconfig import LimitError, check_cost, checked_stepper, run_config
from server.run.runfile import RunFileError, branches_from_file, run_file
from server.settings import Settings

log = logging.getLogger("backprop_lab.playback")

TIMELINE_HZ = 2.0
INDEX_PIECE_S = 0.005  # work of one piece of a loaded run's indexing (then others' turns)
INDEX_SLICE_MAX = 256  # iterations in one piece, at most
METRICS_ON_SWITCH = 2_000  # points sent when the page switches to another branch


class Port(Protocol):
    """What playback may do to the session: report an error."""

    def error(self, code: str, message: str, **extra: Any) -> None:
        """Queue an ``error`` message; the session carries on."""


@dataclass(frozen=True)
class Shown:
    """Playback moved: show these records (the iteration at the new position)."""

    records: list[PhaseRecord]


@dataclass(frozen=True)
class Changed:
    """Settings changed at the head: re-send the state and the timeline."""


@dataclass(frozen=True)
class Switched:
    """The active branch changed: redraw the whole run."""


@dataclass(frozen=True)
class NewRun:
    """A saved or copied run replaces the session's run."""

    settings: RunSettings
    history: History


@dataclass(frozen=True)
class Halted:
    """Replaying met a non-finite value (reported): re-send the state and timeline."""


Outcome = Shown | Changed | Switched | NewRun | Halted | None


def new_history(settings: Settings, cfg: RunSettings, stepper: Stepper) -> History:
    """A fresh history for a new run (budget from ``max_history_mb``)."""
    return History(stepper, cfg, budget_bytes=history_budget(settings))


def history_budget(settings: Settings) -> int:
    """Bytes a session's history may hold in all: ``max_history_mb`` (checkpoints
    get what the metrics and logs of its branches leave)."""
    return int(settings.max_history_mb * 2**20)


def seek_position(iteration: int, phase: str | None) -> Pos:
    """The position shown by ``seek {iteration, phase}``: after ``phase`` of
    ``iteration`` ran (``phase`` null: after ``iteration`` whole iterations)."""
    if phase is None:
        return (iteration, 0)
    p = PHASES.index(phase) + 1
    return (iteration + 1, 0) if p == 4 else (iteration, p)


def back_position(pos: Pos, unit: str) -> Pos:
    """One phase back, or back to the previous iteration boundary."""
    it, p = pos
    if unit == "phase":
        if p > 0:
            return (it, p - 1)
        return (it - 1, 3) if it > 0 else (0, 0)
    if p > 0:
        return (it, 0)
    return (max(it - 1, 0), 0)


# ---- commands ------------------------------------------------------------------------


def handle(history: History, msg: Seek | Set | Checkout | Load, settings: Settings,
           port: Port) -> Outcome:
    """Apply a ``seek``, ``set``, ``checkout`` or ``load`` message at once."""
    return drain(handle_pieces(history, msg, settings, port))


def handle_pieces(history: History, msg: Seek | Set | Checkout | Load, settings: Settings,
                  port: Port) -> Generator[None, None, Outcome]:
    """Apply a ``seek``, ``set``, ``checkout`` or ``load`` message, a piece of replay at
    a time (a yield between pieces); errors go to ``port``."""
    try:
        if isinstance(msg, Seek):
            pos = seek_position(msg.iteration, msg.phase)
            return Shown((yield from history.seek_pieces(pos)))
        if isinstance(msg, Set):
            return _set(history, Changes.model_validate(
                msg.model_dump(exclude={"type"}, exclude_none=True)), settings, port)
        if isinstance(msg, Checkout):
            yield from history.checkout_pieces(msg.branch)
            return Switched()
        return (yield from _load(msg, settings, port))
    except HistoryError as e:
        port.error("invalid", str(e))
    except RunFileError as e:
        port.error("invalid", str(e), field=e.field)
    except NonFiniteError as e:
        port.error("nonfinite", str(e), phase=e.phase, where=e.where, iteration=e.iteration)
        return Halted()
    return None


def step_back_pieces(history: History, unit: str) -> Generator[None, None, Outcome]:
    """``step`` with ``direction: "back"``: go back one phase or iteration."""
    try:
        return Shown((yield from history.seek_pieces(back_position(history.pos, unit))))
    except NonFiniteError:
        return Halted()


def _set(history: History, changes: Changes, settings: Settings, port: Port) -> Outcome:
    if changes.batch_size is not None:
        st = history.stepper
        rows = changes.batch_size or len(st.data.x_train)  # 0: the whole training set
        try:
            check_cost(estimate(st).with_batch(rows), settings)
        except LimitError as e:
            port.error("limit", str(e), limit=e.limit)
            return None
    try:
        branch = history.set(changes)
    except ValueError as e:
        if isinstance(e, HistoryError):
            raise
        port.error("invalid", str(e))
        return None
    return Changed() if branch is None else Switched()


def record_edit(history: History, data: dict[str, Any], port: Port) -> Outcome:
    """A weight was set by hand at the current position: log it (maybe branching)."""
    try:
        branch = history.record("edit", data)
    except HistoryError as e:
        port.error("limit", str(e), limit="history_commands")
        return None
    history.changed = True
    return None if branch is None else Switched()


def _load(msg: Load, settings: Settings, port: Port) -> Generator[None, None, Outcome]:
    run = msg.run
    try:
        stepper = checked_stepper(run.settings, settings)
    except LimitError as e:
        port.error("limit", str(e), limit=e.limit)
        return None
    saved, current = branches_from_file(run, stepper, settings.max_batch)
    cost = estimate(stepper)
    iterations = sum(b.head[0] for b in saved)
    seconds = cost.replay_s(iterations)
    if seconds > settings.max_load_cpu_s:
        port.error("limit", f"this run's {iterations} iterations take about {seconds:.0f} s "
                   f"to replay; the server allows {settings.max_load_cpu_s:g} s "
                   "(max_load_cpu_s)", limit="max_load_cpu_s")
        return None
    history = History.from_branches(stepper, run.settings, saved, current,
                                    budget_bytes=history_budget(settings))
    log.info("run loaded", extra={"iterations": history.head[0], "branches": len(saved),
                                  "commands": sum(len(b.commands) for b in saved)})
    p = run.position
    at = None if p is None else history.clamp((p.iteration, PHASES.index(p.phase)))
    if at is not None and at > (0, 0):
        # open where the learner was: replayed exactly, a piece at a time (checkpoints
        # are taken on the way, so the indexing that follows starts from there)
        try:
            yield from history.seek_pieces(at, record=True)
        except NonFiniteError:
            log.info("a loaded run stopped before its position", extra={"iteration": at[0]})
    return NewRun(run.settings, history)


def copy_history(source: History, settings: Settings) -> Generator[None, None, History]:
    """A copy of ``source`` as it is now, for another session (a follower's own copy,
    :meth:`History.copy_of`): every branch, the same numbers, at ``source``'s
    position (reached a piece of replay at a time)."""
    cfg = source.base
    h = History.copy_of(source, Stepper(run_config(cfg)), Stepper(run_config(cfg)),
                        budget_bytes=history_budget(settings))
    try:
        yield from h.seek_pieces(source.pos)
    except NonFiniteError:  # pragma: no cover - the source got there without one
        log.info("copy stopped before a non-finite value", extra={"iteration": source.pos[0]})
    return h


# ---- indexing a loaded run -------------------------------------------------------------


class TimelinePort(Protocol):
    """What the timeline and the indexer need of the session: its current history,
    whether it plays, the speed limit the page shows, and a way to send."""

    @property
    def history(self) -> History:
        """The session's current history (the indexer stops when it is another)."""

    @property
    def playing(self) -> bool:
        """Whether the run is playing (timelines are then paced)."""

    @property
    def max_speed(self) -> float:
        """The fastest play the server allows (the page's "as fast as it goes")."""

    def put(self, msg: Any, **kw: Any) -> None:
        """Queue a message for the page (and a class following the run)."""

    def indexed(self) -> None:
        """The run's indexing is done: its charts can be sent whole."""


class Scheduler(Protocol):
    """Where background work runs (the engine thread, :class:`server.live.worker.Worker`)."""

    def submit(self, owner: Hashable, job: Callable[[], Any]) -> None:
        """Run ``job`` in ``owner``'s turns; a generator job runs a piece per turn."""

    def cancel(self, owner: Hashable) -> None:
        """Drop ``owner``'s queued work."""


def spawn_indexer(port: TimelinePort, history: History, scheduler: Scheduler | None,
                  owner: Hashable) -> None:
    """Build a loaded run's checkpoints in pieces on the engine thread, in turn with
    every other session's work, so a far seek soon costs no more than in a run played
    here; without a scheduler (direct calls), seeks replay from the nearest checkpoint
    they find."""
    if history.indexer is None or scheduler is None:
        return
    scheduler.cancel(owner)  # a previous run's indexing
    scheduler.submit(owner, lambda: index_pieces(port, history))


def index_pieces(port: TimelinePort, history: History) -> Iterator[None]:
    """Index ``history`` a piece at a time (each about :data:`INDEX_PIECE_S` of work,
    sized from the last piece's time per iteration), until done or the session has
    another run."""
    t0 = time.monotonic()
    n = 1
    while port.history is history:
        t = time.perf_counter()
        before = history.indexer.pos[0] if history.indexer is not None else 0
        done = history.index_some(n)
        dt = time.perf_counter() - t
        ran = (history.indexer.pos[0] if history.indexer is not None else before) - before
        if ran > 0:
            per = dt / ran
            n = max(1, min(INDEX_SLICE_MAX, int(INDEX_PIECE_S / max(per, 1e-7))))
        if done:
            Timeline.send(port)
            port.indexed()
            log.info("loaded run indexed", extra={"seconds": round(time.monotonic() - t0, 2)})
            return
        history.changed = True  # the timeline shows how far seeks reach
        Timeline.maybe_send(port)
        yield


# ---- the timeline message --------------------------------------------------------------


def timeline_message(history: History, max_speed: float, params: bool = False
                     ) -> dict[str, Any]:
    """The ``timeline`` message for ``history``'s run; with ``params`` it also carries
    the weights in use at the position (after a jump, the page's are another point's)."""
    s = history.settings_now()
    body = history.timeline()
    body["settings"] = {
        "lr": s.lr, "optimizer": s.optimizer.model_dump(mode="json", exclude_none=True),
        "schedule": s.schedule.model_dump(mode="json"), "clip_norm": s.clip_norm,
        "clip_value": s.clip_value, "l1": s.l1, "l2": s.l2, "batch_size": s.batch_size,
    }
    body["max_speed"] = max_speed  # "as fast as it goes"
    if params:
        body["params"] = dict(history.stepper.net.params)
    return server_message("timeline", **body)


def keep_params(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """A timeline replacing a pending one keeps the weights that one carried (the
    weights in use after a jump must reach the page even if a later timeline, of the
    indexer or of play, supersedes it before it is sent)."""
    if "params" in old and "params" not in new:
        return {**new, "params": old["params"]}
    return new


class Timeline:
    """Sending a history's ``timeline`` message, paced while a run plays."""

    @staticmethod
    def send(port: TimelinePort, params: bool = False) -> None:
        """Queue the ``timeline`` message now (replacing a pending one)."""
        h = port.history
        h.changed = False
        h.sent_at = time.monotonic()
        h.sent_length = h.head[0]
        h.sent_pos = h.pos
        port.put(timeline_message(h, port.max_speed, params), key="timeline",
                 merge=keep_params)
        # with it, what the page keeps to restore the run if the server loses it
        port.put(server_message("save", run=run_file(h, metrics=False)), key="save")

    @staticmethod
    def maybe_send(port: TimelinePort) -> None:
        """Re-send the timeline if it changed, the run grew or the position moved (the
        page's copy, ``save``, goes with it): at once after a step
        (commands are rate-limited already), at most TIMELINE_HZ a second while
        playing (the clock's ticks bring the last change along)."""
        h = port.history
        if not (h.changed or h.head[0] != h.sent_length or h.pos != h.sent_pos):
            return
        if not port.playing or time.monotonic() - h.sent_at >= 1.0 / TIMELINE_HZ:
            Timeline.send(port)
