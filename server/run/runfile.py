"""Saved runs and CSV exports.

A run file is small JSON that replays bit-identically: the format and its
version, the settings (seed included) and every branch of the run: its id, its
parent and the point it forked at, its command log (each ``set``, ``edit`` or
``learn`` with the position it applied at; the commands shared with the parent are
counted by ``base``, not repeated) and its length; ``branch`` is the one the
learner was on. Version 1 files (one branch: ``commands`` and ``length`` at the
top) still load. A file also holds the current branch's sampled metrics for
people and spreadsheets; a loaded run ignores them and recomputes its own, so
every number the page shows still comes from the engine. No frames are stored:
replay recomputes them.

CSV exports: the metrics (one row per sampled iteration) and the weights at
the current point (one row per entry: ``id, row, col, value``; a bias has an
empty ``col``).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Generator, Iterable, Iterator
from typing import Any

from engine.stepper import PHASES, Stepper
from server.protocol import RunCommand, RunFile
from server.run.branch import Command, Pos, SavedBranch, shared_commands
from server.run.drawing import DrawingError, check_learn
from server.run.history import MAX_COMMANDS, History
from server.run.series import METRIC_COLUMNS

FORMAT = "backprop-lab-run"
VERSION = 2
FILE_METRIC_POINTS = 2_000
MAX_LOAD_ITERATIONS = 1_000_000  # a loaded run is re-trained to index it: bound the work


class RunFileError(ValueError):
    """A run file is not valid for this server; ``field`` names the part."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def _pos(p: Pos) -> dict[str, Any]:
    return {"iteration": p[0], "phase": PHASES[p[1]]}


def run_file(history: History, metrics: bool = True) -> dict[str, Any]:
    """Every branch of ``history`` as a run file (a JSON-ready dict): where each branch
    was left (``cursor``), where the learner is (``position``) and, with ``metrics``,
    the active branch's metrics (for people and spreadsheets)."""
    branches = []
    for b in sorted(history.branches.values(), key=lambda b: b.id):
        parent = history.branches.get(b.parent) if b.parent is not None else None
        base = 0 if parent is None else shared_commands(parent.commands, b.commands)
        branches.append({
            "id": b.id, "parent": b.parent,
            "fork": {"iteration": b.fork[0], "phase": PHASES[b.fork[1]]},
            "base": base,
            "commands": [c.wire() for c in b.commands[base:]],
            "length": b.head[0],
            "end_phase": PHASES[b.head[1]],
            "cursor": _pos(history.pos if b is history.active else b.cursor),
        })
    out: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "settings": history.base.model_dump(mode="json"),
        "branch": history.active.id,
        "branches": branches,
        "position": _pos(history.pos),
    }
    if metrics:
        pts = history.active.metrics.points(FILE_METRIC_POINTS)
        out["metrics"] = {c: [p[c] for p in pts] for c in METRIC_COLUMNS}
    return out


def _commands(cmds: tuple[RunCommand, ...], start: Pos, head: Pos, stepper: Stepper,
              max_batch: int, where: str, fork: bool = False) -> list[Command]:
    """Validated commands at positions from ``start`` (a branch's ``fork``, or the
    run's beginning) to ``head``, in order: edits name an existing parameter entry,
    batch sizes are within ``max_batch``, drawings fit the run's data and classes."""
    out: list[Command] = []
    prev = start
    for i, c in enumerate(cmds):
        at = f"{where}.{i}"
        pos = (c.iteration, PHASES.index(c.phase))
        if pos < prev:
            if fork and prev == start:
                raise RunFileError(f"command at iteration {c.iteration} comes before the "
                                   f"branch's fork at iteration {start[0]}", at)
            raise RunFileError("commands must be in the order they were applied", at)
        if pos > head:
            raise RunFileError(f"command at iteration {c.iteration} is past the run's "
                               f"length {head[0]}", at)
        prev = pos
        if c.set is not None:
            # 0: the whole training set
            rows = c.set.batch_size or len(stepper.data.x_train)
            if c.set.batch_size is not None and rows > max_batch:
                raise RunFileError(f"batch size {rows} exceeds max_batch={max_batch}", at)
            out.append(Command(pos[0], pos[1], "set", c.set))
        elif c.learn is not None:
            if pos[1] != 0:
                raise RunFileError("a drawing is learned between iterations (phase "
                                   "'forward')", at + ".phase")
            try:
                data = check_learn(stepper, c.learn.pixels, c.learn.label)
            except DrawingError as e:
                raise RunFileError(str(e), f"{at}.learn.{e.field}") from None
            out.append(Command(pos[0], pos[1], "learn", data))
        else:
            assert c.edit is not None
            W = stepper.net.params.get(c.edit.id)
            idx = tuple(c.edit.index)
            if W is None:
                raise RunFileError(f"unknown parameter {c.edit.id!r}", at + ".edit.id")
            if len(idx) != W.ndim or any(k >= n for k, n in zip(idx, W.shape, strict=True)):
                raise RunFileError(f"index {list(idx)} is outside {c.edit.id} of shape "
                                   f"{list(W.shape)}", at + ".edit.index")
            out.append(Command(pos[0], pos[1], "edit",
                               {"id": c.edit.id, "index": idx, "value": c.edit.value}))
    return out


def _check_work(work: int, field: str) -> None:
    if work > MAX_LOAD_ITERATIONS:
        raise RunFileError(f"a run of {work} iterations is longer than this server "
                           f"replays ({MAX_LOAD_ITERATIONS})", field)


def commands_from_file(run: RunFile, stepper: Stepper, max_batch: int) -> list[Command]:
    """The validated command log of a version 1 ``run`` for a fresh ``stepper`` of its
    settings (positions in order and within the run, see :func:`branches_from_file`)."""
    _check_work(run.length, "run.length")
    head = (run.length, PHASES.index(run.end_phase))
    return _commands(run.commands, (0, 0), head, stepper, max_batch, "run.commands")


def branches_from_file(run: RunFile, stepper: Stepper,
                       max_batch: int) -> tuple[list[SavedBranch], int]:
    """The validated branches of ``run`` and the id of the one to open, for a fresh
    ``stepper`` of its settings.

    Checks what the schema cannot: each branch's commands in order, within its
    length and (after the ones shared with its parent) from its fork on; a parent
    listed before its children (or absent, when it shared nothing: a branch whose
    parent was dropped keeps its whole log); at most
    :data:`MAX_COMMANDS` changes in all branches together (a ``learn`` counts
    :data:`~server.run.drawing.LEARN_WEIGHT`);
    and the iterations to replay, the parts branches share counted once, within
    :data:`MAX_LOAD_ITERATIONS`.
    """
    if run.version == 1:
        if run.branches is not None or run.branch is not None:
            raise RunFileError("a version 1 run file has one branch: no 'branches'",
                               "run.branches")
        head = (run.length, PHASES.index(run.end_phase))
        return [SavedBranch(0, None, (0, 0), commands_from_file(run, stepper, max_batch),
                            head)], 0
    if run.branches is None:
        raise RunFileError("a version 2 run file lists its branches", "run.branches")
    if run.commands or run.length:
        raise RunFileError("a version 2 run file keeps commands and lengths in its "
                           "branches", "run.commands")
    saved: dict[int, SavedBranch] = {}
    listed = {rb.id for rb in run.branches}
    work = 0
    total = 0
    for i, rb in enumerate(run.branches):
        where = f"run.branches.{i}"
        if rb.id in saved:
            raise RunFileError(f"branch {rb.id} is listed twice", where + ".id")
        if rb.parent is not None and rb.parent not in saved and rb.parent in listed:
            raise RunFileError(f"branch {rb.id}'s parent {rb.parent} must be listed before "
                               "it", where + ".parent")
        head = (rb.length, PHASES.index(rb.end_phase))
        fork = (rb.fork.iteration, PHASES.index(rb.fork.phase))
        if fork > head:
            raise RunFileError(f"branch {rb.id} forks past its length {rb.length}",
                               where + ".fork")
        parent = saved.get(rb.parent) if rb.parent is not None else None
        if parent is None:
            if rb.base:
                raise RunFileError(f"branch {rb.id} shares commands with no branch "
                                   "listed before it", where + ".base")
            shared: list[Command] = []
            start = (0, 0)
            work += rb.length
        else:
            if rb.base > len(parent.commands):
                raise RunFileError(f"branch {rb.parent} has only {len(parent.commands)} "
                                   f"commands to share", where + ".base")
            if fork > parent.head:
                raise RunFileError(f"branch {rb.id} forks past its parent's length",
                                   where + ".fork")
            shared = parent.commands[:rb.base]
            if shared and shared[-1].pos > fork:
                raise RunFileError(f"branch {rb.id} shares commands from after its fork",
                                   where + ".base")
            start = fork
            work += rb.length - fork[0]
        own = _commands(rb.commands, start, head, stepper, max_batch, where + ".commands",
                        fork=parent is not None)
        total += sum(c.weight for c in own)
        if total > MAX_COMMANDS:
            raise RunFileError(f"a run keeps at most {MAX_COMMANDS} changes in all its "
                               "branches", where + ".commands")
        cursor = None if rb.cursor is None else (rb.cursor.iteration,
                                                 PHASES.index(rb.cursor.phase))
        saved[rb.id] = SavedBranch(rb.id, rb.parent, fork, shared + own, head, cursor)
    _check_work(work, "run.branches")
    if run.branch is None or run.branch not in saved:
        raise RunFileError(f"branch {run.branch} is not among the file's branches "
                           f"{sorted(saved)}", "run.branch")
    return list(saved.values()), run.branch


def _num(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and not math.isfinite(v):
        return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
    return repr(v) if isinstance(v, float) else str(v)


#: CSV rows formatted in one piece of work: ~2 ms on this kind of machine, so a big
#: download takes turns with the learners on the engine thread (live/worker.py)
CSV_ROWS_PER_PIECE = 2_000

#: a CSV built in pieces: each ``next()`` formats one piece, the return value is the text
CsvPieces = Generator[None, None, str]


def csv_pieces(header: list[str], rows: Iterable[list[Any]],
               rows_per_piece: int = CSV_ROWS_PER_PIECE) -> CsvPieces:
    """CSV text of ``header`` and ``rows``, formatted ``rows_per_piece`` rows at a time
    (a ``yield`` between pieces); the generator's return value is the whole text."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for n, row in enumerate(rows, 1):
        w.writerow(row)
        if n % rows_per_piece == 0:
            yield
    return buf.getvalue()


def metrics_csv(history: History) -> CsvPieces:
    """The active branch's sampled metrics as CSV (header + one row per point), in
    pieces. The points are taken when the first piece runs; later training does not
    reach the file."""
    points = history.active.metrics.points()
    yield
    return (yield from csv_pieces(
        list(METRIC_COLUMNS), ([_num(p[c]) for c in METRIC_COLUMNS] for p in points)))


def weights_csv(stepper: Stepper) -> CsvPieces:
    """The current parameters as CSV: ``iteration,id,row,col,value`` (W is (n_in, n_out):
    row = input unit, col = output unit; b has only a row), in pieces. The parameters
    are copied when the first piece runs, so the file is of one iteration even if the
    run steps on between its pieces."""
    it = stepper.iteration
    params = {key: a.copy() for key, a in stepper.net.params.items()}

    def rows() -> Iterator[list[Any]]:
        # a row of W at a time as Python floats, not the whole matrix: twenty downloads
        # of the largest network at once held a million floats, and the small-object
        # arenas they took stayed pinned after (the abuse bench's downloads row)
        for key, a in params.items():
            if a.ndim == 1:
                for i, v in enumerate(a.tolist()):
                    yield [it, key, i, "", _num(v)]
            else:
                for r in range(a.shape[0]):
                    for c, v in enumerate(a[r].tolist()):
                        yield [it, key, r, c, _num(v)]

    yield
    return (yield from csv_pieces(["iteration", "id", "row", "col", "value"], rows()))
