"""A session's coach: watches each metrics point of the run and says what is happening.

At every metrics point (a stepped iteration, or fast play's points at
``metrics_hz``) and when the run stops on a non-finite value, the session
hands the point to :meth:`Coach.after_metrics` (:meth:`Coach.after_halt`), on
the engine thread where the point was computed. The coach derives the facts
of the run's recent past from its branch's series (:mod:`server.run.facts`)
and evaluates every rule of ``coach/rules.toml`` (:mod:`server.coach`). The
work per point is bounded: one pass over the series (capped) and one small
expression per rule.

A rule speaks once when its condition becomes true: it must hold at ``hold``
points in a row, and once it has spoken it stays quiet until the condition
has been false at ``rearm`` points in a row (hysteresis: a loss hovering at a
threshold does not flicker). What it says is a **note** — the rule, the
iteration it is about, the ``values`` its words fill in and an optional
iteration to show (``mark``) — and the session sends the list of notes as
one ``coach`` message (``docs/protocol.md``) with the rules' words in both
languages, so each page, a class's included, shows them in its own.

Moving in time: a note after the iteration shown is *stale*: it is kept but
not sent (the page shows the notes at or before where the run is shown, and
gets the list again when a seek changes which those are); a rule with no
note at or before the position is quiet (it may speak again as the run gets
there), and when it speaks its stale notes go (the same run, played again,
says the same thing once). A branch keeps its own notes (a new branch starts
with its parent's up to the fork); a new run starts with none.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, Protocol

from engine.expr import Expr, ExprError
from server.coach import Compiled, rules
from server.protocol import server_message
from server.run.facts import Facts
from server.run.history import History

log = logging.getLogger("backprop_lab.coach")

#: notes a branch keeps (the oldest go first)
MAX_NOTES = 24
#: branches whose notes a session keeps (server.run.history.MAX_BRANCHES)
MAX_BRANCHES = 8


class Port(Protocol):
    """What the coach needs of its session: the run's history and a way to send."""

    @property
    def history(self) -> History:
        """The session's current history (its active branch's series)."""

    def put(self, msg: Any, **kw: Any) -> None:
        """Queue a message for the page and a class following the run."""


@dataclass
class Note:
    """What one rule said about one iteration."""

    rule: str
    iteration: int
    values: dict[str, float | int | None]
    mark: int | None
    stale: bool = False  # after the position (a rewound run): replaced if said again

    def wire(self) -> dict[str, Any]:
        """The note in a ``coach`` message."""
        return {"rule": self.rule, "iteration": self.iteration, "values": self.values,
                "mark": self.mark}


@dataclass
class Quiet:
    """A rule's hysteresis: whether it has spoken, and the points in a row its condition
    held (``streak``, while quiet) or failed (``calm``, after it spoke)."""

    spoken: bool = False
    streak: int = 0
    calm: int = 0


@dataclass
class Branch:
    """The coach's state on one branch of the run."""

    notes: list[Note] = field(default_factory=list)
    rules: dict[str, Quiet] = field(default_factory=dict)


def _wire_number(v: Any) -> float | int | None:
    """A value for the wire: a whole number as an int (an iteration, a layer)."""
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    if math.isfinite(x) and x.is_integer() and abs(x) < 2**53:
        return int(x)
    return x


def _number(e: Expr, names: dict[str, Any]) -> float | int | None:
    try:
        return _wire_number(e.number(names))
    except ExprError:
        return None


class Coach:
    """The rules' state and notes of one session's run (module docstring)."""

    def __init__(self, port: Port, rule_set: tuple[Compiled, ...] | None = None) -> None:
        """``rule_set``: the rules to watch (default: ``coach/rules.toml``'s)."""
        self.port = port
        self.rules = rules() if rule_set is None else rule_set
        self.branches: dict[int, Branch] = {}
        self.branch_id = 0
        self.here = Branch()
        self.last: dict[str, Any] | None = None  # the latest point (its values, at a halt)
        self.reset()

    # ---- the run's life -------------------------------------------------------------

    def reset(self) -> None:
        """A new run: no notes, every rule quiet."""
        self.branches = {}
        self.last = None
        self._enter(self.port.history.active.id, Branch())

    def _enter(self, branch_id: int, state: Branch) -> None:
        self.branch_id = branch_id
        self.here = state
        self.branches[branch_id] = state
        while len(self.branches) > MAX_BRANCHES:
            del self.branches[next(b for b in self.branches if b != branch_id)]

    def switched(self) -> None:
        """The run is on another branch now: its notes as they were, or a new branch's
        parent's up to the fork."""
        b = self.port.history.active
        self.last = None
        if b.id == self.branch_id:
            return
        state = self.branches.get(b.id)
        if state is None:
            parent = self.branches.get(b.parent) if b.parent is not None else None
            notes = [Note(n.rule, n.iteration, n.values, n.mark)
                     for n in (parent.notes if parent else []) if n.iteration <= b.fork[0]]
            state = Branch(notes)
        self._enter(b.id, state)
        self.moved(self.port.history.pos[0])

    def moved(self, iteration: int) -> bool:
        """The run is shown at ``iteration`` now (a seek, a step back): the notes after it
        are stale, and a rule is quiet unless it spoke at or before it. True if that
        changed which notes the page shows (then send :meth:`message`)."""
        self.last = None
        before = self.shown()
        for n in self.here.notes:
            n.stale = n.iteration > iteration
        for c in self.rules:
            spoke = any(n.rule == c.rule.id and not n.stale for n in self.here.notes)
            self.here.rules[c.rule.id] = Quiet(spoken=spoke)
        return self.shown() != before

    def shown(self) -> list[Note]:
        """The notes at or before the position, oldest first."""
        return [n for n in self.here.notes if not n.stale]

    # ---- the points -----------------------------------------------------------------

    def after_metrics(self, point: dict[str, Any], loss_peak: float | None = None) -> None:
        """A metrics point (:func:`engine.metrics.collect`'s names) of the run now;
        ``loss_peak``: the highest batch loss since the last point (fast play)."""
        self.last = point
        self._watch(Facts(self.port.history.active.metrics, point, loss_peak=loss_peak))

    def after_halt(self, iteration: int, layer: int | None) -> None:
        """The run stopped on a non-finite value during ``iteration`` (0-based: the
        iterations done before it), first seen in ``layer`` (None: in the loss, which
        the last layer's output makes)."""
        h = self.port.history
        point = {**(self.last or {}), "iteration": iteration}
        where = h.stepper.net.depth if layer is None else layer
        self._watch(Facts(h.active.metrics, point, halt_layer=where))

    def _watch(self, facts: Facts) -> None:
        by_window: dict[int, dict[str, Any]] = {}
        said = False
        for c in self.rules:
            r = c.rule
            names = by_window.get(r.window)
            if names is None:
                names = by_window[r.window] = facts.names(r.window)
            try:
                now = c.when.truth(names)
            except ExprError as e:  # (a metric this network does not have)
                log.debug("coach rule not evaluated", extra={"rule": r.id, "why": str(e)})
                now = False
            q = self.here.rules.setdefault(r.id, Quiet())
            if q.spoken:
                q.calm = 0 if now else q.calm + 1
                if q.calm >= r.rearm:
                    q.spoken, q.streak = False, 0
                continue
            q.streak = q.streak + 1 if now else 0
            if q.streak >= r.hold:
                q.spoken, q.calm = True, 0
                self._say(c, facts.iteration, names)
                said = True
        if said:
            self.port.put(self.message(), key="coach")

    def _say(self, c: Compiled, iteration: int, names: dict[str, Any]) -> None:
        values = {k: _number(e, names) for k, e in c.values.items()}
        mark = None if c.mark is None else _number(c.mark, names)
        notes = [n for n in self.here.notes if not (n.rule == c.rule.id and n.stale)]
        notes.append(Note(c.rule.id, iteration, values,
                          mark if isinstance(mark, int) and mark >= 0 else None))
        self.here.notes = notes[-MAX_NOTES:]
        log.info("coach note", extra={"rule": c.rule.id, "iteration": iteration})

    # ---- the message ------------------------------------------------------------------

    def message(self) -> dict[str, Any]:
        """The ``coach`` message: the notes the page shows (:meth:`shown`), with the words
        of their rules in both languages."""
        notes = self.shown()
        said = {n.rule for n in notes}
        words = {c.rule.id: {lang: c.rule.words(lang).model_dump(by_alias=True)
                             for lang in ("en", "ja")}
                 for c in self.rules if c.rule.id in said}
        return server_message("coach", notes=[n.wire() for n in notes], words=words)
