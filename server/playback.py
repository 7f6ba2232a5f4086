"""The playback commands of a session: seek, step back, set, checkout, load.

:mod:`server.history` keeps the run's past; this module turns the client's
playback messages into history calls and history into messages:

* ``seek`` / ``step`` with ``direction: "back"`` — replay to a past point and
  send the frames of the iteration shown there, then ``state`` and ``timeline``;
* ``set`` — change settings now; before the end of the run this starts a
  branch, and the page gets the new branch's ``run``, ``metrics`` and frames;
* ``checkout`` — switch branch (same messages);
* ``load`` — open a saved run (:mod:`server.runfile`), every branch of it, and
  index them in the background (the one the learner was on first).

The ``timeline`` message (length, position, markers, branches) is put on the
outbox under its own key, so a slow reader only ever gets the latest one, and
re-sent at most :data:`TIMELINE_HZ` times a second while a run is playing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from engine.stepper import PHASES, NonFiniteError, PhaseRecord, Stepper
from server.history import History, HistoryError, Pos
from server.protocol import Changes, Checkout, Load, Seek, Set, server_message
from server.runfile import RunFileError, branches_from_file

if TYPE_CHECKING:
    from server.session import Session

log = logging.getLogger("backprop_lab.playback")

TIMELINE_HZ = 2.0
INDEX_SLICE = 64  # iterations a loaded run's indexer runs between yields (a few ms)
INDEX_PAUSE_S = 0.002  # and the pause it leaves other sessions after each slice
METRICS_ON_SWITCH = 2_000  # points sent when the page switches to another branch


def new_history(session: Session, stepper: Stepper) -> History:
    """A fresh history for ``session``'s new run (budget from ``max_history_mb``)."""
    return History(stepper, session.config, budget_bytes=history_budget(session))


def history_budget(session: Session) -> int:
    """Bytes the session's history may hold in all: ``max_history_mb`` (checkpoints
    get what the metrics and logs of its branches leave)."""
    return int(session.settings.max_history_mb * 2**20)


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


def handle(session: Session, msg: Any) -> None:
    """Apply a ``seek``, ``set``, ``checkout`` or ``load`` message."""
    h = session.history
    try:
        if isinstance(msg, Seek):
            _go(session, seek_position(msg.iteration, msg.phase))
        elif isinstance(msg, Set):
            _set(session, Changes.model_validate(
                msg.model_dump(exclude={"type"}, exclude_none=True)))
        elif isinstance(msg, Checkout):
            h.checkout(msg.branch)
            _switched(session)
        elif isinstance(msg, Load):
            _load(session, msg)
    except HistoryError as e:
        session.error("invalid", str(e))
    except RunFileError as e:
        session.error("invalid", str(e), field=e.field)
    except NonFiniteError as e:
        session.playing = False
        session.error("nonfinite", str(e), phase=e.phase, where=e.where,
                      iteration=e.iteration)
        send_state_and_timeline(session)


def step_back(session: Session, unit: str) -> None:
    """``step`` with ``direction: "back"``: pause and go back one phase or iteration."""
    session.playing = False
    _go(session, back_position(session.history.pos, unit))


def _go(session: Session, pos: Pos) -> None:
    records = session.history.seek(pos)
    session.config = session.history.settings_now()
    send_timeline(session, params=True)  # first: the weights the frames were computed with
    show(session, records)
    session.put(session.state(), key="state")


def _set(session: Session, changes: Changes) -> None:
    limit = session.settings.max_batch
    if changes.batch_size is not None and changes.batch_size > limit:
        session.error("limit", f"batch size {changes.batch_size} exceeds max_batch={limit}",
                      limit="max_batch")
        return
    try:
        branch = session.history.set(changes)
    except ValueError as e:
        if isinstance(e, HistoryError):
            raise
        session.error("invalid", str(e))
        return
    session.config = session.history.settings_now()
    if branch is not None:
        _switched(session)
    else:
        send_state_and_timeline(session)


def record_edit(session: Session, data: dict[str, Any]) -> None:
    """A weight was set by hand at the current position: log it (maybe branching)."""
    try:
        branch = session.history.record("edit", data)
    except HistoryError as e:
        session.error("limit", str(e), limit="history_commands")
        return
    if branch is not None:
        _switched(session)
    session.history.changed = True


def _switched(session: Session) -> None:
    """The active branch changed: redraw the page for it (``run``, with the frames
    and timeline of :func:`on_attach`, then the branch's ``metrics``)."""
    session.config = session.history.settings_now()
    session.send_run()  # with the branch's metrics series


def _load(session: Session, msg: Load) -> None:
    from server.session import LimitError, check_limits, run_config

    run = msg.run
    try:
        check_limits(run.settings, session.settings)
    except LimitError as e:
        session.error("limit", str(e), limit=e.limit)
        return
    stepper = Stepper(run_config(run.settings))
    saved, current = branches_from_file(run, stepper, session.settings.max_batch)
    history = History.from_branches(stepper, run.settings, saved, current,
                                    budget_bytes=history_budget(session))
    if history.needs_indexing():
        history.start_indexing(Stepper(run_config(run.settings)))
    session.replace_run(run.settings, stepper, history)
    if history.indexer is not None:
        _spawn_indexer(session, history)
    log.info("run loaded", extra={"session": session.id, "iterations": history.head[0],
                                  "branches": len(saved),
                                  "commands": sum(len(b.commands) for b in saved)})


def copy_run(session: Session, source: Session) -> None:
    """Make ``session``'s run a copy of ``source``'s as it is now (a follower's own
    copy, :meth:`History.copy_of`), with the inspected element and focused point."""
    from server.session import run_config

    cfg = source.history.base
    history = History.copy_of(source.history, Stepper(run_config(cfg)),
                              Stepper(run_config(cfg)), budget_bytes=history_budget(session))
    session.replace_run(cfg, history.stepper, history)
    session.config = history.settings_now()
    session.views.copy_targets(source.views)
    if history.indexer is not None:
        _spawn_indexer(session, history)
    log.info("run copied", extra={"session": session.id, "source": source.id,
                                  "iteration": history.pos[0]})


def _spawn_indexer(session: Session, history: History) -> None:
    """Build a loaded run's checkpoints in slices on the event loop, so a far seek
    soon costs no more than in a run played here; without a loop (direct calls),
    seeks replay from the nearest checkpoint they find."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    history.index_task = loop.create_task(_index(session, history))


async def _index(session: Session, history: History) -> None:
    t0 = time.monotonic()
    while session.history is history and not history.index_some(INDEX_SLICE):
        history.changed = True  # the timeline shows how far seeks reach
        maybe_send_timeline(session)
        await asyncio.sleep(INDEX_PAUSE_S)
    if session.history is history:
        send_timeline(session)
    log.info("loaded run indexed", extra={"session": session.id,
                                          "seconds": round(time.monotonic() - t0, 2)})


# ---- messages ------------------------------------------------------------------------


def show(session: Session, records: list[PhaseRecord]) -> None:
    """Send the frames of the iteration now shown (after a seek or a switch)."""
    for rec in records:
        session.put(session.frame_message(rec), droppable=True)
    views = getattr(session, "views", None)
    if views is not None:
        views.show(records)


def timeline_message(session: Session, params: bool = False) -> dict[str, Any]:
    """The ``timeline`` message for ``session``'s run; with ``params`` it also carries
    the weights in use at the position (after a jump, the page's are another point's)."""
    h = session.history
    s = h.settings_now()
    body = h.timeline()
    body["settings"] = {
        "lr": s.lr, "optimizer": s.optimizer.model_dump(mode="json", exclude_none=True),
        "schedule": s.schedule.model_dump(mode="json"), "clip_norm": s.clip_norm,
        "clip_value": s.clip_value, "l1": s.l1, "l2": s.l2, "batch_size": s.batch_size,
    }
    body["max_speed"] = session.settings.max_speed  # "as fast as it goes"
    if params:
        body["params"] = dict(session.stepper.net.params)
    return server_message("timeline", **body)


def send_timeline(session: Session, params: bool = False) -> None:
    """Queue the ``timeline`` message now (replacing a pending one)."""
    h = session.history
    h.changed = False
    h.sent_at = time.monotonic()
    h.sent_length = h.head[0]
    session.put(timeline_message(session, params), key="timeline")


def maybe_send_timeline(session: Session) -> None:
    """Re-send the timeline if it changed or the run grew: at once after a step
    (commands are rate-limited already), at most TIMELINE_HZ a second while playing
    (the clock's ticks bring the last change along)."""
    h = session.history
    if not (h.changed or h.head[0] != h.sent_length):
        return
    if not session.playing or time.monotonic() - h.sent_at >= 1.0 / TIMELINE_HZ:
        send_timeline(session)


def send_state_and_timeline(session: Session, params: bool = False) -> None:
    """``state`` then ``timeline``, both now."""
    session.put(session.state(), key="state")
    send_timeline(session, params)


def on_attach(session: Session) -> None:
    """A page (re)connected: send the timeline and the frames of the point it was at."""
    h = session.history
    records: list[PhaseRecord] = []
    if h.pos > (0, 0):
        try:
            records = h.seek(h.pos)
        except NonFiniteError:
            records = []
    send_timeline(session, params=True)  # first: the weights the frames were computed with
    show(session, records)
    session.put(session.state(), key="state")
