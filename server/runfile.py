"""Saved runs and CSV exports.

A run file is small JSON that replays bit-identically: the format and its
version, the settings (seed included), the command log (each ``set`` or
``edit`` with the position it applied at) and the run's length. It also holds
the sampled metrics for people and spreadsheets; a loaded run ignores them and
recomputes its own, so every number the page shows still comes from the engine.
No frames are stored: replay recomputes them.

CSV exports: the metrics (one row per sampled iteration) and the weights at
the current point (one row per entry: ``id, row, col, value``; a bias has an
empty ``col``).
"""

from __future__ import annotations

import csv
import io
import math
from typing import Any

from engine.stepper import PHASES, Stepper
from server.history import METRIC_COLUMNS, Command, History
from server.protocol import RunFile

FORMAT = "backprop-lab-run"
VERSION = 1
FILE_METRIC_POINTS = 2_000
MAX_LOAD_ITERATIONS = 1_000_000  # a loaded run is re-trained to index it: bound the work


class RunFileError(ValueError):
    """A run file is not valid for this server; ``field`` names the part."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def run_file(history: History) -> dict[str, Any]:
    """The active branch of ``history`` as a run file (a JSON-ready dict)."""
    b = history.active
    pts = b.metrics.points(FILE_METRIC_POINTS)
    metrics = {c: [p[c] for p in pts] for c in METRIC_COLUMNS}
    return {
        "format": FORMAT,
        "version": VERSION,
        "settings": history.base.model_dump(mode="json"),
        "commands": [c.wire() for c in b.commands],
        "length": b.head[0],
        "end_phase": PHASES[b.head[1]],
        "metrics": metrics,
    }


def commands_from_file(run: RunFile, stepper: Stepper, max_batch: int) -> list[Command]:
    """The validated command log of ``run`` for a fresh ``stepper`` of its settings.

    Checks what the schema cannot: positions in order and within the run,
    edits naming an existing parameter entry, batch sizes within ``max_batch``.
    """
    if run.length > MAX_LOAD_ITERATIONS:
        raise RunFileError(f"a run of {run.length} iterations is longer than this server "
                           f"replays ({MAX_LOAD_ITERATIONS})", "run.length")
    head = (run.length, PHASES.index(run.end_phase))
    out: list[Command] = []
    prev = (0, 0)
    for i, c in enumerate(run.commands):
        where = f"run.commands.{i}"
        pos = (c.iteration, PHASES.index(c.phase))
        if pos < prev:
            raise RunFileError("commands must be in the order they were applied", where)
        if pos > head:
            raise RunFileError(f"command at iteration {c.iteration} is past the run's "
                               f"length {run.length}", where)
        prev = pos
        if c.set is not None:
            if c.set.batch_size is not None and c.set.batch_size > max_batch:
                raise RunFileError(f"batch size {c.set.batch_size} exceeds "
                                   f"max_batch={max_batch}", where)
            out.append(Command(pos[0], pos[1], "set", c.set))
        else:
            assert c.edit is not None
            W = stepper.net.params.get(c.edit.id)
            idx = tuple(c.edit.index)
            if W is None:
                raise RunFileError(f"unknown parameter {c.edit.id!r}", where + ".edit.id")
            if len(idx) != W.ndim or any(k >= n for k, n in zip(idx, W.shape, strict=True)):
                raise RunFileError(f"index {list(idx)} is outside {c.edit.id} of shape "
                                   f"{list(W.shape)}", where + ".edit.index")
            out.append(Command(pos[0], pos[1], "edit",
                               {"id": c.edit.id, "index": idx, "value": c.edit.value}))
    return out


def _num(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and not math.isfinite(v):
        return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
    return repr(v) if isinstance(v, float) else str(v)


def metrics_csv(history: History) -> str:
    """The active branch's sampled metrics as CSV (header + one row per point)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(METRIC_COLUMNS)
    for p in history.active.metrics.points():
        w.writerow([_num(p[c]) for c in METRIC_COLUMNS])
    return buf.getvalue()


def weights_csv(stepper: Stepper) -> str:
    """The current parameters as CSV: ``id,row,col,value`` (W is (n_in, n_out):
    row = input unit, col = output unit; b has only a row)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["iteration", "id", "row", "col", "value"])
    it = stepper.iteration
    for key, a in stepper.net.params.items():
        if a.ndim == 1:
            for i, v in enumerate(a.tolist()):
                w.writerow([it, key, i, "", _num(v)])
        else:
            for (i, j), v in zip(
                ((i, j) for i in range(a.shape[0]) for j in range(a.shape[1])),
                a.ravel().tolist(), strict=True,
            ):
                w.writerow([it, key, i, j, _num(v)])
    return buf.getvalue()
