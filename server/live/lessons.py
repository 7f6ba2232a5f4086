"""A session's lesson desk: open a step, do its action, check a prediction on live numbers.

The ``lesson`` command (:class:`~server.protocol.LessonCommand`) comes here from
the session, on the engine thread like every command. :class:`LessonDesk`

* **opens** a step: the step after the one open continues the same run (its own
  ``preset`` starts a new run, its ``change`` is a ``set``); any other step (a
  link ``/?lesson=ID&step=N``, a jump back) rebuilds the run: the last preset at
  or before it, then the earlier steps' changes and actions done for the
  learner, a piece at a time. It answers ``lesson_step``;
* **watches** a playing run for the open step's ``until`` (at each metrics
  point: :meth:`LessonDesk.after_metrics`) and stops the play when it holds;
* **checks**: the prediction against the run's own values (the step's
  ``value``; for a choice, the answer whose ``when`` holds), the step's goal
  ``done`` and its revealed values, all :mod:`engine.expr` expressions over the
  current iteration's records, the weights now and :func:`engine.metrics.collect`.
  It answers ``lesson_check``;
* **does** the step's action for the learner (a teacher's "show me");
* **keeps the learner's table**: a run on the ``own`` dataset that the lesson
  starts (its preset, a step's, a rebuild) is on the table the current run has,
  the learner's CSV loaded before or during the lesson, else on the lesson's
  ``example``; a CSV the learner loads while a ``csv`` step is open becomes the
  lesson's run (:meth:`LessonDesk.adopt`), so the next step goes on with it. A
  ``csv`` step's action done by the server loads the example; replayed in a
  rebuild it does nothing (the run keeps its table);
* **remembers the run before**: when a step's preset replaces the lesson's run,
  the metrics where that run stopped are kept as ``prev_…`` (``prev_test_loss``,
  ``prev_iteration`` …) for the expressions to compare with; a rebuild of a
  step that reads them starts a preset earlier, so they are there too;
* **counts** a class's answers (:mod:`server.live.answers`): while the teacher's
  step asks a prediction and the teacher has not revealed its result, a
  student's ``check`` is recorded, not judged (``lesson_recorded`` to that
  student), and the teacher's page is sent the spread as ``lesson_answers``
  (counts only, a few a second at most: :meth:`LessonDesk.flush_answers` on the
  shared clock's ticks). The teacher's first check that carries the live value
  (Check, Reveal, Show me) is the reveal: from then on a student's check is judged
  at once, as a learner's alone is. A play reaching its goal while a class answers
  says so without the value (``held``): the teacher reveals when the class is ready.

About 580 lines, because opening a step, doing its action, checking it and counting
a class's answers all read and change the open step's state (the lesson, the step,
the play goal watched, the ``prev_…`` values, the answers, the run before the
lesson); what stands alone lives apart: the values an expression reads
(:mod:`server.live.lessonvalues`), a class's counts (:mod:`server.live.answers`),
the lesson files (:mod:`server.lessons`).

It gets the session as a small :class:`Port` and never holds it otherwise. Its
messages go through the session's ``put``, so a class following a teacher
gets the teacher's ``lesson_step`` and ``lesson_check`` (the reveal) too, and
the teacher alone its ``lesson_answers`` (:data:`server.live.sharing.OWNER_ONLY`).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Generator, Hashable
from typing import Any, Protocol

from engine import metrics
from engine.expr import Expr, ExprError, parse
from engine.stepper import Stepper
from server.lessons import PLACEHOLDER, Action, Lesson, Step, course
from server.live.answers import ClassAnswers
from server.live.lessonvalues import plain, reads_prev, shown, stock_picture, values_now
from server.live.sharing import Audience, Follower
from server.live.views import SessionViews
from server.protocol import (
    Configure,
    Csv,
    Draw,
    Edit,
    Inspect,
    Learn,
    LessonCommand,
    Pause,
    Play,
    SwitchRun,
    server_message,
)
from server.protocol import Step as StepCommand
from server.run.history import History
from server.run.runconfig import csv_settings, own_table_kept
from server.runsettings import RunSettings
from server.settings import Settings

log = logging.getLogger("backprop_lab.lessons")

Pieces = Generator[None, None, None]


def _filled(text: str, actual: float, values: dict[str, Any]) -> str:
    """An explanation with ``{actual}`` replaced by the value asked about and every other
    ``{expression}`` by its value now (4 significant digits, as the page writes them: the
    raw run's test loss beside the standardised one's, where the page read
    "prev_test_loss"); one that cannot be computed yet reads "—"."""
    def value(m: re.Match[str]) -> str:
        if m[1] == "actual":
            return shown(actual)
        try:
            return shown(parse(m[1]).number(values))
        except ExprError:
            return "—"
    return PLACEHOLDER.sub(value, text)


class Port(Protocol):
    """What the desk needs of its session."""

    settings: Settings
    config: RunSettings
    stepper: Stepper
    history: History
    views: SessionViews
    playing: bool
    busy: bool
    audience: Audience
    past: list[tuple[int, History]]

    def handle(self, msg: Any) -> None:
        """Apply one command at once."""

    def replace_run(self, history: History) -> None:
        """Start ``history``'s run (the current one joins the earlier runs)."""

    def tick(self, dt: float) -> None:
        """Advance a playing run by ``dt`` seconds of play."""

    def put(self, msg: Any, **kw: Any) -> None:
        """Queue a message for the page and a class following it."""

    def error(self, code: str, message: str, **extra: Any) -> None:
        """Queue an ``error``."""


def here(f: Follower) -> Hashable:
    """Follower ``f``'s key among a class's answers (its worker is this one)."""
    return ("here", id(f))


def _error_to(put: Callable[..., None]) -> Callable[..., None]:
    """An ``error`` sender that puts with ``put`` (a follower's own outbox)."""
    def error(code: str, message: str, **extra: Any) -> None:
        put(server_message("error", code=code, message=message, **extra))
    return error


def _counted(until: str) -> Expr | None:
    """``until`` parsed, if it reads nothing but ``iteration`` (a goal the iteration
    count alone meets); None otherwise, or if it does not parse."""
    try:
        e = parse(until)
    except ExprError:
        return None
    return e if e.names <= {"iteration"} else None


class LessonDesk:
    """The lesson a session has open, if any, and what it does with the ``lesson``
    command."""

    def __init__(self, port: Port) -> None:
        self.port = port
        self.lesson: Lesson | None = None
        self.n = 0  # the open step's number (1-based)
        self.lang = "en"  # the language of the last command (a goal's explanation)
        self.run_id = 0  # id() of the history the lesson built
        #: the condition a play stops at (and the iteration it stops at anyway)
        self.watch: tuple[str, int] | None = None
        self._cache: tuple[tuple[int, ...], dict[str, Any]] | None = None
        #: ``prev_<metric>``: where the run a step's preset replaced stopped (docstring)
        self.prev: dict[str, Any] = {}
        #: the class's answers to the open step (module docstring)
        self.answers = ClassAnswers(port.settings.max_followers)
        #: the run before the lesson opened and its settings; leaving goes back to it (held
        #: here too: a lesson's presets can push it out of the earlier runs; counted in the
        #: session's memory by :meth:`kept`)
        self.before: tuple[History, RunSettings] | None = None

    # ---- the command ---------------------------------------------------------------------

    def handle_pieces(self, msg: LessonCommand) -> Pieces:
        """Apply one ``lesson`` command (a rebuild or an action a piece at a time)."""
        self.lang = msg.lang
        if msg.action == "leave":
            self.lesson, self.n, self.watch = None, 0, None
            self.answers.clear()
            self.port.put(server_message("lesson_step", id=None, step=None, step_id=None,
                                         steps=None, controls=None, action=None,
                                         chart=None))
            self._go_back()
            return
        lesson = course().get(msg.id or "")
        if lesson is None:
            self.port.error("invalid", f"no lesson {msg.id!r}; lessons: {', '.join(course())}",
                            field="id")
            return
        if not 1 <= msg.step <= len(lesson.steps):
            self.port.error("invalid", f"lesson {lesson.id} has steps 1 to "
                            f"{len(lesson.steps)}, not {msg.step}", field="step")
            return
        if msg.action == "open":
            if self.lesson is None and self.before is None:
                h = self.port.history
                self.before = (h, h.settings_now())
            yield from self._open(lesson, msg.step)
            return
        if not self._is_open(lesson) or self.n != msg.step:
            self.port.error("invalid", f"open step {msg.step} of {lesson.id} first "
                            "(action 'open')", field="step")
            return
        step = lesson.steps[msg.step - 1]
        if msg.action == "do":
            yield from self._busy(self.perform(step.action))
            self.port.handle(Pause(type="pause"))
        self.check(msg.prediction, msg.lang, "check")

    def _go_back(self) -> None:
        """Leaving a lesson: back to the run before it (from this tab's earlier runs, or
        afresh with its settings if nothing had been done in it), so the lesson's
        deliberate settings (a rate of 100, constant weights, the loss and batch under
        Advanced settings) do not stay under the learner's next choices. The lesson's
        run joins the earlier runs (the runs menu)."""
        before, self.before = self.before, None
        p = self.port
        if before is None or p.history is before[0]:
            return
        old, settings = before
        rid = next((r for r, h in p.past if h is old), None)
        if rid is not None:
            p.handle(SwitchRun(type="switch_run", run=rid))
        elif old.head == (0, 0) and len(old.branches) == 1 and not old.active.commands:
            p.handle(Configure(type="configure", config=settings))  # (nothing done in it)
        else:  # (a lesson's presets pushed it out of the earlier runs)
            p.replace_run(old)

    def kept(self) -> list[History]:
        """The run before the lesson, when only this desk holds it (for the session's
        memory budget: :meth:`Session.histories`)."""
        old = self.before[0] if self.before is not None else None
        p = self.port
        if old is None or old is p.history or any(h is old for _, h in p.past):
            return []
        return [old]

    def _is_open(self, lesson: Lesson) -> bool:
        """``lesson`` is the one open (by id: a course read again has equal lessons)."""
        return self.lesson is not None and self.lesson.id == lesson.id

    def _busy(self, pieces: Pieces) -> Pieces:
        """Run ``pieces`` while the shared clock leaves the session alone (the desk
        drives its play itself)."""
        try:
            while True:
                self.port.busy = True
                try:
                    next(pieces)
                except StopIteration:
                    return
                yield
        finally:
            self.port.busy = False

    def _open(self, lesson: Lesson, n: int) -> Pieces:
        steps = lesson.steps
        same_run = self._is_open(lesson) and self.run_id == id(self.port.history)
        self.watch = None
        if same_run and n == self.n:
            pass  # opened again: nothing to apply
        elif same_run and n == self.n + 1:
            self._setup(lesson, steps[n - 1], fresh=steps[n - 1].preset is not None)
        else:  # a jump or a link: the run as the steps before this one leave it
            starts = [i for i in range(1, n + 1) if i == 1 or steps[i - 1].preset]
            start = starts[-1]
            if len(starts) > 1 and reads_prev(steps[start - 1:n]):
                start = starts[-2]  # (the run before, for its prev_ values)
            for i in range(start, n):
                self._setup(lesson, steps[i - 1], fresh=i == start or steps[i - 1].preset
                            is not None)
                # (the run keeps the table it has; an earlier step's click on a weight
                # changes no number, and its inspector would open over this step: a
                # phone's sheet covered the lesson opened by a link)
                if steps[i - 1].action.do not in ("csv", "inspect"):
                    yield from self._busy(self.perform(steps[i - 1].action))
            self._setup(lesson, steps[n - 1], fresh=start == n or steps[n - 1].preset
                        is not None)
        self.port.handle(Pause(type="pause"))
        if not self._is_open(lesson) or self.n != n:
            self.answers.clear()
        self.lesson, self.n = lesson, n
        self.run_id = id(self.port.history)
        step = steps[n - 1]
        if step.action.do == "play" and step.action.until:
            self.watch = (step.action.until,
                          self.port.stepper.iteration + step.action.max_iterations)
        log.info("lesson step", extra={"lesson": lesson.id, "step": n})
        msg = self.step_message()
        assert msg is not None
        self.port.put(msg)
        if step.prediction is not None and self.port.audience.code is not None:
            self._send_answers()  # "0 of N" on the teacher's page

    def welcome(self) -> list[dict[str, Any]]:
        """What a student joining the class now is shown of the lesson: the open step
        and, once the teacher revealed its result, the check the class was shown."""
        step = self.step_message()
        if step is None:
            return []
        shown = self.answers.shown
        return [step] if shown is None else [step, shown]

    def step_message(self) -> dict[str, Any] | None:
        """The open step's ``lesson_step`` (None when no lesson is open): what
        :meth:`_open` sends, and what a class's student joining later is welcomed with."""
        if self.lesson is None:
            return None
        step = self.lesson.steps[self.n - 1]
        return server_message(
            "lesson_step", id=self.lesson.id, step=self.n, step_id=step.id,
            steps=len(self.lesson.steps), controls=step.controls.model_dump(mode="json"),
            action=step.action.wire(), chart=step.chart)

    def _setup(self, lesson: Lesson, step: Step, fresh: bool) -> None:
        """A step's new run (``fresh``: the lesson's preset and the step's own; on the
        ``own`` dataset, the current run's table or the lesson's example) and its live
        change. A new run keeps where the one it replaces stopped as ``prev_…``."""
        if fresh:
            self.prev = {}
            if reads_prev(lesson.steps):  # (a metrics point costs: only when read)
                st = self.port.stepper
                self.prev = {f"prev_{k}": v for k, v in metrics.collect(st).items()}
                self.prev["prev_iteration"] = st.iteration
            cfg = own_table_kept(lesson.settings_at(step), self.port.config)
            if cfg.dataset == "own" and cfg.table is None:
                example, problem = csv_settings(lesson.example_text, cfg, self.port.settings)
                if example is None:  # (read when the course was: a smaller server limit)
                    self.port.error("csv", f"the lesson's example: {problem}")
                    return
                cfg = example
            self.port.handle(Configure(type="configure", config=cfg))
        changes = step.changes()
        if changes is not None:
            self.port.handle(changes)

    # ---- actions ---------------------------------------------------------------------

    def perform(self, action: Action) -> Pieces:
        """Do ``action`` through the session's own commands, a piece at a time (a play
        is driven a clock tick at a time at the step's speed, ticks following each
        other as fast as they run, until its ``until`` holds or ``max_iterations``
        have run)."""
        p = self.port
        if action.do == "step":
            for _ in range(action.count):
                p.handle(StepCommand(type="step", unit=action.unit))
                yield
        elif action.do == "set":
            p.handle(action.changes())
        elif action.do == "edit":
            assert action.id is not None and action.value is not None
            p.handle(Edit(type="edit", id=action.id, index=action.index, value=action.value))
        elif action.do == "inspect":
            p.handle(Inspect(type="inspect", id=action.id, index=action.index))
        elif action.do == "csv":  # the lesson's example (the learner's own comes as csv)
            assert self.lesson is not None
            p.handle(Csv(type="csv", text=self.lesson.example_text, name=self.lesson.example))
        elif action.do == "learn":
            assert action.label is not None
            if p.views.drawing is None:  # nothing drawn: the pad shows the one learned
                try:
                    p.handle(Draw(type="draw", pixels=stock_picture(p.stepper, action.label)))
                except ValueError as e:
                    p.error("invalid", str(e), field="label")
                    return
            if p.views.drawing is None:
                return  # (the draw was refused: not a run on pictures; the error says so)
            p.handle(Learn(type="learn", pixels=list(p.views.drawing), label=action.label))
            dt = 1.0 / p.settings.tick_hz  # its phases play one by one: as fast as they run
            while p.playing:
                p.tick(dt)
                yield
        elif action.do == "play":
            assert action.until is not None
            saved = self.watch
            self.watch = (action.until, p.stepper.iteration + action.max_iterations)
            # at the step's own speed (simulated: ticks as fast as they run), so a metrics
            # point, where ``until`` is checked, comes as often as on the learner's page
            p.handle(Play(type="play", speed=min(action.speed, p.settings.max_speed)))
            dt = 1.0 / p.settings.tick_hz
            while p.playing and self.watch is not None:
                p.tick(dt)
                yield
            met = self.watch is None
            p.handle(Pause(type="pause"))
            # (the step's own goal, met by this play, is not watched again: the next Play
            # would stop after one iteration)
            self.watch = None if met and saved is not None and saved[0] == action.until else saved

    def adopt(self) -> None:
        """A CSV was loaded (the learner's file, or the example): while the open step is a
        ``csv`` step, its run is the lesson's from now on, and the step is checked (the
        revealed values describe the table; a "do" checks once it is done)."""
        if self.lesson is None or self.lesson.steps[self.n - 1].action.do != "csv":
            return
        self.run_id = id(self.port.history)
        if not self.port.busy:
            self.check(None, self.lang, "check")

    # ---- checks ----------------------------------------------------------------------

    def after_metrics(self, m: dict[str, Any]) -> bool:
        """A metrics point was recorded while the run plays: True (and a ``lesson_check``
        with ``trigger`` "goal") if the open step's ``until`` holds now, or its
        ``max_iterations`` have run: the session then stops playing."""
        if self.watch is None or not self.port.playing:
            return False
        until, cap = self.watch
        st = self.port.stepper
        try:
            met = parse(until).truth(values_now(st, self.port.views, m, self.prev))
        except ExprError:
            met = False  # (a value not computed yet: keep playing)
        if not met and st.iteration < cap:
            return False
        self.watch = None
        if self.lesson is not None:
            self.check(None, self.lang, "goal", m)
        return True

    def stop_within(self, k: int) -> int:
        """Fast play about to run ``k`` iterations: how many of them to run, so that a
        play goal read from the iteration count alone (``until = "iteration >= 200"``),
        or the step's ``max_iterations``, stops the run exactly there and not at the
        first metrics point after it (the step's words say "after 200 iterations")."""
        if self.watch is None:
            return k
        st = self.port.stepper
        # (an iteration under way, finished by the tick's first one, counts)
        it = st.iteration + (st.phase_index != 0)
        return next((j for j in range(1, k + 1) if self._met_by_count(it + j)), k)

    def goal_due(self) -> bool:
        """Whether the run, where it is now, meets a play goal read from the iteration
        count alone (or its ``max_iterations``): fast play then takes a metrics point
        here, where :meth:`after_metrics` stops it."""
        return self.watch is not None and self._met_by_count(self.port.stepper.iteration)

    def _met_by_count(self, iteration: int) -> bool:
        """Whether the watched goal holds once ``iteration`` iterations are done, by the
        count alone: its ``max_iterations``, or an ``until`` that reads only ``iteration``."""
        assert self.watch is not None
        until, cap = self.watch
        counted = _counted(until)
        return iteration >= cap or (counted is not None and counted.truth({"iteration": iteration}))

    def check_for(self, msg: LessonCommand, put: Callable[..., None],
                  error: Callable[..., None], who: Hashable | None = None) -> None:
        """A follower's ``check`` on this run's open step, answered with ``put`` (to that
        follower alone); ``error`` if the step it names is not the one open.

        Before the teacher's reveal, an answer to the step's prediction is recorded
        as ``who``'s (a follower here: :func:`here`; on another worker: that worker's
        id and the connection's) and answered ``lesson_recorded``; None withdraws it.
        After the reveal, on a step without a prediction, or without ``who``, it is
        judged at once (``lesson_check``)."""
        if self.lesson is None or self.lesson.id != msg.id or self.n != msg.step:
            now = "no lesson" if self.lesson is None else f"step {self.n} of {self.lesson.id}"
            error("invalid", f"the teacher's run has {now} open, not step {msg.step} of "
                  f"{msg.id}", field="step")
            return
        step = self.lesson.steps[self.n - 1]
        p = step.prediction
        if p is None or self.answers.revealed or who is None:
            self.check(msg.prediction, msg.lang, "check", put=put)
            return
        answer = msg.prediction
        if p.kind == "choice" and answer is not None and answer not in \
                {c.id for c in p.choices}:
            error("invalid", f"{answer!r} is not a choice of this step; choices: "
                  f"{', '.join(c.id for c in p.choices)}", field="prediction")
            return
        if p.kind == "number" and isinstance(answer, str):
            error("invalid", "this step asks for a number", field="prediction")
            return
        self.answers.record(who, answer)
        put(server_message("lesson_recorded", id=self.lesson.id, step=self.n,
                           step_id=step.id, prediction=answer))
        self.flush_answers()

    # ---- a class's answers -----------------------------------------------------------

    @property
    def answers_pending(self) -> bool:
        """Whether the teacher's page is owed a ``lesson_answers`` (the shared clock's
        ticks then call :meth:`flush_answers`)."""
        return self.answers.pending

    def flush_answers(self) -> None:
        """Send the teacher ``lesson_answers`` if the counts changed and the last went
        long enough ago (:data:`server.live.answers.INTERVAL_S`)."""
        if self.answers.due():
            self._send_answers()

    def left(self, f: Follower) -> None:
        """Follower ``f`` here left the class: its answer no longer counts."""
        self.withdraw(here(f))

    def class_over(self) -> None:
        """Sharing stopped: no student's answer counts any more (they were counted
        again, as new followers, when the class came back: "4 of 2")."""
        self.answers.everyone_left()

    def withdraw(self, who: Hashable) -> None:
        """The student ``who`` (a follower here, or on another worker) left: its answer
        no longer counts, unless the teacher revealed the result (the bars stay as they
        were revealed: a student reloading then took theirs out, "1 of 1 right")."""
        if not self.answers.revealed:
            self.answers.record(who, None)

    def _send_answers(self) -> None:
        """The class's answers to the open step, counts only, to the teacher's page."""
        lesson = self.lesson
        p = lesson.steps[self.n - 1].prediction if lesson is not None else None
        if lesson is None or p is None:
            self.answers.sent()
            return
        body = self.answers.summary(p.kind, [c.id for c in p.choices])
        # (a follower on another worker who answered and left still counts: never "3 of 2")
        followers = max(self.port.audience.total(), body["answered"])
        self.port.put(server_message(
            "lesson_answers", id=lesson.id, step=self.n, step_id=lesson.steps[self.n - 1].id,
            kind=p.kind, followers=followers, **body))
        self.answers.sent()

    def check(self, prediction: str | float | None, lang: str, trigger: str,
              m: dict[str, Any] | None = None, put: Callable[..., None] | None = None) -> None:
        """Put a ``lesson_check``: the verdict on ``prediction`` from the live numbers,
        the step's goal and its revealed values (module docstring); ``put``: where it
        goes (default: the session's page and its class)."""
        lesson = self.lesson
        assert lesson is not None
        step = lesson.steps[self.n - 1]
        values = self._values(m)
        body: dict[str, Any] = {
            "id": lesson.id, "step": self.n, "step_id": step.id, "trigger": trigger,
            "prediction": prediction, "verdict": None, "actual": None, "expected": None,
            "explanation": None, "explanations": None, "missing": None,
        }
        p = step.prediction
        done = self._done(step, values)
        # a step whose question is about where its play stops, checked before it got
        # there: not judged (the live value is not the one asked about), nor revealed
        # (while the step's play goal is still watched: a play stopped at its
        # max_iterations without meeting it is judged where it stopped)
        early = (p is not None and trigger == "check" and step.action.do == "play"
                 and not done and self.watch is not None)
        # a class answering: its play reaching the goal is not the reveal (the teacher
        # reveals when the class is ready); the goal is said, the value waits
        held = (p is not None and trigger == "goal" and put is None
                and self.port.audience.code is not None and not self.answers.revealed)
        body["early"] = early
        body["held"] = held
        if early:
            body["verdict"] = "not_yet" if prediction is not None else None
        elif p is not None and not held:
            # in every language too: a class's reveal reaches students reading another
            texts = p.explain.model_dump()  # {"ja": …, "en": …}
            body["explanations"] = texts
            body["explanation"] = p.explain.get(lang)
            try:
                actual = parse(p.value).number(values)
                body["actual"] = actual
                right = [c for c in p.choices if parse(c.when).truth(values)]
                if len(right) == 1 and right[0].explain is not None:
                    texts = right[0].explain.model_dump()  # (the right answer's own words)
                body["explanations"] = {k: _filled(v, actual, values)
                                        for k, v in texts.items()}
                body["explanation"] = body["explanations"].get(lang)
                if p.kind == "choice":
                    ids = [c.id for c in right]
                    body["expected"] = ids[0] if len(ids) == 1 else None
                    if prediction is not None:
                        body["verdict"] = "right" if prediction in ids[:1] and \
                            len(ids) == 1 else "wrong"
                elif isinstance(prediction, int | float) and not isinstance(prediction, bool):
                    tol = max(p.tolerance, p.relative * abs(actual))
                    body["expected"] = actual
                    body["verdict"] = "right" if abs(prediction - actual) <= tol else "wrong"
                elif prediction is not None:
                    (self.port.error if put is None else _error_to(put))(
                        "invalid", "this step asks for a number", field="prediction")
                    return
            except ExprError as e:
                if e.missing is None:
                    raise
                body["verdict"] = "not_yet" if prediction is not None else None
                body["missing"] = e.missing
        body["done"] = done
        if put is None and body["actual"] is not None and not self.answers.revealed:
            # the teacher's reveal: the class's last counts first, then no more
            if self.answers.pending:
                self._send_answers()
            self.answers.revealed = True
        reveal: dict[str, Any] = {}
        for text in step.reveal:
            if held and text != "iteration":
                continue  # (the step's numbers are its answer: they wait for the reveal)
            try:
                reveal[text] = plain(parse(text).evaluate(values))
            except ExprError:
                reveal[text] = None
        body["values"] = reveal
        msg = server_message("lesson_check", **body)
        if put is None and self.answers.revealed:
            self.answers.shown = msg
        (self.port.put if put is None else put)(msg)

    def values(self) -> dict[str, Any]:
        """What the open step's expressions read now (:func:`values_now` with the
        ``prev_…`` values of the run before)."""
        return self._values(None)

    def _values(self, m: dict[str, Any] | None) -> dict[str, Any]:
        """:func:`values_now`, kept while the run stays where it is: a class checking
        its answers at once costs one evaluation of the metrics, not one each."""
        st, h = self.port.stepper, self.port.history
        key = (id(h), st.iteration, st.phase_index, len(h.active.commands))
        if m is not None or self._cache is None or self._cache[0] != key:
            self._cache = (key, values_now(st, self.port.views, m, self.prev))
        return self._cache[1]

    def _done(self, step: Step, values: dict[str, Any]) -> bool:
        """Whether the step's goal is reached (its ``done`` condition, and for a click
        on a weight the inspector being open on it)."""
        a = step.action
        if a.do == "inspect":
            t = self.port.views.target
            if t is None or t.id != a.id or tuple(t.index) != tuple(a.index):
                return False
        if step.done is None:
            return True
        try:
            v = parse(step.done).number(values)
        except ExprError:
            return False
        return not math.isnan(v) and bool(v)

